/* layernorm (with the fused residual add) and add.
 *
 * layernorm: one block per row. Pass 1 adds the residual in place (x += r, rounded to the act
 * dtype and stored; the statistics are of the stored sum, as the CPU twin's) and sums the row;
 * pass 2 sums squared deviations from the mean (two-pass, fp32); pass 3 writes
 * y = (x - mean) * rstd * gamma + beta. Every thread visits the same columns in all three passes,
 * so y may alias x without any hazard between threads; the re-reads of the row hit L1. Rows with
 * d % 8 == 0 and 16-byte aligned pointers move 8 elements (16 bytes) per access, and rows of at
 * most 8192 such elements run ln_vec_kernel (the row in registers, gamma and beta loaded before
 * the PDL wait); rows of 256, 512, 768 or 1024 such elements run ln_warp_kernel, the same with one
 * warp a row and no block barrier. */

#include "backend/cuda/cuda_internal.h"

#define LN_MAX_THREADS 256

static __device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Sum over the block (blockDim.x a multiple of 32); every thread gets the total. red: 32 floats. */
static __device__ float block_sum(float v, float *red)
{
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (int)(blockDim.x >> 5);
    v = warp_sum(v);
    __syncthreads(); /* red may still be read by an earlier call */
    if (lane == 0) red[wid] = v;
    __syncthreads();
    return warp_sum(lane < nw ? red[lane] : 0.0f);
}

/* The vector paths' 8-element steps (one 16-byte piece of a row, raw): x + r rounded to T; the
 * sum; the sum of squared deviations from mean; (x - mean) rstd gamma (+ beta) rounded to T. */
template <typename T> static __device__ __forceinline__ uint4 ln_add8(uint4 x, uint4 r)
{
    T *xe = (T *)&x;
    const T *re = (const T *)&r;
#pragma unroll
    for (int e = 0; e < 8; e++) xe[e] = gl_cu_from_f32<T>(gl_cu_f32(xe[e]) + gl_cu_f32(re[e]));
    return x;
}

template <typename T> static __device__ __forceinline__ float ln_sum8(uint4 x)
{
    const T *xe = (const T *)&x;
    float s = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; e++) s += gl_cu_f32(xe[e]);
    return s;
}

template <typename T> static __device__ __forceinline__ float ln_sqdev8(uint4 x, float mean)
{
    const T *xe = (const T *)&x;
    float s = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; e++) {
        const float t = gl_cu_f32(xe[e]) - mean;
        s += t * t;
    }
    return s;
}

template <typename T>
static __device__ __forceinline__ uint4 ln_norm8(uint4 x, float mean, float rstd, uint4 g, uint4 b,
                                                 bool has_beta)
{
    const T *xe = (const T *)&x, *ge = (const T *)&g, *be = (const T *)&b;
    uint4 out;
    T *oe = (T *)&out;
#pragma unroll
    for (int e = 0; e < 8; e++) {
        float v = (gl_cu_f32(xe[e]) - mean) * rstd * gl_cu_f32(ge[e]);
        if (has_beta) v += gl_cu_f32(be[e]);
        oe[e] = gl_cu_from_f32<T>(v);
    }
    return out;
}

template <typename T>
__global__ void ln_kernel(T *x, const T *r, const T *gamma, const T *beta, T *y, int32_t d,
                          float eps, bool vec)
{
    __shared__ float red[32];
    cuda_pdl_trigger();
    cuda_pdl_wait();
    int64_t row = blockIdx.x;
    T *xr = x + row * d;
    T *yr = y + row * d;
    const T *rr = r ? r + row * d : NULL;
    int step = vec ? 8 : 1, c0 = (int)threadIdx.x * step, cs = (int)blockDim.x * step;

    float sum = 0.0f;
    for (int c = c0; c < d; c += cs) {
        if (vec) {
            uint4 xv = *(const uint4 *)(xr + c);
            if (rr) {
                xv = ln_add8<T>(xv, *(const uint4 *)(rr + c));
                *(uint4 *)(xr + c) = xv;
            }
            sum += ln_sum8<T>(xv);
        } else {
            T v = xr[c];
            if (rr) {
                v = gl_cu_from_f32<T>(gl_cu_f32(v) + gl_cu_f32(rr[c]));
                xr[c] = v;
            }
            sum += gl_cu_f32(v);
        }
    }
    float mean = block_sum(sum, red) / (float)d;

    float sq = 0.0f;
    for (int c = c0; c < d; c += cs) {
        if (vec) {
            sq += ln_sqdev8<T>(*(const uint4 *)(xr + c), mean);
        } else {
            float t = gl_cu_f32(xr[c]) - mean;
            sq += t * t;
        }
    }
    float rstd = rsqrtf(block_sum(sq, red) / (float)d + eps);

    for (int c = c0; c < d; c += cs) {
        if (vec) {
            const uint4 bv = beta ? *(const uint4 *)(beta + c) : make_uint4(0, 0, 0, 0);
            *(uint4 *)(yr + c) = ln_norm8<T>(*(const uint4 *)(xr + c), mean, rstd,
                                             *(const uint4 *)(gamma + c), bv, beta != NULL);
        } else {
            float v = (gl_cu_f32(xr[c]) - mean) * rstd * gl_cu_f32(gamma[c]);
            if (beta) v += gl_cu_f32(beta[c]);
            yr[c] = gl_cu_from_f32<T>(v);
        }
    }
}

