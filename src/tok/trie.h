/* Piece matching for the encoders: a static byte-string trie (double array, base + check) built
 * once from the piece strings, read-only after, and the segments (tok_seg) the encoders produce.
 *
 * Lookups never allocate. A built trie is immutable and may be shared by any number of threads.
 *
 *     tok_trie t;
 *     tok_trie_build(&t, n, keys, lens, values);       // values >= 0, usually piece ids
 *     uint32_t node = TOK_TRIE_ROOT;
 *     for (size_t k = i; k < len; k++) {
 *         int32_t v = tok_trie_step(&t, &node, (unsigned char)s[k]);
 *         if (v == TOK_TRIE_NO_PATH) break;            // no key continues with s[i..k]
 *         if (v >= 0) { ... s[i..k] is a key with value v ... }
 *     }
 */
#ifndef GLOSSA_TOK_TRIE_H
#define GLOSSA_TOK_TRIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "glossa.h"
#include "tok/vocab.h"

#define TOK_TRIE_ROOT 0u
#define TOK_TRIE_NO_PATH (-2) /* tok_trie_step: no key continues with this byte */
#define TOK_TRIE_NO_VALUE (-1) /* tok_trie_step: a key continues, but none ends here */

/* One double-array slot. A node n has children at base[n] + byte, each with check == n. */
typedef struct tok_trie_unit {
    uint32_t base;  /* first slot of the children (child of byte c is base + c) */
    uint32_t check; /* parent node of this slot; UINT32_MAX when the slot is free */
    int32_t value;  /* value of the key ending at this node, or -1 */
} tok_trie_unit;

typedef struct tok_trie {
    tok_trie_unit *units; /* (n_units) with 256 free slots of padding past the last base */
    uint32_t n_units;
    uint32_t n_keys;      /* distinct keys stored */
    uint32_t max_key_len; /* bytes of the longest key */
} tok_trie;

/* Build from n keys (keys[i] of lens[i] bytes, values[i] >= 0). Keys need not be sorted; with
 * duplicate keys the first one wins; empty keys are ignored. The trie owns its memory. */
glossa_status tok_trie_build(tok_trie *t, size_t n, const char *const *keys, const uint32_t *lens,
                             const int32_t *values);
void tok_trie_free(tok_trie *t);

/* Advance *node by byte c. Returns TOK_TRIE_NO_PATH (node unchanged), TOK_TRIE_NO_VALUE, or the
 * value of the key that ends at the new node. */
static inline int32_t tok_trie_step(const tok_trie *t, uint32_t *node, unsigned char c)
{
    uint32_t next = t->units[*node].base + c;
    const tok_trie_unit *u = &t->units[next];
    if (u->check != *node) return TOK_TRIE_NO_PATH;
    *node = next;
    return u->value;
}

/* Value of the key equal to s[0..len), or -1. */
int32_t tok_trie_find(const tok_trie *t, const char *s, size_t len);

/* Length of the longest key that is a prefix of s[0..len) (0 when none); *value gets its value
 * (untouched when none). */
size_t tok_trie_longest(const tok_trie *t, const char *s, size_t len, int32_t *value);

typedef struct tok_trie_match {
    uint32_t len;  /* bytes of the key */
    int32_t value;
} tok_trie_match;

/* Every key that is a prefix of s[0..len), shortest first. Stores at most max of them and returns
 * how many there are (which may exceed max). */
size_t tok_trie_prefixes(const tok_trie *t, const char *s, size_t len, tok_trie_match *out,
                         size_t max);

/* ---------------------------------------------------------------------------------------------
 * Segments: what the unigram and BPE encoders produce. A segment is bytes [begin, begin + len) of
 * the string given to the encoder and the piece id chosen for them (the unk id for text no piece
 * covers). Encoders reject inputs of UINT32_MAX bytes or more (BAD_INPUT).
 */
typedef struct tok_seg {
    uint32_t begin;
    uint32_t len;
    int32_t id;
} tok_seg;

/* Segments to ids, appended to out (the last step of sentencepiece's Encode and of HF's
 * Unigram / BPE). A segment whose id is unk_id becomes, when byte_id is not NULL, the ids
 * byte_id[b] of its bytes b (if one of them is -1 the segment stays unk_id); otherwise, with
 * fuse_unk, a run of consecutive unk segments gives a single unk_id. s is the encoded string. */
glossa_status tok_segs_to_ids(const tok_seg *segs, size_t n, const char *s, int32_t unk_id,
                              bool fuse_unk, const int32_t *byte_id, idvec *out);

/* Byte-fallback table: byte_id[b] is the id of the piece "<0xHH>" (upper-case hex), or -1.
 * Pieces of any type count unless only_byte_type, then only TOK_PIECE_BYTE pieces. Returns true
 * when all 256 were found. */
int tok_byte_ids_find(const tok_vocab *v, int only_byte_type, int32_t byte_id[256]);

#endif
