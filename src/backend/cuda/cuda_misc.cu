/* embed, gather_rows, argmax, kv_write, kv_copy_blocks.
 *
 * Row ops run one block per row with 16-byte accesses where the row length and the pointers
 * allow. Copies (gather_rows, kv_write, kv_copy_blocks) move raw bits, so they are exact.
 * argmax runs in two launches: blocks of 4096 or 8192 columns each reduce to one (value, index)
 * candidate, then one warp per row reduces its candidates (cuda_argmax_launch, also the
 * fallback of the lm_head's fused argmax); the ids go to the host through a pinned buffer
 * (cuda_download_small: the one host wait of the op). The order used to pick a winner is total (NaN
 * above everything, then the larger value, then the lower index), so the result does not depend on
 * how the reduction is split: torch.argmax's answer, as the CPU twin's. */
#include <string.h>

#include "backend/cuda/cuda_argmax.cuh"
#include "backend/cuda/cuda_internal.h"

#define ROW_THREADS 128
#define ARG_THREADS 256
/* columns per block of the first argmax pass: 8192 (four 16-byte loads a thread) from
 * ARG_WIDE_ROWS rows on, else 4096 (more blocks for few rows; ncu on the H100, mbart-50's 250,054
 * columns: 64 rows 36 -> 22 us, 128 rows 72 -> 38 us with 8192 and vector loads; 8 rows 7.0 us
 * with 4096, 7.7 with 8192) */
#define ARG_CHUNK_NARROW 4096
#define ARG_CHUNK_WIDE 8192
#define ARG_WIDE_ROWS 32

/* ---- embed ---- */

template <typename T>
__global__ void embed_kernel(const int32_t *ids, const int32_t *positions, const T *tok,
                             const T *pos, float scale, T *y, int32_t d, bool vec)
{
    cuda_pdl_trigger();
    cuda_pdl_wait();
    int64_t i = blockIdx.x;
    const T *t = tok + (int64_t)ids[i] * d;
    const T *p = pos ? pos + (int64_t)positions[i] * d : NULL;
    T *yr = y + i * d;
    if (vec) {
        for (int c = (int)threadIdx.x * 8; c < d; c += (int)blockDim.x * 8) {
            uint4 tv = *(const uint4 *)(t + c), pv = p ? *(const uint4 *)(p + c) : tv, out;
            const T *te = (const T *)&tv, *pe = (const T *)&pv;
            T *oe = (T *)&out;
#pragma unroll
            for (int e = 0; e < 8; e++) {
                float v = gl_cu_f32(te[e]) * scale;
                if (p) v += gl_cu_f32(pe[e]);
                oe[e] = gl_cu_from_f32<T>(v);
            }
            *(uint4 *)(yr + c) = out;
        }
        return;
    }
    for (int c = (int)threadIdx.x; c < d; c += (int)blockDim.x) {
        float v = gl_cu_f32(t[c]) * scale;
        if (p) v += gl_cu_f32(p[c]);
        yr[c] = gl_cu_from_f32<T>(v);
    }
}

void cuda_op_embed(backend *b, int32_t m, const int32_t *ids, const int32_t *positions,
                   const gl_weight *tok, const gl_weight *pos, float scale, void *y)
{
    if (m <= 0) return;
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    int32_t d = tok->cols;
    const void *pd = pos ? pos->data : NULL;
    bool vec = d % 8 == 0 && cuda_aligned16(tok->data) && cuda_aligned16(y) &&
               (!pd || cuda_aligned16(pd));
    const int32_t *pp = pd ? positions : NULL;
    if (s->act_dtype == GL_DTYPE_F16)
        cuda_launch_pdl(s, embed_kernel<__half>, dim3((unsigned)m), dim3(ROW_THREADS), 0, "embed",
                        ids, pp, (const __half *)tok->data, (const __half *)pd, scale, (__half *)y,
                        d, vec);
    else
        cuda_launch_pdl(s, embed_kernel<__nv_bfloat16>, dim3((unsigned)m), dim3(ROW_THREADS), 0,
                        "embed", ids, pp, (const __nv_bfloat16 *)tok->data,
                        (const __nv_bfloat16 *)pd, scale, (__nv_bfloat16 *)y, d, vec);
}

