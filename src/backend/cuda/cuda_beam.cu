/* beam_topk: beam search's per-step selection on the device (contract: backend.h, gl_beam_group).
 *
 * Instead of copying every beam's logits row to the host (1 MB per row at a 250k vocabulary),
 * the op leaves a few KB: each group's k best (score, token, beam). Four launches, all on the
 * backend's stream, over the rows of the groups only (other rows of x are not read):
 *   1. bt_stats  (chunk, row): per 4096-column chunk, the maximum, its first column, and the sum
 *                of expf(x - chunk max) in a double. Reads x once.
 *   2. bt_finish (group): per row max and lse = (float)log(sum of chunk sums rescaled in double);
 *                then a threshold: the k-th best acc among the chunk maxima (k entries are known
 *                to rank at or above it, so nothing below it can be a result).
 *   3. bt_select (chunk, row): acc = ((x - max) - lse) + score for every column, as the CPU
 *                twin computes it; entries at or above the threshold are sorted in shared
 *                memory and the chunk's best k kept. Reads x a second time (mostly from L2).
 *                With a useful threshold a chunk has no or a few survivors; without one (a
 *                forced token: the row is all -inf + score but one entry) each chunk sorts its
 *                4096 entries, a few microseconds.
 *   4. bt_merge  (group): the k best of the chunk lists.
 * Then one copy of n_groups * kmax 8-byte keys to pinned host memory, the one host wait.
 *
 * Exactness: selection is exact in the op's total order (unique 64-bit keys, see
 * cuda_beam_kernels.cuh), and acc uses the same float operations as the CPU twin. The only
 * difference from the CPU is lse: the CPU sums expf(x - max) (glibc) in one double in column
 * order; here CUDA's expf (up to 2 ulp off) is summed per chunk relative to the chunk maximum and
 * rescaled in double, so the double sums agree to about 1e-8 relative and (float)log(sum) can
 * round to the neighbouring float for a small share of rows: that row's acc values move by about
 * an ulp together. Candidate sets differ only where two acc values lay within that ulp.
 *
 * Scratch: device memory and a pinned host buffer, grown on demand (never shrunk), freed at
 * destroy. */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "backend/cuda/cuda_beam_kernels.cuh"

static size_t align16(size_t v)
{
    return (v + 15) & ~(size_t)15;
}

/* Free the host candidate buffer (pinned or pageable). */
static void beam_host_release(cuda_state *s)
{
    if (s->beam_host) {
        if (s->beam_host_pinned)
            cudaFreeHost(s->beam_host);
        else
            free(s->beam_host);
    }
    s->beam_host = NULL;
    s->beam_host_bytes = 0;
}

/* Host room for `bytes` (pinned when possible; pageable memory otherwise). */
static glossa_status beam_host_buf(cuda_state *s, size_t bytes)
{
    if (s->beam_host && s->beam_host_bytes >= bytes) return GLOSSA_STATUS_OK;
    beam_host_release(s);
    size_t want = bytes < ((size_t)64 << 10) ? ((size_t)64 << 10) : bytes;
    void *p = NULL;
    if (cudaMallocHost(&p, want) == cudaSuccess) {
        s->beam_host_pinned = true;
    } else {
        cudaGetLastError();
        p = malloc(want);
        if (!p) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "beam_topk: %zu host bytes", want);
        s->beam_host_pinned = false;
    }
    s->beam_host = p;
    s->beam_host_bytes = want;
    return GLOSSA_STATUS_OK;
}

