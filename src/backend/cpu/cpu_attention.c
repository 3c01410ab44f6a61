/* attention, attention_paged, kv_write, kv_copy_blocks.
 *
 * Both attention ops run one kernel over work items (sequence, head, block of ATT_QB queries),
 * spread over the pool. Keys are visited in tiles of T keys with an online softmax (running max
 * and sum, FlashAttention-style); when a sequence's keys fit one tile (the common case) this is
 * the plain two-pass softmax. Inside a tile the keys are transposed into per-thread scratch so the
 * score loop runs across keys (contiguous, vectorisable) while each score is still summed over
 * head_dim in order. The only difference between the two ops is how a key row is found: a row
 * stride, or a block table (paged). Scratch is allocated once per thread at backend creation and
 * never grows: the tile shrinks for a large head_dim. */
#include "backend/cpu/cpu_vec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_math.h"
#include "core/status.h"

#define ATT_QB 16       /* queries per work item */
#define ATT_TMAX 256    /* keys per tile at most */
#define ATT_KT_CAP 8192 /* floats of the transposed key tile (32 KiB, L1-sized) */
#define ATT_TRANSPOSE_MIN_Q 4 /* query blocks smaller than this score keys by direct dots */

glossa_status cpu_attn_scratch_init(cpu_attn_scratch *s)
{
    memset(s, 0, sizeof *s);
    s->kt = cpu_aligned_alloc(ATT_KT_CAP * sizeof(float));
    s->s = cpu_aligned_alloc((size_t)ATT_QB * ATT_TMAX * sizeof(float));
    s->m = cpu_aligned_alloc(ATT_QB * sizeof(float));
    s->l = cpu_aligned_alloc(ATT_QB * sizeof(float));
    s->kptr = malloc(ATT_TMAX * sizeof *s->kptr);
    s->vptr = malloc(ATT_TMAX * sizeof *s->vptr);
    if (!s->kt || !s->s || !s->m || !s->l || !s->kptr || !s->vptr) {
        cpu_attn_scratch_free(s);
        return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "cpu backend: attention scratch");
    }
    return GLOSSA_STATUS_OK;
}

void cpu_attn_scratch_free(cpu_attn_scratch *s)
{
    free(s->kt);
    free(s->s);
    free(s->m);
    free(s->l);
    free((void *)s->kptr);
    free((void *)s->vptr);
    memset(s, 0, sizeof *s);
}

/* Where the keys/values of one (sequence, head) live. */
typedef struct kv_rows {
    const float *k, *v;   /* already offset to the head */
    int64_t row_stride;   /* elements between consecutive rows (contiguous) or slots (paged) */
    const int32_t *table; /* paged: the sequence's block table row; NULL: contiguous */
    int32_t block_size;
} kv_rows;

static void kv_rows_fill(const kv_rows *r, int64_t j0, int64_t n, const float **kp,
                         const float **vp)
{
    if (!r->table) {
        for (int64_t jj = 0; jj < n; jj++) {
            kp[jj] = r->k + (j0 + jj) * r->row_stride;
            vp[jj] = r->v + (j0 + jj) * r->row_stride;
        }
        return;
    }
    for (int64_t jj = 0; jj < n; jj++) {
        int64_t j = j0 + jj;
        int64_t slot = (int64_t)r->table[j / r->block_size] * r->block_size + j % r->block_size;
        kp[jj] = r->k + slot * r->row_stride;
        vp[jj] = r->v + slot * r->row_stride;
    }
}

/* One work item: queries [i0, i1) of a sequence with nq queries and nk keys. */
typedef struct att_item {
    const float *q;  /* query i0, head offset applied */
    int64_t q_stride;
    float *out;      /* output row of query i0, head offset applied */
    int64_t out_stride;
    int64_t i0, i1, nq, nk;
    int32_t hd;
    bool causal;
    float scale;
} att_item;

/* 4 floats as one value (GNU vector extension, gcc and clang): an SSE register at the x86-64
 * baseline, plain scalars where there is no SIMD. Lane u computes exactly what a scalar loop
 * would for element u, so blocked and remainder paths give the same bits. */
typedef float v4f __attribute__((vector_size(16)));