/* ---- raw row copies ---- */

/* Copy `len` 2-byte elements (16 bytes at a time when vec) with the threads of one block. */
static __device__ __forceinline__ void copy_row(uint16_t *dst, const uint16_t *src, int64_t len,
                                                bool vec)
{
    if (vec) {
        for (int64_t c = threadIdx.x; c < len / 8; c += blockDim.x)
            ((uint4 *)dst)[c] = ((const uint4 *)src)[c];
        return;
    }
    for (int64_t c = threadIdx.x; c < len; c += blockDim.x) dst[c] = src[c];
}

__global__ void gather_kernel(const uint16_t *x, const int32_t *rows, uint16_t *y, int32_t d,
                              bool vec)
{
    cuda_pdl_trigger();
    cuda_pdl_wait();
    int64_t i = blockIdx.x;
    copy_row(y + i * d, x + (int64_t)rows[i] * d, d, vec);
}

void cuda_op_gather_rows(backend *b, int32_t m, int32_t d, const void *x, const int32_t *rows,
                         void *y)
{
    if (m <= 0 || d <= 0) return;
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    bool vec = d % 8 == 0 && cuda_aligned16(x) && cuda_aligned16(y);
    cuda_launch_pdl(s, gather_kernel, dim3((unsigned)m), dim3(ROW_THREADS), 0, "gather_rows",
                    (const uint16_t *)x, rows, (uint16_t *)y, d, vec);
}

__global__ void kv_write_kernel(const uint16_t *k, const uint16_t *v, int32_t kv_stride,
                                const int32_t *slots, uint16_t *kd, uint16_t *vd, int32_t row,
                                bool vec)
{
    cuda_pdl_trigger();
    int64_t t = blockIdx.x;
    int64_t slot = slots[t]; /* uploaded before the pass: read before the wait */
    cuda_pdl_wait();
    if (slot < 0) return; /* padding token: nothing to store */
    copy_row(kd + slot * row, k + t * kv_stride, row, vec);
    copy_row(vd + slot * row, v + t * kv_stride, row, vec);
}

void cuda_op_kv_write(backend *b, int32_t n, const void *k, const void *v, int32_t kv_stride,
                      const int32_t *slot_mapping, const gl_kv_view *kv)
{
    if (n <= 0) return;
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    int32_t row = kv->n_heads * kv->head_dim;
    bool vec = row % 8 == 0 && kv_stride % 8 == 0 && cuda_aligned16(k) && cuda_aligned16(v) &&
               cuda_aligned16(kv->k) && cuda_aligned16(kv->v);
    cuda_launch_pdl(s, kv_write_kernel, dim3((unsigned)n), dim3(ROW_THREADS), 0, "kv_write",
                    (const uint16_t *)k, (const uint16_t *)v, kv_stride, slot_mapping,
                    (uint16_t *)kv->k, (uint16_t *)kv->v, row, vec);
}

/* The views of one kv_copy_blocks launch (more views: several launches). */
#define KVC_VIEWS 64
typedef struct kvc_views {
    uint16_t *k[KVC_VIEWS], *v[KVC_VIEWS];
} kvc_views;

/* grid.x = pair (2 i: K of pair i, 2 i + 1: V), grid.y: slices of the block, stepping by
 * gridDim.y, grid.z: the view */
__global__ void kv_copy_kernel(kvc_views vw, const int32_t *src, const int32_t *dst, int64_t elems,
                               int64_t slice, bool vec)
{
    int64_t i = blockIdx.x >> 1;
    uint16_t *base = (blockIdx.x & 1) ? vw.v[blockIdx.z] : vw.k[blockIdx.z];
    const uint16_t *from = base + (int64_t)src[i] * elems;
    uint16_t *to = base + (int64_t)dst[i] * elems;
    for (int64_t o = (int64_t)blockIdx.y * slice; o < elems; o += (int64_t)gridDim.y * slice) {
        int64_t len = elems - o < slice ? elems - o : slice;
        copy_row(to + o, from + o, len, vec);
    }
}

