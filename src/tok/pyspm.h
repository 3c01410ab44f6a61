/* transformers' Python (sentencepiece) tokenizers of M2M100 and Marian, as in 5.17
 * (tokenization_m2m_100.py, tokenization_marian.py, tokenization_python.py):
 *
 *   encode: the text is split on the special tokens' strings (<s> </s> <unk> <pad>; longest match,
 *   as PythonBackend's Trie); every other segment goes through sentencepiece as pieces (Marian:
 *   a leading ">>xx<<" becomes its own token first), and each piece maps through vocab.json
 *   (a piece not there is <unk>). M2M100's __xx__ language tokens are len(vocab.json) + i, in
 *   the M2M100 table order. Marian's target side uses target.spm (and target_vocab.json with
 *   separate_vocabs).
 *   decode: ids to tokens (skipping the special ids when asked), then sentencepiece's
 *   DecodePieces over the runs between special tokens (a piece the model lacks comes out as
 *   is), M2M100: specials appended bare; Marian: each followed by a space, U+2581 -> ' ', and
 *   Marian decodes with source.spm unless separate_vocabs. Then Python's strip().
 * The family template (language token, </s>) is the caller's. Immutable once loaded.
 */
#ifndef GLOSSA_TOK_PYSPM_H
#define GLOSSA_TOK_PYSPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "glossa.h"
#include "tok/ws.h"

typedef struct pyspm pyspm;

typedef struct pyspm_config {
    glossa_tokenizer_family family; /* GLOSSA_FAMILY_M2M100 or GLOSSA_FAMILY_MARIAN */
    const char *spm;                /* sentencepiece.bpe.model / source.spm */
    const char *tgt_spm;            /* Marian target.spm; NULL for M2M100 */
    const char *vocab;              /* vocab.json */
    const char *tgt_vocab;          /* Marian target_vocab.json with separate_vocabs, else NULL */
    const char *bos, *eos, *unk, *pad; /* special token strings (bos NULL for Marian) */
} pyspm_config;

glossa_status pyspm_load(const pyspm_config *cfg, pyspm **out);
void pyspm_free(pyspm *p);

/* Ids of text (no template). target: Marian's target spm / vocabulary. */
glossa_status pyspm_encode(const pyspm *p, const char *text, size_t len, bool target, tok_ws *ws,
                           idvec *out);
/* The sentencepiece pieces of text (source side), joined by one space. */
glossa_status pyspm_encode_pieces(const pyspm *p, const char *text, size_t len, tok_ws *ws,
                                  strbuf *out);
/* tokenizer.decode(ids, skip_special_tokens=skip_special) before clean-up. An id with no token
 * (negative; Marian: past both the vocabulary and the spm) is BAD_INPUT. */
glossa_status pyspm_decode(const pyspm *p, const int32_t *ids, size_t n, bool skip_special,
                           strbuf *out);

/* Token of an id (NULL when none) and id of a token (-1), as convert_ids_to_tokens /
 * convert_tokens_to_ids (without the <unk> fallback). */
const char *pyspm_id_to_token(const pyspm *p, int32_t id);
int32_t pyspm_token_to_id(const pyspm *p, const char *tok, size_t len);

/* len(vocab.json) (M2M100: the first language token id). */
int32_t pyspm_vocab_size(const pyspm *p);
/* Special ids (-1 when absent). */
void pyspm_special(const pyspm *p, int32_t *bos, int32_t *eos, int32_t *unk, int32_t *pad);
/* Marian: the >>xx<< tokens of the (source) vocabulary, in id order. */
size_t pyspm_marian_langs(const pyspm *p, const char ***codes, const int32_t **ids);

#endif