static inline v4f v4_load(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void v4_store(float *p, v4f v)
{
    memcpy(p, &v, sizeof v);
}

/* Keys per tile: a multiple of 16 with hd * T <= ATT_KT_CAP; 0 when hd is too large for the
 * transposed tile (then scores are direct dot products over ATT_TMAX keys). */
static int64_t tile_keys(int32_t hd)
{
    int64_t t = ATT_KT_CAP / hd;
    if (t > ATT_TMAX) t = ATT_TMAX;
    return t / 16 * 16;
}

/* Transpose keys [0, tn) of the tile into kt (hd, T), zero-padding columns up to a multiple of
 * 16 so the score kernel can always run whole 16-key blocks. */
static void tile_transpose(cpu_attn_scratch *sc, int64_t tn, int32_t hd, int64_t T)
{
    for (int64_t jj = 0; jj < tn; jj++) {
        const float *k = sc->kptr[jj];
        for (int32_t d = 0; d < hd; d++) sc->kt[(int64_t)d * T + jj] = k[d];
    }
    int64_t pad = (tn + 15) / 16 * 16;
    for (int32_t d = 0; d < hd; d++)
        for (int64_t jj = tn; jj < pad; jj++) sc->kt[(int64_t)d * T + jj] = 0.0f;
}

/* q . k with 16 lane-wise partial sums (d mod 16, each in order of d) added in a fixed tree, then
 * the tail in order. */
static float dot_direct(const float *q, const float *k, int32_t hd)
{
    v4f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    int32_t d = 0;
    for (; d + 16 <= hd; d += 16) {
        a0 += v4_load(q + d) * v4_load(k + d);
        a1 += v4_load(q + d + 4) * v4_load(k + d + 4);
        a2 += v4_load(q + d + 8) * v4_load(k + d + 8);
        a3 += v4_load(q + d + 12) * v4_load(k + d + 12);
    }
    v4f a = (a0 + a1) + (a2 + a3);
    float s = (a[0] + a[1]) + (a[2] + a[3]);
    for (; d < hd; d++) s += q[d] * k[d];
    return s;
}

/* s[jj] = scale * (q . k_jj) for jj < te. Transposed tile: whole 16-key blocks are written, each
 * score summed over d in order. Direct (few queries share the tile, or a huge head_dim): one dot
 * product per key, which saves transposing keys that only one query reads. */
static void tile_scores(const cpu_attn_scratch *sc, const float *q, int32_t hd, int64_t T,
                        int64_t te, bool direct, float scale, float *s)
{
    if (direct) {
        for (int64_t jj = 0; jj < te; jj++) s[jj] = dot_direct(q, sc->kptr[jj], hd) * scale;
        return;
    }
    for (int64_t j0 = 0; j0 < te; j0 += 16) {
        v4f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        const float *kt = sc->kt + j0;
        for (int32_t d = 0; d < hd; d++) {
            const float qd = q[d];
            a0 += qd * v4_load(kt);
            a1 += qd * v4_load(kt + 4);
            a2 += qd * v4_load(kt + 8);
            a3 += qd * v4_load(kt + 12);
            kt += T;
        }
        v4_store(s + j0, a0 * scale);
        v4_store(s + j0 + 4, a1 * scale);
        v4_store(s + j0 + 8, a2 * scale);
        v4_store(s + j0 + 12, a3 * scale);
    }
}

/* o[d] = o[d] * corr + sum_jj p[jj] v_jj[d], the sum in key order. */
static void tile_pv(const float *const *vptr, const float *p, int64_t te, int32_t hd, float corr,
                    float *o)
{
    int32_t d0 = 0;
    for (; d0 + 16 <= hd; d0 += 16) {
        v4f a0 = v4_load(o + d0) * corr, a1 = v4_load(o + d0 + 4) * corr;
        v4f a2 = v4_load(o + d0 + 8) * corr, a3 = v4_load(o + d0 + 12) * corr;
        for (int64_t jj = 0; jj < te; jj++) {
            const float pj = p[jj];
            const float *v = vptr[jj] + d0;
            a0 += pj * v4_load(v);
            a1 += pj * v4_load(v + 4);
            a2 += pj * v4_load(v + 8);
            a3 += pj * v4_load(v + 12);
        }
        v4_store(o + d0, a0);
        v4_store(o + d0 + 4, a1);
        v4_store(o + d0 + 8, a2);
        v4_store(o + d0 + 12, a3);
    }
    for (int32_t d = d0; d < hd; d++) {
        float a = o[d] * corr;
        for (int64_t jj = 0; jj < te; jj++) a += p[jj] * vptr[jj][d];
        o[d] = a;
    }
}

/* Fold te scores into query state (running max *m, sum *l, unnormalised output o). */
static void tile_accumulate(const cpu_attn_scratch *sc, float *s, int64_t te, int32_t hd,
                            float *m, float *l, float *o)
{
    float mx = s[0];
    for (int64_t jj = 1; jj < te; jj++) mx = s[jj] > mx ? s[jj] : mx;
    float mnew = mx > *m ? mx : *m;
    float corr = *m == -INFINITY ? 0.0f : cpu_expf(*m - mnew); /* first tile: nothing to fix */
    for (int64_t jj = 0; jj < te; jj++) s[jj] = cpu_expf(s[jj] - mnew);
    float sum = 0.0f;
    for (int64_t jj = 0; jj < te; jj++) sum += s[jj];
    *l = *l * corr + sum;
    *m = mnew;
    tile_pv(sc->vptr, s, te, hd, corr, o);
}

static void att_run_item(cpu_attn_scratch *sc, const att_item *it, const kv_rows *kv)
{
    const int32_t hd = it->hd;
    const int64_t nb = it->i1 - it->i0;
    const int64_t T = tile_keys(hd);
    const int64_t tile = T ? T : ATT_TMAX;
    /* The path depends only on the sequence's query count, never on the rest of the batch. */
    const bool direct = T == 0 || nb < ATT_TRANSPOSE_MIN_Q;
    /* keys any query of the block may see */
    int64_t jmax = it->nk;
    if (it->causal && it->nk - it->nq + it->i1 < jmax) jmax = it->nk - it->nq + it->i1;
    for (int64_t ii = 0; ii < nb; ii++) {
        sc->m[ii] = -INFINITY;
        sc->l[ii] = 0.0f;
        memset(it->out + ii * it->out_stride, 0, (size_t)hd * sizeof(float));
    }
    for (int64_t j0 = 0; j0 < jmax; j0 += tile) {
        int64_t tn = jmax - j0 < tile ? jmax - j0 : tile;
        kv_rows_fill(kv, j0, tn, sc->kptr, sc->vptr);
        if (!direct) tile_transpose(sc, tn, hd, T);
        for (int64_t ii = 0; ii < nb; ii++) {
            int64_t i = it->i0 + ii;
            int64_t te = tn;
            if (it->causal) {
                int64_t lim = it->nk - it->nq + i - j0 + 1; /* keys of this tile it sees */
                if (lim < te) te = lim;
            }
            if (te <= 0) continue;
            float *s = sc->s + ii * ATT_TMAX;
            tile_scores(sc, it->q + ii * it->q_stride, hd, T, te, direct, it->scale, s);
            tile_accumulate(sc, s, te, hd, &sc->m[ii], &sc->l[ii], it->out + ii * it->out_stride);
        }
    }
    for (int64_t ii = 0; ii < nb; ii++) {
        float *o = it->out + ii * it->out_stride;
        if (sc->l[ii] > 0.0f) {
            const float inv = 1.0f / sc->l[ii];
            for (int32_t d = 0; d < hd; d++) o[d] *= inv;
        }
    }
}

/* The work of one attention call, shared by both ops. */
typedef struct att_job {
    cpu_state *st;
    int32_t n_seqs, n_heads, hd;
    const float *q;
    int64_t q_stride;
    const int32_t *q_off;
    /* contiguous */
    const float *k, *v;
    int64_t kv_stride;
    const int32_t *k_off;
    /* paged (kv != NULL) */
    const gl_kv_view *kv;
    const int32_t *kv_lens;
    bool causal;
    float scale;
    float *out;
    int64_t n_qb; /* query blocks per (sequence, head) item row: max over sequences */
} att_job;

static void att_items(void *ctx, int64_t begin, int64_t end, int tid)
{
    const att_job *j = ctx;
    cpu_attn_scratch *sc = &j->st->attn[tid];
    const int64_t row = (int64_t)j->n_heads * j->hd;
    for (int64_t w = begin; w < end; w++) {
        int64_t s = w / ((int64_t)j->n_heads * j->n_qb);
        int64_t rem = w % ((int64_t)j->n_heads * j->n_qb);
        int64_t qb = rem / j->n_heads, h = rem % j->n_heads;
        int64_t q0 = j->q_off[s], nq = j->q_off[s + 1] - q0;
        int64_t i0 = qb * ATT_QB;
        if (i0 >= nq) continue;
        att_item it = {.q = j->q + (q0 + i0) * j->q_stride + h * j->hd,
                       .q_stride = j->q_stride,
                       .out = j->out + (q0 + i0) * row + h * j->hd,
                       .out_stride = row,
                       .i0 = i0,
                       .i1 = i0 + ATT_QB < nq ? i0 + ATT_QB : nq,
                       .nq = nq,
                       .hd = j->hd,
                       .causal = j->causal,
                       .scale = j->scale};
        kv_rows kr;
        if (j->kv) {
            const gl_kv_view *kv = j->kv;
            it.nk = j->kv_lens[s];
            kr.k = (const float *)kv->k + h * j->hd;
            kr.v = (const float *)kv->v + h * j->hd;
            kr.row_stride = row;
            kr.table = kv->block_tables + s * (int64_t)kv->max_blocks_per_seq;
            kr.block_size = kv->block_size;
        } else {
            int64_t k0 = j->k_off[s];
            it.nk = j->k_off[s + 1] - k0;
            kr.k = j->k + k0 * j->kv_stride + h * j->hd;
            kr.v = j->v + k0 * j->kv_stride + h * j->hd;
            kr.row_stride = j->kv_stride;
            kr.table = NULL;
            kr.block_size = 0;
        }
        att_run_item(sc, &it, &kr);
    }
}

static void att_launch(att_job *j)
{
    int64_t max_nq = 0;
    for (int32_t s = 0; s < j->n_seqs; s++) {
        int64_t nq = j->q_off[s + 1] - j->q_off[s];
        if (nq > max_nq) max_nq = nq;
    }
    if (max_nq == 0 || j->n_heads <= 0 || j->hd <= 0) return;
    j->n_qb = (max_nq + ATT_QB - 1) / ATT_QB;
    threadpool_parallel_for(j->st->pool, (int64_t)j->n_seqs * j->n_heads * j->n_qb, 1, att_items,
                            j);
}

void cpu_attention(backend *b, int32_t n_seqs, int32_t n_heads, int32_t head_dim, const void *q,
                   int32_t q_stride, const void *k, const void *v, int32_t kv_stride,
                   const int32_t *q_off, const int32_t *k_off, bool causal, float scale,
                   void *out)
{
    att_job j = {.st = cpu_of(b),
                 .n_seqs = n_seqs,
                 .n_heads = n_heads,
                 .hd = head_dim,
                 .q = q,
                 .q_stride = q_stride,
                 .q_off = q_off,
                 .k = k,
                 .v = v,
                 .kv_stride = kv_stride,
                 .k_off = k_off,
                 .causal = causal,
                 .scale = scale,
                 .out = out};
    att_launch(&j);
}

void cpu_attention_paged(backend *b, int32_t n_seqs, const void *q, int32_t q_stride,
                         const int32_t *q_off, const gl_kv_view *kv, const int32_t *kv_lens,
                         bool causal, float scale, void *out)
{
    att_job j = {.st = cpu_of(b),
                 .n_seqs = n_seqs,
                 .n_heads = kv->n_heads,
                 .hd = kv->head_dim,
                 .q = q,
                 .q_stride = q_stride,
                 .q_off = q_off,
                 .kv = kv,
                 .kv_lens = kv_lens,
                 .causal = causal,
                 .scale = scale,
                 .out = out};
    att_launch(&j);
}

typedef struct kvw_job {
    const float *k, *v;
    int64_t kv_stride, row;
    const int32_t *slots;
    float *kd, *vd;
} kvw_job;

static void kvw_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    const kvw_job *j = ctx;
    size_t bytes = (size_t)j->row * sizeof(float);
    for (int64_t t = begin; t < end; t++) {
        int64_t slot = j->slots[t];
        if (slot < 0) continue; /* padding token: nothing to store */
        memcpy(j->kd + slot * j->row, j->k + t * j->kv_stride, bytes);
        memcpy(j->vd + slot * j->row, j->v + t * j->kv_stride, bytes);
    }
}

