/* The "model" of a tokenizer.json: Unigram (vocab [[piece, score], ...], unk_id, byte_fallback)
 * or BPE (vocab {piece: id}, merges as ["a b", ...] or [["a", "b"], ...], unk_token, fuse_unk,
 * byte_fallback, ignore_merges; dropout ignored: encoding is the deterministic dropout-free one),
 * built on the shared unigram / bpe encoders in their Hugging Face modes. */
#ifndef GLOSSA_TOK_HF_MODEL_H
#define GLOSSA_TOK_HF_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "glossa.h"
#include "tok/bpe.h"
#include "tok/unigram.h"
#include "tok/vocab.h"
#include "tok/ws.h"

/* Ids above this are refused as absurd (the largest real vocabularies are ~260k). */
#define HF_MAX_ID ((1 << 24) - 1)

typedef enum hf_model_type { HF_MODEL_UNIGRAM, HF_MODEL_BPE } hf_model_type;

typedef struct hf_model {
    hf_model_type type;
    tok_vocab vocab;        /* id -> piece; BPE ids may leave holes (empty, absent) */
    uint8_t *present;       /* (vocab.n) 1 when the id has a piece */
    int32_t n_pieces;       /* pieces present (the library's get_vocab_size) */
    int32_t unk_id;         /* -1 when none */
    bool unigram_no_unk;    /* Unigram without unk_id: unknown characters are an error */
    unigram_model uni;
    bpe_model bpe;
    bool built;
} hf_model;

/* json: the "model" object (jansson json_t *). */
glossa_status hf_model_load(const void *json, hf_model *m);
void hf_model_free(hf_model *m);

/* Append the ids of one pre-tokenized piece to out. */
glossa_status hf_model_encode(const hf_model *m, const char *s, size_t len, tok_ws *ws, idvec *out);

/* Piece of id, or NULL when the model has none. */
const char *hf_model_piece(const hf_model *m, int32_t id, size_t *len);
/* Id of a piece, or -1. */
int32_t hf_model_find(const hf_model *m, const char *s, size_t len);

#endif
