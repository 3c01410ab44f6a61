/* A vocabulary: piece strings with scores and types, and a hash index piece -> id.
 * Shared by the sentencepiece path and the tokenizer.json path. */
#ifndef GLOSSA_TOK_VOCAB_H
#define GLOSSA_TOK_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "glossa.h"

/* Values are those of sentencepiece's ModelProto.SentencePiece.Type. */
typedef enum tok_piece_type {
    TOK_PIECE_NORMAL = 1,
    TOK_PIECE_UNKNOWN = 2,
    TOK_PIECE_CONTROL = 3,
    TOK_PIECE_USER_DEFINED = 4,
    TOK_PIECE_UNUSED = 5,
    TOK_PIECE_BYTE = 6,
} tok_piece_type;

typedef struct tok_vocab {
    int32_t n;
    const char **piece;   /* (n) NUL-terminated UTF-8, owned by pool */
    uint32_t *piece_len;  /* (n) bytes */
    float *score;         /* (n) */
    uint8_t *type;        /* (n) tok_piece_type */
    uint32_t *index;      /* (index_cap) id + 1, 0 = empty slot; open addressing */
    uint32_t index_cap;   /* power of two, >= 2n */
    arena pool;
} tok_vocab;

/* Allocate room for n pieces (all empty). */
glossa_status tok_vocab_init(tok_vocab *v, int32_t n);
/* Set piece id (copies the string). Call tok_vocab_build_index() after all are set. */
glossa_status tok_vocab_set(tok_vocab *v, int32_t id, const char *s, size_t len, float score,
                            tok_piece_type type);
/* Build the piece -> id index; with duplicate pieces the first id wins unless last_wins. */
glossa_status tok_vocab_build_index(tok_vocab *v, int last_wins);
/* Id of a piece, or -1. */
int32_t tok_vocab_find(const tok_vocab *v, const char *s, size_t len);
void tok_vocab_free(tok_vocab *v);

uint64_t tok_hash_bytes(const char *s, size_t len);

#endif
