#include "tok/unigram.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "core/utf8.h"

#define UNK_PENALTY 10.0f

/* Best path ending at a byte position (sentencepiece's BestPathNode). */
typedef struct best_f32 {
    float score;       /* total score of the best path ending here */
    int32_t starts_at; /* start of its last piece; -1: no path yet */
    int32_t id;
} best_f32;

typedef struct best_f64 {
    double score;
    int32_t starts_at;
    int32_t id;
} best_f64;

unigram_options unigram_default_options(void)
{
    unigram_options o;
    memset(&o, 0, sizeof o);
    o.unk_id = 0;
    o.byte_fallback = false;
    o.fuse_unk = true;
    o.spm_piece_types = true;
    o.scores_f64 = NULL;
    return o;
}

static int is_candidate(const unigram_model *m, int32_t id)
{
    if (!m->opt.spm_piece_types) return 1;
    uint8_t t = m->vocab->type[id];
    return t == TOK_PIECE_NORMAL || t == TOK_PIECE_USER_DEFINED || t == TOK_PIECE_UNUSED;
}

glossa_status unigram_init(unigram_model *m, const tok_vocab *vocab, const unigram_options *opt)
{
    memset(m, 0, sizeof *m);
    m->vocab = vocab;
    m->opt = opt ? *opt : unigram_default_options();
    m->opt.scores_f64 = NULL;
    for (int i = 0; i < 256; i++) m->byte_id[i] = -1;
    if (m->opt.unk_id < 0 || m->opt.unk_id >= vocab->n)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "unigram: unk id %d out of range (%d pieces)",
                            m->opt.unk_id, vocab->n);

    const char **keys = malloc(((size_t)vocab->n + 1) * sizeof *keys);
    int32_t *values = malloc(((size_t)vocab->n + 1) * sizeof *values);
    uint32_t *lens = malloc(((size_t)vocab->n + 1) * sizeof *lens);
    glossa_status st = GLOSSA_STATUS_OK;
    if (!keys || !values || !lens) {
        st = glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "unigram trie keys");
        goto done;
    }
    size_t n = 0;
    m->min_score = FLT_MAX;
    m->max_score = FLT_MIN; /* sentencepiece's initial value (the smallest positive float) */
    float min_all = FLT_MAX;
    for (int32_t id = 0; id < vocab->n; id++) {
        if (!is_candidate(m, id)) continue;
        keys[n] = vocab->piece[id];
        lens[n] = vocab->piece_len[id];
        values[n] = id;
        n++;
        float s = vocab->score[id];
        if (s < min_all) min_all = s;
        if (vocab->type[id] == TOK_PIECE_NORMAL) {
            if (s < m->min_score) m->min_score = s;
            if (s > m->max_score) m->max_score = s;
        }
    }
    if (!m->opt.spm_piece_types) m->min_score = min_all;
    m->unk_score = m->min_score - UNK_PENALTY;
    m->min_score_f64 = (double)m->min_score;
    st = tok_trie_build(&m->trie, n, keys, lens, values);
    if (st != GLOSSA_STATUS_OK) goto done;

    if (opt && opt->scores_f64 && !m->opt.spm_piece_types) {
        m->score64 = malloc(((size_t)vocab->n + 1) * sizeof *m->score64);
        if (!m->score64) {
            st = glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "unigram scores");
            goto done;
        }
        memcpy(m->score64, opt->scores_f64, (size_t)vocab->n * sizeof *m->score64);
        double mn = INFINITY;
        for (int32_t id = 0; id < vocab->n; id++)
            if (m->score64[id] < mn) mn = m->score64[id];
        m->min_score_f64 = mn;
    }
    if (m->opt.byte_fallback) {
        int all = tok_byte_ids_find(vocab, m->opt.spm_piece_types, m->byte_id);
        if (!all && m->opt.spm_piece_types) {
            st = glossa_error(GLOSSA_STATUS_BAD_MODEL,
                              "byte_fallback is on but not all 256 byte pieces <0x00>..<0xFF> exist");
            goto done;
        }
    }
done:
    free(keys);
    free(values);
    free(lens);
    if (st != GLOSSA_STATUS_OK) unigram_free(m);
    return st;
}

void unigram_free(unigram_model *m)
{
    tok_trie_free(&m->trie);
    free(m->score64);
    memset(m, 0, sizeof *m);
}

/* Backtrack from len along starts_at into segments (ws slot 1). */
#define BACKTRACK(best, len, ws, segs, n_segs)                                                     \
    do {                                                                                           \
        size_t count_ = 0;                                                                         \
        for (int64_t e_ = (int64_t)(len); e_ > 0; e_ = (best)[e_].starts_at) {                     \
            if ((best)[e_].starts_at < 0 || (best)[e_].starts_at >= e_)                            \
                return glossa_error(GLOSSA_STATUS_INTERNAL, "unigram: broken best path");          \
            count_++;                                                                              \
        }                                                                                          \
        tok_seg *out_ = tok_ws_ext((ws), 1, (count_ ? count_ : 1) * sizeof(tok_seg));              \
        if (!out_) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "unigram segments");           \
        size_t k_ = count_;                                                                        \
        for (int64_t e_ = (int64_t)(len); e_ > 0; e_ = (best)[e_].starts_at) {                     \
            k_--;                                                                                  \
            out_[k_].begin = (uint32_t)(best)[e_].starts_at;                                       \
            out_[k_].len = (uint32_t)(e_ - (best)[e_].starts_at);                                  \
            out_[k_].id = (best)[e_].id;                                                           \
        }                                                                                          \
        *(segs) = out_;                                                                            \
        *(n_segs) = count_;                                                                        \
    } while (0)