void cuda_op_kv_copy_blocks(backend *b, int32_t n_views, const gl_kv_view *views, int32_t n,
                            const int32_t *src, const int32_t *dst)
{
    if (n <= 0 || n_views <= 0) return;
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    const gl_kv_view *kv = &views[0]; /* the geometry every view shares */
    int64_t elems = (int64_t)kv->block_size * kv->n_heads * kv->head_dim;
    int64_t slice = (int64_t)ROW_THREADS * 8 * 4; /* a multiple of 8: slices stay aligned */
    int64_t slices = (elems + slice - 1) / slice;
    if (slices > 65535) slices = 65535;
    if (slices < 1) slices = 1;
    for (int32_t l0 = 0; l0 < n_views; l0 += KVC_VIEWS) { /* one launch for up to 64 views */
        const int32_t nv = n_views - l0 < KVC_VIEWS ? n_views - l0 : KVC_VIEWS;
        kvc_views vw;
        memset(&vw, 0, sizeof vw);
        bool vec = elems % 8 == 0;
        for (int32_t l = 0; l < nv; l++) {
            vw.k[l] = (uint16_t *)views[l0 + l].k;
            vw.v[l] = (uint16_t *)views[l0 + l].v;
            vec = vec && cuda_aligned16(vw.k[l]) && cuda_aligned16(vw.v[l]);
        }
        dim3 grid((unsigned)(2 * (int64_t)n), (unsigned)slices, (unsigned)nv);
        kv_copy_kernel<<<grid, ROW_THREADS, 0, s->stream>>>(vw, src, dst, elems, slice, vec);
    }
    cuda_note(s, cudaGetLastError(), "kv_copy_blocks");
}

/* ---- argmax ---- */

/* Block-wide winner (blockDim.x == ARG_THREADS); thread 0 gets the result. */
static __device__ void arg_block_reduce(float *v, int32_t *i)
{
    __shared__ float sv[ARG_THREADS / 32];
    __shared__ int32_t si[ARG_THREADS / 32];
    arg_warp_best(v, i, 1);
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    if (lane == 0) {
        sv[wid] = *v;
        si[wid] = *i;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < ARG_THREADS / 32; w++)
            if (arg_better(sv[w], si[w], *v, *i)) {
                *v = sv[w];
                *i = si[w];
            }
    }
}

static __device__ __forceinline__ void arg_take(float v, int32_t c, float *bv, int32_t *bi)
{
    if (arg_better(v, c, *bv, *bi)) {
        *bv = v;
        *bi = c;
    }
}

/* Pass 1: block (chunk, row) reduces columns [chunk * len, + len) of its row, the
 * 16-byte-aligned middle with vector loads (rows of an odd-sized vocabulary start anywhere), the
 * ends element by element. With one chunk per row it writes the id directly. */
template <typename T>
__global__ void argmax_chunks(const T *x, int32_t n, int64_t ld, int32_t len, float *pv,
                              int32_t *pi, int32_t *ids)
{
    int64_t row = blockIdx.y;
    const T *xr = x + row * ld;
    int32_t c0 = (int32_t)blockIdx.x * len;
    int32_t c1 = n - c0 < len ? n : c0 + len;
    int32_t head = (int32_t)(((16u - ((uintptr_t)(xr + c0) & 15u)) & 15u) / sizeof(T));
    if (head > c1 - c0) head = c1 - c0;
    const int32_t v0 = c0 + head, v1 = v0 + (c1 - v0) / 8 * 8;
    float bv = 0.0f;
    int32_t bi = -1;
#pragma unroll 4
    for (int32_t c = v0 + 8 * (int32_t)threadIdx.x; c < v1; c += 8 * ARG_THREADS) {
        uint4 u = __ldcs((const uint4 *)(xr + c));
        const T *e = (const T *)&u;
#pragma unroll
        for (int j = 0; j < 8; j++) arg_take(gl_cu_f32(e[j]), c + j, &bv, &bi);
    }
    int32_t c = (int32_t)threadIdx.x; /* the unaligned ends: [c0, v0) and [v1, c1) */
    if (c0 + c < v0) arg_take(gl_cu_f32(xr[c0 + c]), c0 + c, &bv, &bi);
    if (v1 + c < c1) arg_take(gl_cu_f32(xr[v1 + c]), v1 + c, &bv, &bi);
    arg_block_reduce(&bv, &bi);
    if (threadIdx.x != 0) return;
    if (gridDim.x == 1) {
        ids[row] = bi;
    } else {
        pv[row * gridDim.x + blockIdx.x] = bv;
        pi[row * gridDim.x + blockIdx.x] = bi;
    }
}