/* The vector form for rows of at most LN_MAX_THREADS * 8 * NV elements: each thread keeps its NV
 * 16-byte pieces of the row (and of gamma, beta) in registers, so the row is read once, and the
 * weights are loaded before the wait (they do not depend on the kernels before this one): one
 * round trip to memory after the wait instead of three. Same arithmetic as ln_kernel. */
template <typename T, int NV>
__global__ void ln_vec_kernel(T *x, const T *r, const T *gamma, const T *beta, T *y, int32_t d,
                              float eps)
{
    __shared__ float red[32];
    const int64_t row = blockIdx.x;
    const int c0 = (int)threadIdx.x * 8, cs = (int)blockDim.x * 8;
    const uint4 z = make_uint4(0, 0, 0, 0);
    uint4 gv[NV], bv[NV], xv[NV], rv[NV];
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = c0 + i * cs;
        gv[i] = c < d ? __ldg((const uint4 *)(gamma + c)) : z;
        bv[i] = c < d && beta ? __ldg((const uint4 *)(beta + c)) : z;
    }
    cuda_pdl_trigger();
    cuda_pdl_wait();
    T *xr = x + row * d;
    const T *rr = r ? r + row * d : NULL;
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = c0 + i * cs;
        xv[i] = c < d ? *(const uint4 *)(xr + c) : z;
        rv[i] = c < d && rr ? *(const uint4 *)(rr + c) : z;
    }
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = c0 + i * cs;
        if (c >= d) continue;
        if (rr) {
            xv[i] = ln_add8<T>(xv[i], rv[i]);
            *(uint4 *)(xr + c) = xv[i];
        }
        sum += ln_sum8<T>(xv[i]);
    }
    const float mean = block_sum(sum, red) / (float)d;
    float sq = 0.0f;
#pragma unroll
    for (int i = 0; i < NV; i++) {
        if (c0 + i * cs < d) sq += ln_sqdev8<T>(xv[i], mean);
    }
    const float rstd = rsqrtf(block_sum(sq, red) / (float)d + eps);
    T *yr = y + row * d;
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = c0 + i * cs;
        if (c < d) *(uint4 *)(yr + c) = ln_norm8<T>(xv[i], mean, rstd, gv[i], bv[i], beta != NULL);
    }
}

/* The warp form for rows of NV * 256 elements (d = 1024: NV = 4): one warp per row, LN_WARP_ROWS
 * rows a block, each lane holding NV 16-byte pieces of the row (columns lane * 8 + i * 256), so
 * both sums are shuffles with no block barrier; gamma and beta loaded before the PDL wait. The
 * same per-element arithmetic as ln_vec_kernel (the sums in another order). */
#define LN_WARP_ROWS 4
template <typename T, int NV>
__global__ void ln_warp_kernel(T *x, const T *r, const T *gamma, const T *beta, T *y, int32_t m,
                               int32_t d, float eps)
{
    const int lane = threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * LN_WARP_ROWS + (threadIdx.x >> 5);
    const uint4 z = make_uint4(0, 0, 0, 0);
    uint4 gv[NV], bv[NV], xv[NV], rv[NV];
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = lane * 8 + i * 256;
        gv[i] = __ldg((const uint4 *)(gamma + c));
        bv[i] = beta ? __ldg((const uint4 *)(beta + c)) : z;
    }
    cuda_pdl_trigger();
    cuda_pdl_wait();
    if (row >= m) return;
    T *xr = x + row * d;
    const T *rr = r ? r + row * d : NULL;
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int c = lane * 8 + i * 256;
        xv[i] = *(const uint4 *)(xr + c);
        rv[i] = rr ? *(const uint4 *)(rr + c) : z;
    }
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < NV; i++) {
        if (rr) {
            xv[i] = ln_add8<T>(xv[i], rv[i]);
            *(uint4 *)(xr + lane * 8 + i * 256) = xv[i];
        }
        sum += ln_sum8<T>(xv[i]);
    }
    const float mean = warp_sum(sum) / (float)d;
    float sq = 0.0f;
#pragma unroll
    for (int i = 0; i < NV; i++)
        sq += ln_sqdev8<T>(xv[i], mean);
    const float rstd = rsqrtf(warp_sum(sq) / (float)d + eps);
    T *yr = y + row * d;
#pragma unroll
    for (int i = 0; i < NV; i++)
        *(uint4 *)(yr + lane * 8 + i * 256) =
            ln_norm8<T>(xv[i], mean, rstd, gv[i], bv[i], beta != NULL);
}