static float key_to_float(uint32_t key)
{
    if (key == 0xFFFFFFFFu) return NAN;
    uint32_t u = (key & 0x80000000u) ? (key & 0x7FFFFFFFu) : ~key;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

template <typename T>
static void beam_launch(cuda_state *s, const void *x, int32_t n, int32_t ld, int32_t n_chunks,
                        int32_t R, int32_t G, int32_t kmax, const bt_row *rows,
                        const bt_group *groups, const int32_t *bans, float *cmax, int32_t *carg,
                        double *csum, float *rmax, float *rlse, uint32_t *thr, uint64_t *cand,
                        int32_t *ccount, uint64_t *out)
{
    const T *xt = (const T *)x;
    dim3 grid((unsigned)n_chunks, (unsigned)R);
    /* column pairs (32-bit loads) where every row starts 4-byte aligned */
    const bool p2 = n % 2 == 0 && ld % 2 == 0 && ((uintptr_t)x & 3u) == 0;
    if (p2)
        bt_stats<T, true>
            <<<grid, BT_THREADS, 0, s->stream>>>(xt, n, ld, n_chunks, rows, cmax, carg, csum);
    else
        bt_stats<T, false>
            <<<grid, BT_THREADS, 0, s->stream>>>(xt, n, ld, n_chunks, rows, cmax, carg, csum);
    bt_finish<<<(unsigned)G, BT_THREADS, 0, s->stream>>>(n, n_chunks, rows, groups, bans, cmax,
                                                         carg, csum, rmax, rlse, thr);
    if (p2)
        bt_select<T, true><<<grid, BT_THREADS, 0, s->stream>>>(
            xt, n, ld, n_chunks, kmax, rows, groups, bans, rmax, rlse, thr, cand, ccount);
    else
        bt_select<T, false><<<grid, BT_THREADS, 0, s->stream>>>(
            xt, n, ld, n_chunks, kmax, rows, groups, bans, rmax, rlse, thr, cand, ccount);
    bt_merge<<<(unsigned)G, BT_THREADS, 0, s->stream>>>(n_chunks, kmax, groups, cand, ccount, out);
}

glossa_status cuda_op_beam_topk(backend *b, int32_t m, int32_t n, int32_t ld, const void *x,
                                int32_t n_groups, const gl_beam_group *groups)
{
    GLOSSA_TRY(gl_beam_groups_check(m, n, ld, n_groups, groups));
    if (n_groups == 0) return GLOSSA_STATUS_OK;
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    int64_t R = 0, n_ban = 0;
    int32_t kmax = 1;
    for (int32_t g = 0; g < n_groups; g++) {
        R += groups[g].n_beams;
        n_ban += groups[g].n_ban;
        if (groups[g].k > kmax) kmax = groups[g].k;
    }
    if (R > 65535)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT,
                            "beam_topk: %lld rows in one call (at most 65535)", (long long)R);
    const int32_t G = n_groups, nc = (int32_t)(((int64_t)n + BT_CHUNK - 1) / BT_CHUNK);
    const size_t lists = (size_t)R * (size_t)nc;

    /* host: rows, groups, bans (uploaded together), then the result keys */
    const size_t h_rows = 0, h_groups = align16(h_rows + (size_t)R * sizeof(bt_row));
    const size_t h_bans = align16(h_groups + (size_t)G * sizeof(bt_group));
    const size_t up_bytes = align16(h_bans + (size_t)(n_ban ? n_ban : 1) * sizeof(int32_t));
    const size_t h_out = up_bytes, out_bytes = (size_t)G * (size_t)kmax * sizeof(uint64_t);
    GLOSSA_TRY(beam_host_buf(s, h_out + out_bytes));
    char *h = (char *)s->beam_host;
    bt_row *hr = (bt_row *)(h + h_rows);
    bt_group *hg = (bt_group *)(h + h_groups);
    int32_t *hb = (int32_t *)(h + h_bans);
    int64_t r = 0, bo = 0;
    for (int32_t g = 0; g < G; g++) {
        const gl_beam_group *q = &groups[g];
        hg[g].row_begin = (int32_t)r;
        hg[g].n_beams = q->n_beams;
        hg[g].k = q->k;
        hg[g].forced = q->forced >= 0 && q->forced < n ? q->forced : -1;
        hg[g].ban_off = (int32_t)bo;
        hg[g].n_ban = q->n_ban;
        for (int32_t i = 0; i < q->n_ban; i++)
            hb[bo++] = q->ban[i];
        for (int32_t bm = 0; bm < q->n_beams; bm++, r++) {
            hr[r].xrow = q->row0 + bm;
            hr[r].group = g;
            hr[r].beam = bm;
            hr[r].score = q->scores[bm];
        }
    }

    /* device: the uploaded block, then the passes' buffers */
    const size_t d_cmax = up_bytes, d_carg = align16(d_cmax + lists * sizeof(float));
    const size_t d_csum = align16(d_carg + lists * sizeof(int32_t));
    const size_t d_rmax = align16(d_csum + lists * sizeof(double));
    const size_t d_rlse = align16(d_rmax + (size_t)R * sizeof(float));
    const size_t d_thr = align16(d_rlse + (size_t)R * sizeof(float));
    const size_t d_ccount = align16(d_thr + (size_t)G * sizeof(uint32_t));
    const size_t d_cand = align16(d_ccount + lists * sizeof(int32_t));
    const size_t d_out = align16(d_cand + lists * (size_t)kmax * sizeof(uint64_t));
    const size_t d_bytes = d_out + out_bytes;
    GLOSSA_TRY(cuda_grow(&s->beam_dev, &s->beam_dev_bytes, d_bytes, "beam_topk scratch"));
    char *d = (char *)s->beam_dev;
    GLOSSA_TRY(cuda_check(cudaMemcpyAsync(d, h, up_bytes, cudaMemcpyHostToDevice, s->stream),
                          "beam_topk upload"));
    const bt_row *rows = (const bt_row *)(d + h_rows);
    const bt_group *dg = (const bt_group *)(d + h_groups);
    const int32_t *bans = (const int32_t *)(d + h_bans);
    float *cmax = (float *)(d + d_cmax), *rmax = (float *)(d + d_rmax);
    float *rlse = (float *)(d + d_rlse);
    int32_t *carg = (int32_t *)(d + d_carg), *ccount = (int32_t *)(d + d_ccount);
    double *csum = (double *)(d + d_csum);
    uint32_t *thr = (uint32_t *)(d + d_thr);
    uint64_t *cand = (uint64_t *)(d + d_cand), *out = (uint64_t *)(d + d_out);
    if (s->act_dtype == GL_DTYPE_F16)
        beam_launch<__half>(s, x, n, ld, nc, (int32_t)R, G, kmax, rows, dg, bans, cmax, carg, csum,
                            rmax, rlse, thr, cand, ccount, out);
    else
        beam_launch<__nv_bfloat16>(s, x, n, ld, nc, (int32_t)R, G, kmax, rows, dg, bans, cmax, carg,
                                   csum, rmax, rlse, thr, cand, ccount, out);
    GLOSSA_TRY(cuda_check(cudaGetLastError(), "beam_topk launch"));
    uint64_t *ho = (uint64_t *)(h + h_out);
    GLOSSA_TRY(cuda_check(cudaMemcpyAsync(ho, out, out_bytes, cudaMemcpyDeviceToHost, s->stream),
                          "beam_topk download"));
    GLOSSA_TRY(cuda_check(cudaStreamSynchronize(s->stream), "beam_topk (sync)"));
    GLOSSA_TRY(cuda_sticky_status(s));
    for (int32_t g = 0; g < G; g++) {
        const gl_beam_group *q = &groups[g];
        for (int32_t j = 0; j < q->k; j++) {
            const uint64_t u = ho[(size_t)g * (size_t)kmax + (size_t)j];
            gl_beam_cand *c = &q->out[j];
            if (u == 0) { /* unreachable: k <= n_beams * n */
                c->score = -INFINITY;
                c->token = -1;
                c->beam = -1;
                continue;
            }
            const uint32_t flat = 0xFFFFFFFFu - (uint32_t)u;
            c->score = key_to_float((uint32_t)(u >> 32));
            c->beam = (int32_t)(flat / (uint32_t)n);
            c->token = (int32_t)(flat - (uint32_t)c->beam * (uint32_t)n);
        }
    }
    return GLOSSA_STATUS_OK;
}

void cuda_beam_release(cuda_state *s)
{
    cudaFree(s->beam_dev);
    s->beam_dev = NULL;
    s->beam_dev_bytes = 0;
    beam_host_release(s);
}