void cpu_kv_write(backend *b, int32_t n, const void *k, const void *v, int32_t kv_stride,
                  const int32_t *slot_mapping, const gl_kv_view *kv)
{
    if (n <= 0) return;
    kvw_job j = {k, v, kv_stride, (int64_t)kv->n_heads * kv->head_dim, slot_mapping, kv->k, kv->v};
    int64_t grain = (1 << 14) / (j.row > 0 ? j.row : 1);
    threadpool_parallel_for(cpu_of(b)->pool, n, grain < 1 ? 1 : grain, kvw_range, &j);
}

typedef struct kvc_job {
    float *k, *v;
    int64_t block;
    const int32_t *src, *dst;
} kvc_job;

static void kvc_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    const kvc_job *j = ctx;
    size_t bytes = (size_t)j->block * sizeof(float);
    for (int64_t i = begin; i < end; i++) {
        memcpy(j->k + j->dst[i] * j->block, j->k + j->src[i] * j->block, bytes);
        memcpy(j->v + j->dst[i] * j->block, j->v + j->src[i] * j->block, bytes);
    }
}

void cpu_kv_copy_blocks(backend *b, int32_t n_views, const gl_kv_view *views, int32_t n,
                        const int32_t *src, const int32_t *dst)
{
    if (n <= 0) return;
    for (int32_t l = 0; l < n_views; l++) {
        const gl_kv_view *kv = &views[l];
        kvc_job j = {kv->k, kv->v, (int64_t)kv->block_size * kv->n_heads * kv->head_dim, src, dst};
        int64_t grain = (1 << 15) / (j.block > 0 ? j.block : 1);
        threadpool_parallel_for(cpu_of(b)->pool, n, grain < 1 ? 1 : grain, kvc_range, &j);
    }
}
