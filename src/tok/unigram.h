/* Unigram language-model segmentation: the best-scoring split of a normalized string into vocab
 * pieces (Viterbi), as sentencepiece 0.1.97's unigram_model.cc Model::EncodeOptimized does, and
 * as Hugging Face tokenizers' Unigram model does (options below select which).
 *
 * The model borrows a tok_vocab (pieces, scores, types) that must outlive it. A built model is
 * immutable and thread-safe; per-call memory comes from a tok_ws owned by the calling thread, so
 * steady-state encoding does not allocate.
 *
 *     unigram_options o = unigram_default_options();   // sentencepiece semantics
 *     o.unk_id = 0;
 *     unigram_model m;
 *     GLOSSA_TRY(unigram_init(&m, &vocab, &o));
 *     idvec ids = {0};
 *     GLOSSA_TRY(unigram_encode(&m, "\xe2\x96\x81hello", 8, ws, &ids));   // appends ids
 *     unigram_free(&m);
 *
 * tok_ws use: ws->ext[0] (best-path table) and ws->ext[1] (segments). ws->norm, ws->tmp, ws->ids,
 * ws->lattice, ws->ext[2], ws->ext[3] are left alone, so a caller may keep its normalized text in
 * ws->norm while encoding it.
 */
#ifndef GLOSSA_TOK_UNIGRAM_H
#define GLOSSA_TOK_UNIGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "tok/trie.h"
#include "tok/vocab.h"
#include "tok/ws.h"

typedef struct unigram_options {
    /* Id given to a character no piece covers (its score: min_score - 10). Required (>= 0). */
    int32_t unk_id;
    /* unigram_encode: an unknown segment becomes the ids of its UTF-8 bytes' "<0xHH>" pieces
     * (sentencepiece byte_fallback / HF byte_fallback). unigram_init fails (BAD_MODEL) when a byte
     * piece is missing. */
    bool byte_fallback;
    /* unigram_encode: a run of consecutive unknown segments gives one unk id (sentencepiece always
     * does this; HF: fuse_unk). Ignored for segments expanded by byte_fallback. */
    bool fuse_unk;
    /* Sentencepiece piece types (default true): the trie holds NORMAL, USER_DEFINED and UNUSED
     * pieces only; UNUSED pieces are never chosen; a USER_DEFINED piece of n bytes scores
     * n * max_score - 0.1; min/max_score are taken over NORMAL pieces; byte pieces must have type
     * BYTE. False (HF Unigram): every piece is a candidate with its own score, min_score over
     * all pieces, any piece named <0xHH> serves byte fallback. */
    bool spm_piece_types;
    /* HF mode only (spm_piece_types false): optional (vocab->n) scores in double precision (HF
     * keeps f64 scores); when NULL the float vocab->score values are used. HF mode accumulates
     * path scores in double as HF does; sentencepiece mode uses vocab->score with
     * sentencepiece's float / double arithmetic (bit-exact tie-breaking). Copied by init. */
    const double *scores_f64;
} unigram_options;

/* unk_id 0, byte_fallback false, fuse_unk true, spm_piece_types true, scores_f64 NULL. */
unigram_options unigram_default_options(void);

typedef struct unigram_model {
    const tok_vocab *vocab; /* borrowed */
    tok_trie trie;          /* candidate pieces -> id */
    unigram_options opt;
    double *score64;        /* (vocab->n) owned copy of opt.scores_f64, or NULL */
    float min_score;
    float max_score;
    float unk_score;        /* min_score - 10 */
    double min_score_f64;   /* HF mode: the minimum score in double (of scores_f64 when given) */
    int32_t byte_id[256];   /* "<0xHH>" piece ids when byte_fallback, else -1 */
} unigram_model;

glossa_status unigram_init(unigram_model *m, const tok_vocab *vocab, const unigram_options *opt);
void unigram_free(unigram_model *m);

/* Viterbi segmentation of s[0..len) (already normalized; any bytes accepted). Every unknown
 * character (a UTF-8 lead byte and its continuation bytes, clipped at len) is its own segment with
 * id unk_id. *segs points into ws and stays valid until the next encoder call with ws. An empty
 * input gives no segments. */
glossa_status unigram_segment(const unigram_model *m, const char *s, size_t len, tok_ws *ws,
                              const tok_seg **segs, size_t *n_segs);

/* Segmentation to ids, appended to out: unknown runs fused (fuse_unk) or expanded to byte pieces
 * (byte_fallback), as sentencepiece's Encode / HF's Unigram do. */
glossa_status unigram_encode(const unigram_model *m, const char *s, size_t len, tok_ws *ws,
                             idvec *out);

#endif
