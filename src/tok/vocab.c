#include "tok/vocab.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

#define VOCAB_MAX_PIECES (1 << 26)

uint64_t tok_hash_bytes(const char *s, size_t len)
{
    /* FNV-1a, 64 bit, then a final mix so that low bits are usable directly. */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

glossa_status tok_vocab_init(tok_vocab *v, int32_t n)
{
    memset(v, 0, sizeof *v);
    if (n < 0 || n > VOCAB_MAX_PIECES)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "vocabulary of %d pieces is out of range", n);
    arena_init(&v->pool, 256 * 1024);
    v->n = n;
    size_t m = n ? (size_t)n : 1;
    v->piece = calloc(m, sizeof *v->piece);
    v->piece_len = calloc(m, sizeof *v->piece_len);
    v->score = calloc(m, sizeof *v->score);
    v->type = calloc(m, sizeof *v->type);
    if (!v->piece || !v->piece_len || !v->score || !v->type) {
        tok_vocab_free(v);
        return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "vocabulary of %d pieces", n);
    }
    for (int32_t i = 0; i < n; i++) {
        v->piece[i] = "";
        v->type[i] = TOK_PIECE_NORMAL;
    }
    return GLOSSA_STATUS_OK;
}

glossa_status tok_vocab_set(tok_vocab *v, int32_t id, const char *s, size_t len, float score,
                            tok_piece_type type)
{
    if (id < 0 || id >= v->n) return glossa_error(GLOSSA_STATUS_INTERNAL, "vocab id %d out of range", id);
    if (len > UINT32_MAX / 2) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "piece %d too long", id);
    char *p = arena_strndup(&v->pool, s, len);
    if (!p) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "vocabulary strings");
    v->piece[id] = p;
    v->piece_len[id] = (uint32_t)len;
    v->score[id] = score;
    v->type[id] = (uint8_t)type;
    return GLOSSA_STATUS_OK;
}

glossa_status tok_vocab_build_index(tok_vocab *v, int last_wins)
{
    uint32_t cap = 16;
    while (cap < (uint32_t)v->n * 2u) cap *= 2;
    free(v->index);
    v->index = calloc(cap, sizeof *v->index);
    if (!v->index) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "vocabulary index");
    v->index_cap = cap;
    for (int32_t id = 0; id < v->n; id++) {
        uint32_t mask = cap - 1;
        uint32_t h = (uint32_t)tok_hash_bytes(v->piece[id], v->piece_len[id]) & mask;
        for (;;) {
            uint32_t e = v->index[h];
            if (e == 0) {
                v->index[h] = (uint32_t)id + 1;
                break;
            }
            uint32_t o = e - 1;
            if (v->piece_len[o] == v->piece_len[id] &&
                memcmp(v->piece[o], v->piece[id], v->piece_len[id]) == 0) {
                if (last_wins) v->index[h] = (uint32_t)id + 1;
                break;
            }
            h = (h + 1) & mask;
        }
    }
    return GLOSSA_STATUS_OK;
}

int32_t tok_vocab_find(const tok_vocab *v, const char *s, size_t len)
{
    if (!v->index) return -1;
    uint32_t mask = v->index_cap - 1;
    uint32_t h = (uint32_t)tok_hash_bytes(s, len) & mask;
    for (;;) {
        uint32_t e = v->index[h];
        if (e == 0) return -1;
        uint32_t o = e - 1;
        if (v->piece_len[o] == len && memcmp(v->piece[o], s, len) == 0) return (int32_t)o;
        h = (h + 1) & mask;
    }
}

void tok_vocab_free(tok_vocab *v)
{
    free(v->piece);
    free(v->piece_len);
    free(v->score);
    free(v->type);
    free(v->index);
    arena_free(&v->pool);
    memset(v, 0, sizeof *v);
}
