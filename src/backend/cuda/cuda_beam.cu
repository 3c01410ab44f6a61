/* beam_topk: beam search's per-step selection on the device (contract: backend.h, gl_beam_group).
 *
 * Instead of copying every beam's logits row to the host (1 MB per row at a 250k vocabulary),
 * the op leaves a few KB: each group's k best (score, token, beam). Two launches, both on the
 * backend's stream, over the rows of the groups only (other rows of x are not read), each
 * finished per group by the last of the group's blocks to end (an atomic counter), so no launch
 * waits on a serial per-group step:
 *   1. bt_stats  (chunk of 16384 columns, row): reads x once with 16-byte loads. Per element
 *                only a packed maximum and expf(x - the thread's maximum), summed pairwise in
 *                fp32 per 8 columns and those sums in double; the block adds the thread sums
 *                rescaled in double. The group's last block then computes per row max and
 *                lse = (float)log(sum of the chunk sums rescaled in double), the group threshold
 *                th = the k-th best key among the warps' maxima (8 a chunk; radix select; k
 *                entries are known to rank at or above it, so nothing below it can be a result),
 *                and per row how pass 2 finds the entries with key >= th: for an ordinary row
 *                (finite lse and score) acc = ((x - max) - lse) + score never decreases as x
 *                grows, so a search over the floats gives the least x that reaches th, and
 *                "x >= that bound" selects exactly those entries. Last, it marks the chunks pass
 *                2 must look at: for an ordinary row those whose maximum reaches the bound
 *                (typically a few: only chunks holding a result are read again).
 *   2. bt_select (chunk, row): unmarked blocks return at once. In the others each element costs
 *                a compare with the bound, and only the few survivors get their exact acc,
 *                computed with the CPU twin's operations. Each chunk's best k are appended to
 *                its group's list; the group's last marked block sorts the list and writes the k
 *                best straight into pinned, mapped host memory.
 *                Rows whose entries share one key (a forced token: all -inf + score but one; a
 *                NaN row; a -inf score) keep the k (+ bans) lowest columns of the row (chunk 0,
 *                and the forced column) without reading x; a row with a +inf or NaN score
 *                computes every entry's key.
 * Host side: one upload of the descriptors (rows, groups, bans), the two launches, one wait; no
 * copy back (a pageable host buffer, where pinning fails, gets a device buffer and a copy).
 *
 * Exactness: selection is exact in the op's total order (unique 64-bit keys, see
 * cuda_beam_kernels.cuh), and acc uses the same float operations as the CPU twin. The only
 * difference from the CPU is lse: the CPU sums expf(x - max) (glibc) in one double in column
 * order; here CUDA's expf (up to 2 ulp off) is summed as above (fp32 only within groups of 8
 * terms <= 1), so the sums agree to about 1e-7 relative or better and (float)log(sum) can round
 * to the neighbouring float for a small share of rows: that row's acc values move by about an
 * ulp together. Candidate sets differ only where two acc values lay within that ulp.
 *
 * Scratch: device memory (its first 256 KB: the per-group counters of pass 1, zeroed when the
 * memory is allocated and reset by each group's last block; the other counters are zeroed by
 * pass 1 for pass 2) and a pinned host buffer, grown on demand (never shrunk), freed at destroy. */
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
    if (cudaHostAlloc(&p, want, cudaHostAllocMapped) == cudaSuccess) {
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
static void beam_launch(cuda_state *s, const void *x, int32_t n, int32_t ld, int32_t nc, int32_t R,
                        int32_t kmax, const bt_row *rows, const bt_group *groups,
                        const int32_t *bans, bt_chunk *cs, bt_rowstat *rs, uint32_t *wkey,
                        uint32_t *gth, uint8_t *cwork, int32_t *gsel, int32_t *gdone,
                        int32_t *gdone2, int32_t *gcnt, uint64_t *glist, uint64_t *out)
{
    const T *xt = (const T *)x;
    const dim3 grid((unsigned)nc, (unsigned)R);
    bt_stats<T><<<grid, BT_THREADS, 0, s->stream>>>(xt, n, ld, nc, rows, groups, bans, cs, rs,
                                                    wkey, gth, cwork, gsel, gdone, gdone2, gcnt);
    bt_select<T><<<grid, BT_THREADS, 0, s->stream>>>(xt, n, ld, nc, kmax, rows, groups, bans, cs,
                                                     rs, gth, cwork, gsel, glist, gcnt, gdone2,
                                                     out);
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
    /* the result: written by the kernels straight into the pinned (mapped) host buffer, else to
     * the device and copied */
    uint64_t *ho = (uint64_t *)(h + h_out), *hod = NULL;
    if (s->beam_host_pinned && cudaHostGetDevicePointer((void **)&hod, ho, 0) != cudaSuccess) {
        cudaGetLastError();
        hod = NULL;
    }

    /* device: the persistent group counters (zero between calls), the uploaded block, then the
     * passes' buffers */
    const size_t d_up = align16((size_t)BT_GMAX * sizeof(int32_t));
    const size_t d_cs = align16(d_up + up_bytes);
    const size_t d_rs = align16(d_cs + lists * sizeof(bt_chunk));
    const size_t d_wkey = align16(d_rs + (size_t)R * sizeof(bt_rowstat));
    const size_t d_gth = align16(d_wkey + lists * BT_WARPS * sizeof(uint32_t));
    const size_t d_gsel = align16(d_gth + (size_t)G * sizeof(uint32_t));
    const size_t d_cwork = align16(d_gsel + (size_t)G * sizeof(int32_t));
    const size_t d_gdone2 = align16(d_cwork + lists);
    const size_t d_gcnt = align16(d_gdone2 + (size_t)G * sizeof(int32_t));
    const size_t d_glist = align16(d_gcnt + (size_t)G * sizeof(int32_t));
    const size_t d_out = align16(d_glist + lists * (size_t)kmax * sizeof(uint64_t));
    const size_t d_bytes = d_out + (hod ? 0 : out_bytes);
    void *const old_dev = s->beam_dev;
    const size_t old_bytes = s->beam_dev_bytes;
    GLOSSA_TRY(cuda_grow(&s->beam_dev, &s->beam_dev_bytes, d_bytes, "beam_topk scratch"));
    char *d = (char *)s->beam_dev;
    if (d != old_dev || s->beam_dev_bytes != old_bytes) /* new memory: zero the counters */
        GLOSSA_TRY(cuda_check(cudaMemsetAsync(d, 0, (size_t)BT_GMAX * sizeof(int32_t), s->stream),
                              "beam_topk counters"));
    GLOSSA_TRY(cuda_check(cudaMemcpyAsync(d + d_up, h, up_bytes, cudaMemcpyHostToDevice, s->stream),
                          "beam_topk upload"));
    const bt_row *rows = (const bt_row *)(d + d_up + h_rows);
    const bt_group *dg = (const bt_group *)(d + d_up + h_groups);
    const int32_t *bans = (const int32_t *)(d + d_up + h_bans);
    bt_chunk *cs = (bt_chunk *)(d + d_cs);
    bt_rowstat *rs = (bt_rowstat *)(d + d_rs);
    uint32_t *wkey = (uint32_t *)(d + d_wkey), *gth = (uint32_t *)(d + d_gth);
    int32_t *gdone = (int32_t *)d, *gdone2 = (int32_t *)(d + d_gdone2);
    int32_t *gcnt = (int32_t *)(d + d_gcnt), *gsel = (int32_t *)(d + d_gsel);
    uint8_t *cwork = (uint8_t *)(d + d_cwork);
    uint64_t *glist = (uint64_t *)(d + d_glist), *out = hod ? hod : (uint64_t *)(d + d_out);
    if (s->act_dtype == GL_DTYPE_F16)
        beam_launch<__half>(s, x, n, ld, nc, (int32_t)R, kmax, rows, dg, bans, cs, rs, wkey, gth,
                            cwork, gsel, gdone, gdone2, gcnt, glist, out);
    else
        beam_launch<__nv_bfloat16>(s, x, n, ld, nc, (int32_t)R, kmax, rows, dg, bans, cs, rs, wkey,
                                   gth, cwork, gsel, gdone, gdone2, gcnt, glist, out);
    GLOSSA_TRY(cuda_check(cudaGetLastError(), "beam_topk launch"));
    if (!hod)
        GLOSSA_TRY(cuda_check(cudaMemcpyAsync(ho, out, out_bytes, cudaMemcpyDeviceToHost, s->stream),
                              "beam_topk download"));
    GLOSSA_TRY(cuda_check(cudaStreamSynchronize(s->stream), "beam_topk (sync)"));
    GLOSSA_TRY(cuda_sticky_status(s));
    for (int32_t g = 0; g < G; g++) {
        const gl_beam_group *q = &groups[g];
        for (int32_t j = 0; j < q->k; j++) {
            const uint64_t u = ((volatile uint64_t *)ho)[(size_t)g * (size_t)kmax + (size_t)j];
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