/* Pass 2: one warp per row over its n_chunks candidates. */
__global__ void argmax_final(const float *pv, const int32_t *pi, int32_t n_chunks, int32_t *ids)
{
    int64_t row = blockIdx.x;
    float bv = 0.0f;
    int32_t bi = -1;
    for (int32_t c = (int32_t)threadIdx.x; c < n_chunks; c += 32) {
        float v = pv[row * n_chunks + c];
        int32_t i = pi[row * n_chunks + c];
        if (arg_better(v, i, bv, bi)) {
            bv = v;
            bi = i;
        }
    }
    arg_warp_best(&bv, &bi, 1);
    if (threadIdx.x == 0) ids[row] = bi;
}

glossa_status cuda_argmax_launch(cuda_state *s, int32_t m, int32_t n, int32_t ld, const void *x,
                                 int32_t *ids)
{
    int32_t len = m >= ARG_WIDE_ROWS ? ARG_CHUNK_WIDE : ARG_CHUNK_NARROW;
    int32_t chunks = (int32_t)(((int64_t)n + len - 1) / len);
    size_t part = (size_t)m * (size_t)chunks;
    size_t bytes = part * (sizeof(float) + sizeof(int32_t));
    if (chunks > 1)
        GLOSSA_TRY(
            cuda_grow(&s->argmax_scratch, &s->argmax_scratch_bytes, bytes, "argmax scratch"));
    float *pv = (float *)s->argmax_scratch;
    int32_t *pi = pv ? (int32_t *)(pv + part) : NULL;
    for (int64_t r0 = 0; r0 < m; r0 += 65535) { /* grid.y holds at most 65535 rows */
        int32_t rows = (int32_t)(m - r0 < 65535 ? m - r0 : 65535);
        size_t po = (size_t)r0 * (size_t)chunks, xo = (size_t)r0 * (size_t)ld;
        dim3 grid((unsigned)chunks, (unsigned)rows);
        float *pvr = pv ? pv + po : NULL;
        int32_t *pir = pi ? pi + po : NULL;
        if (s->act_dtype == GL_DTYPE_F16)
            argmax_chunks<__half><<<grid, ARG_THREADS, 0, s->stream>>>((const __half *)x + xo, n,
                                                                       ld, len, pvr, pir, ids + r0);
        else
            argmax_chunks<__nv_bfloat16><<<grid, ARG_THREADS, 0, s->stream>>>(
                (const __nv_bfloat16 *)x + xo, n, ld, len, pvr, pir, ids + r0);
        if (chunks > 1)
            argmax_final<<<(unsigned)rows, 32, 0, s->stream>>>(pvr, pir, chunks, ids + r0);
    }
    return cuda_check(cudaGetLastError(), "argmax launch");
}

glossa_status cuda_op_argmax(backend *b, int32_t m, int32_t n, int32_t ld, const void *x,
                             int32_t *out)
{
    if (m <= 0 || n <= 0) return GLOSSA_STATUS_OK;
    if (ld < n)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "argmax: row stride %d < %d columns",
                            ld, n);
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    size_t ob = (size_t)m * sizeof(int32_t);
    GLOSSA_TRY(cuda_grow(&s->argmax_ids, &s->argmax_ids_bytes, ob, "argmax ids"));
    int32_t *ids = (int32_t *)s->argmax_ids;
    GLOSSA_TRY(cuda_argmax_launch(s, m, n, ld, x, ids));
    return cuda_download_small(s, out, ids, ob, "argmax");
}

