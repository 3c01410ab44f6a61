/* CPU backend attention: packed variable-length attention (causal and not, fewer queries than
 * keys, q inside a packed qkv, padded kv rows, several key tiles and query blocks, a huge
 * head_dim) and paged attention over shuffled block tables filled by kv_write, kv_copy_blocks;
 * all against a double-precision reference. */
#include "cpu_test_util.h"

/* Dense reference: sequence s has queries q_off[s].. and keys k_off[s].. (rows q_stride /
 * kv_stride apart); out rows n_heads * hd apart. A query that sees no key gets zeros. */
static void ref_attention(int n_seqs, int H, int hd, const float *q, int q_stride,
                          const int32_t *q_off, const float *k, const float *v, int kv_stride,
                          const int32_t *k_off, bool causal, double scale, double *out)
{
    int maxk = 0;
    for (int s = 0; s < n_seqs; s++)
        if (k_off[s + 1] - k_off[s] > maxk) maxk = k_off[s + 1] - k_off[s];
    double *p = malloc((size_t)(maxk ? maxk : 1) * sizeof *p);
    for (int s = 0; s < n_seqs; s++) {
        int nq = q_off[s + 1] - q_off[s], nk = k_off[s + 1] - k_off[s];
        for (int i = 0; i < nq; i++)
            for (int h = 0; h < H; h++) {
                const float *qr = q + (size_t)(q_off[s] + i) * q_stride + h * hd;
                double *o = out + (size_t)(q_off[s] + i) * H * hd + h * hd;
                int lim = causal ? nk - nq + i : nk - 1;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j <= lim; j++) {
                    const float *kr = k + (size_t)(k_off[s] + j) * kv_stride + h * hd;
                    double d = 0;
                    for (int c = 0; c < hd; c++) d += (double)qr[c] * kr[c];
                    p[j] = d * scale;
                    if (p[j] > mx) mx = p[j];
                }
                for (int j = 0; j <= lim; j++) sum += (p[j] = exp(p[j] - mx));
                for (int c = 0; c < hd; c++) o[c] = 0;
                for (int j = 0; j <= lim; j++) {
                    const float *vr = v + (size_t)(k_off[s] + j) * kv_stride + h * hd;
                    for (int c = 0; c < hd; c++) o[c] += p[j] / sum * vr[c];
                }
            }
    }
    free(p);
}

typedef struct att_case {
    int n_seqs, H, hd;
    int max_q, max_extra_k; /* nq in [1, max_q]; nk = nq + [0, max_extra_k] (causal) or [1, ..] */
    bool causal;
    float qmag; /* query values in [-qmag, qmag] */
} att_case;

static void run_attention(backend *b, const att_case *c)
{
    int S = c->n_seqs, row = c->H * c->hd;
    int32_t q_off[9] = {0}, k_off[9] = {0};
    for (int s = 0; s < S; s++) {
        int nq = 1 + rng_int(c->max_q);
        int nk = c->causal ? nq + rng_int(c->max_extra_k + 1) : 1 + rng_int(c->max_q + c->max_extra_k);
        q_off[s + 1] = q_off[s] + nq;
        k_off[s + 1] = k_off[s] + nk;
    }
    int q_stride = row * 3, kv_stride = row + 7; /* q inside a packed qkv, padded kv rows */
    float *q = rand_buf((size_t)q_off[S] * q_stride, -c->qmag, c->qmag);
    float *k = rand_buf((size_t)k_off[S] * kv_stride, -1, 1);
    float *v = rand_buf((size_t)k_off[S] * kv_stride, -1, 1);
    size_t n_out = (size_t)q_off[S] * row;
    float *out = malloc(n_out * sizeof *out);
    double *want = malloc(n_out * sizeof *want);
    double scale = 1.0 / sqrt((double)c->hd);
    ref_attention(S, c->H, c->hd, q, q_stride, q_off, k, v, kv_stride, k_off, c->causal, scale,
                  want);
    b->ops->attention(b, S, c->H, c->hd, q, q_stride, k, v, kv_stride, q_off, k_off, c->causal,
                      (float)scale, out);
    char what[160];
    snprintf(what, sizeof what, "attention seqs=%d H=%d hd=%d causal=%d total_q=%d total_k=%d",
             S, c->H, c->hd, c->causal, q_off[S], k_off[S]);
    check_close(what, out, want, n_out, 1e-5);
    free(q);
    free(k);
    free(v);
    free(out);
    free(want);
}