template <typename T, int NV>
static void ln_warp_launch(cuda_state *s, int32_t m, void *x, const void *r, const void *g,
                           const void *bt, float eps, void *y, int32_t d)
{
    cuda_launch_pdl(s, ln_warp_kernel<T, NV>,
                    dim3((unsigned)((m + LN_WARP_ROWS - 1) / LN_WARP_ROWS)),
                    dim3(32 * LN_WARP_ROWS), 0, "layernorm", (T *)x, (const T *)r, (const T *)g,
                    (const T *)bt, (T *)y, m, d, eps);
}

template <typename T>
static void ln_launch(cuda_state *s, int32_t m, void *x, const void *r, const void *g,
                      const void *bt, float eps, void *y, int32_t d)
{
    bool vec = d % 8 == 0 && cuda_aligned16(x) && cuda_aligned16(y) && cuda_aligned16(g) &&
               (!r || cuda_aligned16(r)) && (!bt || cuda_aligned16(bt));
    if (vec && !s->ln_warp_off && d % 256 == 0 && d <= 1024) {
        switch (d / 256) {
        case 1:
            ln_warp_launch<T, 1>(s, m, x, r, g, bt, eps, y, d);
            return;
        case 2:
            ln_warp_launch<T, 2>(s, m, x, r, g, bt, eps, y, d);
            return;
        case 3:
            ln_warp_launch<T, 3>(s, m, x, r, g, bt, eps, y, d);
            return;
        case 4:
            ln_warp_launch<T, 4>(s, m, x, r, g, bt, eps, y, d);
            return;
        default:
            break;
        }
    }
    int per = vec ? d / 8 : d;
    int threads = (per + 31) / 32 * 32;
    if (threads > LN_MAX_THREADS) threads = LN_MAX_THREADS;
    if (threads < 32) threads = 32;
    if (vec && per <= threads * 4) {
        const int nv = (per + threads - 1) / threads;
        if (nv == 1)
            cuda_launch_pdl(s, ln_vec_kernel<T, 1>, dim3((unsigned)m), dim3((unsigned)threads), 0,
                            "layernorm", (T *)x, (const T *)r, (const T *)g, (const T *)bt, (T *)y,
                            d, eps);
        else
            cuda_launch_pdl(s, ln_vec_kernel<T, 4>, dim3((unsigned)m), dim3((unsigned)threads), 0,
                            "layernorm", (T *)x, (const T *)r, (const T *)g, (const T *)bt, (T *)y,
                            d, eps);
        return;
    }
    cuda_launch_pdl(s, ln_kernel<T>, dim3((unsigned)m), dim3((unsigned)threads), 0, "layernorm",
                    (T *)x, (const T *)r, (const T *)g, (const T *)bt, (T *)y, d, eps, vec);
}

void cuda_op_layernorm(backend *b, int32_t m, void *x, const void *r, const gl_weight *gamma,
                       const gl_weight *beta, float eps, void *y)
{
    if (m <= 0) return;
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    int32_t d = gamma->cols;
    const void *bt = beta ? beta->data : NULL;
    if (s->act_dtype == GL_DTYPE_F16)
        ln_launch<__half>(s, m, x, r, gamma->data, bt, eps, y, d);
    else
        ln_launch<__nv_bfloat16>(s, m, x, r, gamma->data, bt, eps, y, d);
    cuda_note(s, cudaGetLastError(), "layernorm");
}

/* y = x + r elementwise; y may alias x or r (each element read, then written, by one thread). */
template <typename T>
__global__ void add_kernel(const T *x, const T *r, T *y, int64_t n, bool vec)
{
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    int64_t i0 = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (vec) {
        for (int64_t i = i0; i < n / 8; i += stride) {
            uint4 xv = ((const uint4 *)x)[i], rv = ((const uint4 *)r)[i], out;
            const T *xe = (const T *)&xv, *re = (const T *)&rv;
            T *oe = (T *)&out;
#pragma unroll
            for (int e = 0; e < 8; e++) oe[e] = gl_cu_from_f32<T>(gl_cu_f32(xe[e]) + gl_cu_f32(re[e]));
            ((uint4 *)y)[i] = out;
        }
        return;
    }
    for (int64_t i = i0; i < n; i += stride) y[i] = gl_cu_from_f32<T>(gl_cu_f32(x[i]) + gl_cu_f32(r[i]));
}

void cuda_op_add(backend *b, int64_t n, const void *x, const void *r, void *y)
{
    if (n <= 0) return;
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    bool vec = n % 8 == 0 && cuda_aligned16(x) && cuda_aligned16(r) && cuda_aligned16(y);
    int64_t work = vec ? n / 8 : n;
    int64_t blocks = (work + 255) / 256, cap = (int64_t)s->sm_count * 16;
    if (blocks > cap) blocks = cap;
    if (s->act_dtype == GL_DTYPE_F16)
        add_kernel<__half><<<(unsigned)blocks, 256, 0, s->stream>>>(
            (const __half *)x, (const __half *)r, (__half *)y, n, vec);
    else
        add_kernel<__nv_bfloat16><<<(unsigned)blocks, 256, 0, s->stream>>>(
            (const __nv_bfloat16 *)x, (const __nv_bfloat16 *)r, (__nv_bfloat16 *)y, n, vec);
    cuda_note(s, cudaGetLastError(), "add");
}
