/* A Hugging Face tokenizer.json (the tokenizers library's format): normalizer, pre-tokenizer,
 * model (Unigram / BPE), post-processor, decoder and added tokens. */
#ifndef GLOSSA_TOK_HF_TOKENIZER_H
#define GLOSSA_TOK_HF_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "tok/ws.h"

typedef struct hf_tokenizer hf_tokenizer;

#define HF_TOKENIZER_MAX_JSON_BYTES ((size_t)1 << 30)

glossa_status hf_tokenizer_load_file(const char *path, hf_tokenizer **out);
glossa_status hf_tokenizer_load_buffer(const char *json, size_t size, hf_tokenizer **out);
void hf_tokenizer_free(hf_tokenizer *t);

/* Vocabulary size including added tokens (the largest id + 1). */
int32_t hf_tokenizer_vocab_size(const hf_tokenizer *t);
/* Id of a token string (vocab or added token), or -1. */
int32_t hf_tokenizer_token_to_id(const hf_tokenizer *t, const char *tok, size_t len);
/* Token string of an id, or NULL. */
const char *hf_tokenizer_id_to_token(const hf_tokenizer *t, int32_t id);
/* True when id is an added token flagged special. */
bool hf_tokenizer_is_special(const hf_tokenizer *t, int32_t id);

/* tokenizer.encode(text, add_special_tokens=...) for a single sequence: added tokens, normalizer,
 * pre-tokenizer, model and (when add_special_tokens) the post-processor's single template.
 * out is replaced. Invalid UTF-8 is read as Python's bytes.decode("utf-8", "replace") reads it.
 * ws->lattice is this function's scratch (the model encoders use ws->ext). */
glossa_status hf_tokenizer_encode(const hf_tokenizer *t, const char *text, size_t len,
                                  bool add_special_tokens, tok_ws *ws, idvec *out);
/* tokenizer.decode(ids, skip_special_tokens=...) through the decoder chain; out is replaced.
 * An id outside [0, vocab_size) is BAD_INPUT; an id in range without a token is skipped, as the
 * library does. */
glossa_status hf_tokenizer_decode(const hf_tokenizer *t, const int32_t *ids, size_t n,
                                  bool skip_special, strbuf *out);

/* The ids the post-processor puts around the sequence when add_special_tokens is set (pointers
 * into the tokenizer, valid while it lives). */
void hf_tokenizer_template(const hf_tokenizer *t, const int32_t **prefix, size_t *n_prefix,
                           const int32_t **suffix, size_t *n_suffix);

#endif
