/* Byte-pair-encoding segmentation of a normalized string: start from characters, repeatedly merge
 * the best adjacent pair (ties: the leftmost), stop when no pair merges.
 *
 * Two modes:
 *   BPE_MODE_SPM  sentencepiece 0.1.97 bpe_model.cc Model::Encode. A pair merges when the
 *                 concatenated string is a NORMAL, USER_DEFINED or UNUSED piece; best = highest
 *                 piece score. USER_DEFINED pieces found at a position (longest match) are atomic
 *                 initial symbols that never merge. A final UNUSED piece is split back into the
 *                 two symbols it was last merged from (recursively). Final symbols get their id by
 *                 sentencepiece's PieceToId (control / unk / byte pieces first, then the pieces,
 *                 else unk_id). byte_fallback (bpe_encode): an unk segment becomes the "<0xHH>"
 *                 pieces of its bytes; otherwise consecutive unk segments give one unk id.
 *   BPE_MODE_HF   Hugging Face tokenizers' BPE model (models/bpe/model.rs, word.rs) for one
 *                 pre-tokenized word: characters absent from the vocab become byte pieces
 *                 (byte_fallback, when all its bytes have one) or unk (fused when fuse_unk;
 *                 dropped when unk_id < 0); a pair merges when (left id, right id) is in the
 *                 merges list; best = lowest rank (its index in the list). ignore_merges returns a
 *                 word that is itself in the vocab as one piece. No dropout,
 *                 continuing_subword_prefix or end_of_word_suffix: callers refuse those.
 *
 * The model borrows the tok_vocab (must outlive it). A built model is immutable and thread-safe.
 * tok_ws use: ws->ext[0] (symbols), ws->ext[1] (segments), ws->ext[2] (merge queue),
 * ws->ext[3] (resegmentation table). ws->norm, ws->tmp, ws->ids and ws->lattice are left alone.
 *
 *     bpe_options o = bpe_default_options();            // BPE_MODE_SPM
 *     bpe_model m;
 *     GLOSSA_TRY(bpe_init(&m, &vocab, &o));
 *     GLOSSA_TRY(bpe_encode(&m, text, len, ws, &ids));   // appends ids
 */
#ifndef GLOSSA_TOK_BPE_H
#define GLOSSA_TOK_BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "tok/trie.h"
#include "tok/vocab.h"
#include "tok/ws.h"

typedef enum bpe_mode {
    BPE_MODE_SPM = 0,
    BPE_MODE_HF = 1,
} bpe_mode;

typedef struct bpe_options {
    bpe_mode mode;
    /* Id of unknown text. SPM: required (>= 0). HF: -1 drops characters absent from the vocab. */
    int32_t unk_id;
    bool byte_fallback; /* see the modes above; init fails (BAD_MODEL) if no "<0xHH>" piece */
    bool fuse_unk;      /* HF: consecutive unknown characters give one unk (SPM always fuses) */
    bool ignore_merges; /* HF only */
    /* HF: (n_merges, 2) piece ids, left then right; rank = row index. The merged piece is the
     * vocab piece equal to left + right; init fails (BAD_MODEL) when it is missing. Copied. */
    const int32_t *merges;
    size_t n_merges;
} bpe_options;

/* BPE_MODE_SPM, unk_id 0, byte_fallback false, fuse_unk true, ignore_merges false, no merges. */
bpe_options bpe_default_options(void);

typedef struct bpe_merge_slot {
    uint64_t key;   /* (left id << 32 | right id) + 1; 0 = empty */
    uint32_t prio;  /* larger merges first: HF UINT32_MAX - rank; SPM the score, order-mapped */
    int32_t id;     /* merged piece */
} bpe_merge_slot;

typedef struct bpe_model {
    const tok_vocab *vocab;   /* borrowed */
    bpe_options opt;
    tok_trie user_defined;    /* SPM: USER_DEFINED pieces (atomic symbols); empty trie if none */
    bool has_user_defined;
    bool has_unused;          /* SPM: some piece is UNUSED (resegmentation needed) */
    bool split_words;         /* SPM: no mergeable piece has U+2581 past its first byte and none
                               * is UNUSED: words (from each U+2581) merge independently */
    bpe_merge_slot *merges;   /* (merge_cap) open addressing: HF the merges; SPM every split of a
                               * piece into two pieces (so pairs of known pieces merge by id) */
    uint32_t merge_cap;
    int32_t ascii_id[128];    /* SPM: id of a one-byte piece of a mergeable type, else -1 */
    int32_t byte_id[256];     /* "<0xHH>" ids when byte_fallback, else -1 */
} bpe_model;

glossa_status bpe_init(bpe_model *m, const tok_vocab *vocab, const bpe_options *opt);
void bpe_free(bpe_model *m);

/* Segmentation of s[0..len): final symbols with their ids (SPM: PieceToId, unknown text = unk_id,
 * one segment per unknown symbol, not fused; HF: after init-time byte fallback and unk fusing).
 * *segs points into ws, valid until the next encoder call with ws. */
glossa_status bpe_segment(const bpe_model *m, const char *s, size_t len, tok_ws *ws,
                          const tok_seg **segs, size_t *n_segs);

/* Segmentation to ids, appended to out (SPM: unk runs fused or byte-expanded as spm_encode). */
glossa_status bpe_encode(const bpe_model *m, const char *s, size_t len, tok_ws *ws, idvec *out);

#endif