/* Pinned room for `bytes` (NULL when pinned memory cannot be had). */
static void *host_bounce(cuda_state *s, size_t bytes)
{
    if (s->argmax_host && s->argmax_host_n * sizeof(int32_t) >= bytes) return s->argmax_host;
    if (s->argmax_host) cudaFreeHost(s->argmax_host);
    s->argmax_host = NULL;
    s->argmax_host_n = 0;
    size_t want = bytes < 4096 ? 1024 : (bytes + 3) / 4;
    void *p = NULL;
    if (cudaMallocHost(&p, want * sizeof(int32_t)) != cudaSuccess) {
        cudaGetLastError();
        return NULL;
    }
    s->argmax_host = (int32_t *)p;
    s->argmax_host_n = want;
    return s->argmax_host;
}

glossa_status cuda_download_small(cuda_state *s, void *dst, const void *src, size_t bytes,
                                  const char *what)
{
    void *host = bytes <= CUDA_SMALL_DOWNLOAD ? host_bounce(s, bytes) : NULL;
    if (bytes)
        GLOSSA_TRY(cuda_check(
            cudaMemcpyAsync(host ? host : dst, src, bytes, cudaMemcpyDeviceToHost, s->stream),
            what));
    GLOSSA_TRY(cuda_check(cudaStreamSynchronize(s->stream), what));
    GLOSSA_TRY(cuda_sticky_status(s));
    if (host && bytes) memcpy(dst, host, bytes);
    return GLOSSA_STATUS_OK;
}

glossa_status cuda_op_download_begin(backend *b, const void *src, size_t bytes)
{
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    if (bytes > GL_ASYNC_DOWNLOAD_MAX)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "download_begin: %zu bytes", bytes);
    if (!s->async_host) {
        GLOSSA_TRY(cuda_check(cudaMallocHost(&s->async_host, GL_ASYNC_DOWNLOAD_MAX),
                              "download_begin: pinned buffer"));
        cudaError_t e = cudaEventCreateWithFlags(&s->async_ev, cudaEventDisableTiming);
        if (e != cudaSuccess) {
            cudaFreeHost(s->async_host);
            s->async_host = NULL;
            return cuda_check(e, "download_begin: event");
        }
    }
    if (bytes)
        GLOSSA_TRY(cuda_check(
            cudaMemcpyAsync(s->async_host, src, bytes, cudaMemcpyDeviceToHost, s->stream),
            "download_begin"));
    return cuda_check(cudaEventRecord(s->async_ev, s->stream), "download_begin: record");
}

glossa_status cuda_op_download_end(backend *b, void *dst, size_t bytes)
{
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    if (bytes > GL_ASYNC_DOWNLOAD_MAX)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "download_end: %zu bytes", bytes);
    if (!s->async_host)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "download_end without download_begin");
    GLOSSA_TRY(cuda_check(cudaEventSynchronize(s->async_ev), "download_end"));
    GLOSSA_TRY(cuda_sticky_status(s));
    if (bytes) memcpy(dst, s->async_host, bytes);
    return GLOSSA_STATUS_OK;
}

void cuda_misc_release(cuda_state *s)
{
    if (s->async_host) {
        cudaEventDestroy(s->async_ev);
        cudaFreeHost(s->async_host);
        s->async_host = NULL;
    }
    cudaFree(s->argmax_scratch);
    s->argmax_scratch = NULL;
    s->argmax_scratch_bytes = 0;
    cudaFree(s->argmax_ids);
    s->argmax_ids = NULL;
    s->argmax_ids_bytes = 0;
    if (s->argmax_host) cudaFreeHost(s->argmax_host);
    s->argmax_host = NULL;
    s->argmax_host_n = 0;
}
