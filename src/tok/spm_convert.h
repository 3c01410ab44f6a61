/* The tokenizers pipeline that transformers 5 builds when an mBART-50 or NLLB model directory
 * has sentencepiece.bpe.model but no tokenizer.json (TokenizersBackend.convert_to_native_format
 * with SentencePieceExtractor, then MBart50Tokenizer / NllbTokenizer.__init__), written as a
 * tokenizer.json document for hf_tokenizer_load_buffer:
 *
 *   normalizer     Sequence[Precompiled(the model's charsmap), Replace(" {2,}" -> " ")]
 *   pre_tokenizer  Metaspace(U+2581, prepend_scheme "always", split) — the decoder likewise
 *   model          mBART-50: Unigram over <s> <pad> </s> <unk>, pieces[3:] with their scores,
 *                  the 52 language codes and <mask> (score 0), unk_id 3.
 *                  NLLB: BPE (fuse_unk) over <s> <pad> </s> <unk> + pieces[3:] (so piece i is
 *                  id i + 1), with merges generated from the vocabulary as transformers'
 *                  generate_merges does: for each piece in id order, every split point (in
 *                  code points, left to right) whose two halves are pieces.
 *   added_tokens   <s> 0, <pad> 1, </s> 2, <unk> 3, the language codes from len(vocab) on (NLLB)
 *                  or after the pieces (mBART-50), then <mask> (lstrip, normalized), all special.
 * No post_processor: the family template is added per request.
 * This is how transformers itself tokenizes such a directory: NLLB's ids are those of a BPE
 * model even when the .model is a unigram one (tests/fixtures/hf shows it).
 */
#ifndef GLOSSA_TOK_SPM_CONVERT_H
#define GLOSSA_TOK_SPM_CONVERT_H

#include <stdbool.h>
#include <stddef.h>

#include "glossa.h"

/* family: GLOSSA_FAMILY_MBART50 or GLOSSA_FAMILY_NLLB. *json_out is malloc'd (free()),
 * NUL-terminated; *is_bpe tells the model type. */
glossa_status spm_convert_family(glossa_tokenizer_family family, const char *spm_path,
                                 char **json_out, size_t *len_out, bool *is_bpe);

#endif