/* sentencepiece 0.1.97 EncodeOptimized, with its exact arithmetic: a piece's score is widened to
 * double (the conditional mixes float and double), added to the float path score in double,
 * compared in double with the stored float, stored rounded to float; unknown nodes use float. */
static glossa_status segment_spm(const unigram_model *m, const char *s, size_t len, tok_ws *ws,
                                 const tok_seg **segs, size_t *n_segs)
{
    best_f32 *best = tok_ws_ext(ws, 0, (len + 1) * sizeof *best);
    if (!best) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "unigram best paths");
    for (size_t i = 0; i <= len; i++) {
        best[i].score = 0.0f;
        best[i].starts_at = -1;
        best[i].id = -1;
    }
    const tok_trie *trie = &m->trie;
    const float *score = m->vocab->score;
    const uint8_t *type = m->vocab->type;
    const float max_score = m->max_score;
    const float unk_score = m->unk_score;
    const int32_t unk_id = m->opt.unk_id;
    size_t start = 0;
    while (start < len) {
        const float till_here = best[start].score;
        size_t mblen = utf8_len_lead((unsigned char)s[start]);
        if (mblen > len - start) mblen = len - start;
        int has_single = 0;
        uint32_t node = TOK_TRIE_ROOT;
        for (size_t k = start; k < len; k++) {
            int32_t id = tok_trie_step(trie, &node, (unsigned char)s[k]);
            if (id == TOK_TRIE_NO_PATH) break;
            if (id < 0) continue;
            uint8_t t = type[id];
            if (t == TOK_PIECE_UNUSED) continue;
            size_t end = k + 1, length = end - start;
            double sc = t == TOK_PIECE_USER_DEFINED ? (double)((float)length * max_score) - 0.1
                                                    : (double)score[id];
            double cand = sc + (double)till_here;
            best_f32 *target = &best[end];
            if (target->starts_at == -1 || cand > (double)target->score) {
                target->score = (float)cand;
                target->starts_at = (int32_t)start;
                target->id = id;
            }
            if (length == mblen) has_single = 1;
        }
        if (!has_single) {
            best_f32 *target = &best[start + mblen];
            float cand = unk_score + till_here;
            if (target->starts_at == -1 || cand > target->score) {
                target->score = cand;
                target->starts_at = (int32_t)start;
                target->id = unk_id;
            }
        }
        start += mblen;
    }
    BACKTRACK(best, len, ws, segs, n_segs);
    return GLOSSA_STATUS_OK;
}

/* Hugging Face tokenizers' Unigram::encode_optimized: every piece a candidate, f64 scores. */
static glossa_status segment_hf(const unigram_model *m, const char *s, size_t len, tok_ws *ws,
                                const tok_seg **segs, size_t *n_segs)
{
    best_f64 *best = tok_ws_ext(ws, 0, (len + 1) * sizeof *best);
    if (!best) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "unigram best paths");
    for (size_t i = 0; i <= len; i++) {
        best[i].score = 0.0;
        best[i].starts_at = -1;
        best[i].id = -1;
    }
    const tok_trie *trie = &m->trie;
    const double unk_score = m->min_score_f64 - 10.0;
    size_t start = 0;
    while (start < len) {
        const double till_here = best[start].score;
        size_t mblen = utf8_len_lead((unsigned char)s[start]);
        if (mblen > len - start) mblen = len - start;
        int has_single = 0;
        uint32_t node = TOK_TRIE_ROOT;
        for (size_t k = start; k < len; k++) {
            int32_t id = tok_trie_step(trie, &node, (unsigned char)s[k]);
            if (id == TOK_TRIE_NO_PATH) break;
            if (id < 0) continue;
            size_t end = k + 1;
            double sc = m->score64 ? m->score64[id] : (double)m->vocab->score[id];
            double cand = sc + till_here;
            best_f64 *target = &best[end];
            if (target->starts_at == -1 || cand > target->score) {
                target->score = cand;
                target->starts_at = (int32_t)start;
                target->id = id;
            }
            if (end - start == mblen) has_single = 1;
        }
        if (!has_single) {
            best_f64 *target = &best[start + mblen];
            double cand = unk_score + till_here;
            if (target->starts_at == -1 || cand > target->score) {
                target->score = cand;
                target->starts_at = (int32_t)start;
                target->id = m->opt.unk_id;
            }
        }
        start += mblen;
    }
    BACKTRACK(best, len, ws, segs, n_segs);
    return GLOSSA_STATUS_OK;
}

glossa_status unigram_segment(const unigram_model *m, const char *s, size_t len, tok_ws *ws,
                              const tok_seg **segs, size_t *n_segs)
{
    *segs = NULL;
    *n_segs = 0;
    if (len == 0) return GLOSSA_STATUS_OK;
    if (len >= INT32_MAX)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "text of %zu bytes is too long", len);
    if (m->opt.spm_piece_types) return segment_spm(m, s, len, ws, segs, n_segs);
    return segment_hf(m, s, len, ws, segs, n_segs);
}

glossa_status unigram_encode(const unigram_model *m, const char *s, size_t len, tok_ws *ws,
                             idvec *out)
{
    const tok_seg *segs;
    size_t n;
    GLOSSA_TRY(unigram_segment(m, s, len, ws, &segs, &n));
    return tok_segs_to_ids(segs, n, s, m->opt.unk_id, m->opt.fuse_unk,
                           m->opt.byte_fallback ? m->byte_id : NULL, out);
}