static void test_attention(backend *b)
{
    static const att_case cases[] = {
        {1, 1, 8, 1, 0, false, 1},    {1, 1, 8, 1, 0, true, 1},     {3, 2, 16, 5, 4, true, 1},
        {4, 8, 64, 20, 10, true, 2},  {4, 8, 64, 20, 10, false, 2}, {2, 4, 24, 40, 3, true, 1},
        {3, 3, 40, 7, 0, true, 4},    {1, 2, 64, 40, 300, true, 1}, {2, 2, 64, 30, 300, false, 4},
        {8, 1, 8, 3, 50, true, 1},    {2, 5, 32, 1, 600, true, 3},  {1, 1, 9000, 3, 4, false, 0.05f},
        {1, 1, 9000, 3, 4, true, 0.05f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_attention(b, &cases[i]);
}

/* Paged K/V: block_size 4, shuffled block tables, filled with kv_write; then attention_paged
 * against the dense reference, and kv_copy_blocks. */
typedef struct paged_case {
    int n_seqs, H, hd, max_len, block_size;
} paged_case;

static void run_paged(backend *b, const paged_case *c)
{
    int S = c->n_seqs, row = c->H * c->hd, bs = c->block_size;
    int32_t lens[8], k_off[9] = {0};
    int mbps = (c->max_len + bs - 1) / bs;
    for (int s = 0; s < S; s++) {
        lens[s] = 1 + rng_int(c->max_len);
        k_off[s + 1] = k_off[s] + lens[s];
    }
    int n_blocks = S * mbps + 4; /* 4 spare blocks for the copy test */
    int32_t *perm = malloc((size_t)n_blocks * sizeof *perm);
    for (int i = 0; i < n_blocks; i++) perm[i] = i;
    for (int i = n_blocks - 1; i > 0; i--) {
        int j = rng_int(i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    int32_t *tables = malloc((size_t)S * mbps * sizeof *tables);
    for (int i = 0; i < S * mbps; i++) tables[i] = perm[i];
    size_t pool = (size_t)n_blocks * bs * row;
    float *kp = calloc(pool, sizeof *kp), *vp = calloc(pool, sizeof *vp);
    gl_kv_view kv = {kp, vp, tables, mbps, bs, c->H, c->hd, false};

    /* every token of every sequence, rows kv_stride apart (as from a packed kv projection) */
    int T = k_off[S], kv_stride = 2 * row + 3;
    float *k = rand_buf((size_t)T * kv_stride, -1, 1), *v = rand_buf((size_t)T * kv_stride, -1, 1);
    int32_t *slots = malloc((size_t)T * sizeof *slots);
    for (int s = 0; s < S; s++)
        for (int t = 0; t < lens[s]; t++)
            slots[k_off[s] + t] = tables[s * mbps + t / bs] * bs + t % bs;
    b->ops->kv_write(b, T, k, v, kv_stride, slots, &kv);
    int okw = 1;
    for (int t = 0; t < T; t++)
        okw &= memcmp(kp + (size_t)slots[t] * row, k + (size_t)t * kv_stride, row * 4) == 0 &&
               memcmp(vp + (size_t)slots[t] * row, v + (size_t)t * kv_stride, row * 4) == 0;
    CHECK_MSG(okw, "kv_write seqs=%d H=%d hd=%d", S, c->H, c->hd);

    double scale = 1.0 / sqrt((double)c->hd);
    for (int mode = 0; mode < 3; mode++) { /* decode step, prefill (causal), cross (not causal) */
        int32_t q_off[9] = {0};
        for (int s = 0; s < S; s++)
            q_off[s + 1] = q_off[s] + (mode == 0 ? 1 : mode == 1 ? lens[s] : 1 + rng_int(9));
        int q_stride = row + 1;
        float *q = rand_buf((size_t)q_off[S] * q_stride, -2, 2);
        size_t n_out = (size_t)q_off[S] * row;
        float *out = malloc(n_out * sizeof *out), *out2 = malloc(n_out * sizeof *out2);
        double *want = malloc(n_out * sizeof *want);
        ref_attention(S, c->H, c->hd, q, q_stride, q_off, k, v, kv_stride, k_off, mode != 2,
                      scale, want);
        b->ops->attention_paged(b, S, q, q_stride, q_off, &kv, lens, mode != 2, (float)scale,
                                out);
        char what[128];
        snprintf(what, sizeof what, "attention_paged seqs=%d H=%d hd=%d bs=%d mode=%d", S, c->H,
                 c->hd, bs, mode);
        check_close(what, out, want, n_out, 1e-5);
        if (mode == 2) {
            /* move sequence 0's first blocks to the spare ones, repoint its table: same result */
            int n_copy = mbps < 4 ? mbps : 4;
            int32_t src[4], dst[4];
            for (int i = 0; i < n_copy; i++) {
                src[i] = tables[i];
                dst[i] = perm[S * mbps + i];
            }
            b->ops->kv_copy_blocks(b, 1, &kv, n_copy, src, dst);
            size_t blk = (size_t)bs * row;
            int okc = 1;
            for (int i = 0; i < n_copy; i++)
                okc &= memcmp(kp + dst[i] * blk, kp + src[i] * blk, blk * 4) == 0 &&
                       memcmp(vp + dst[i] * blk, vp + src[i] * blk, blk * 4) == 0;
            CHECK_MSG(okc, "kv_copy_blocks");
            for (int i = 0; i < n_copy; i++) {
                memset(kp + src[i] * blk, 0, blk * 4); /* the old blocks are garbage now */
                tables[i] = dst[i];
            }
            b->ops->attention_paged(b, S, q, q_stride, q_off, &kv, lens, false, (float)scale,
                                    out2);
            CHECK_MSG(memcmp(out, out2, n_out * 4) == 0, "attention after kv_copy_blocks");
        }
        free(q);
        free(out);
        free(out2);
        free(want);
    }
    free(perm);
    free(tables);
    free(kp);
    free(vp);
    free(k);
    free(v);
    free(slots);
}

static void test_paged(backend *b)
{
    static const paged_case cases[] = {
        {1, 1, 8, 1, 4},  {3, 2, 16, 9, 4},  {4, 8, 64, 50, 4},
        {8, 4, 32, 20, 4}, {2, 3, 24, 300, 4}, {3, 16, 64, 33, 16},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_paged(b, &cases[i]);
}

int main(void)
{
    backend *b = NULL;
    CHECK_OK(backend_cpu_create(0, &b));
    if (!b) TEST_MAIN_END();
    test_attention(b);
    test_paged(b);
    backend_destroy(b);
    TEST_MAIN_END();
}
