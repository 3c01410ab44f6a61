/* Attention over packed variable-length sequences with tensor cores (encoder, prefill): a
 * FlashAttention-2-style kernel built on WMMA 16x16x16 (fp16 / bf16 operands, fp32 accumulation).
 *
 * Grid: x = n_seqs * Z, y = n_heads. Block (s * Z + z, h) takes the query tiles z, z + Z, z + 2Z,
 * ... of sequence s (FL_BM = 64 rows each), so tiles never straddle sequences and the host never
 * needs the query counts (they live on the device: no synchronisation). Z is chosen on the host
 * from n_seqs * n_heads and the SM count so that short batches still fill the chip; blocks whose
 * tile lies past the sequence's end exit at once.
 *
 * One tile: 4 warps, warp w owns query rows 16w..16w+15. Q (64 x D) is staged once in shared
 * memory; K and V tiles of FL_BN = 64 keys are staged in turn (rows past the sequence zeroed).
 * Per key tile each warp computes S = Q K^T (16 x 64) with WMMA into shared memory; two lanes per
 * row then apply scale and mask, update the running max m and sum l (fp32, exp2 domain) and write
 * P in the act dtype; WMMA computes P V (16 x D) into shared memory, and the lanes fold it into
 * their fp32 output registers (o = o * corr + PV). The output is normalised, staged through
 * shared memory and written with 16-byte stores.
 *
 * Masking follows backend.h: query i of nq sees keys j < nk and, causal, j <= nk - nq + i; a row
 * that sees no key outputs zeros. Key tiles past the last key any row of the tile may see are not
 * visited at all.
 *
 * Not yet done (speed): no cp.async double buffering of K/V, S and PV go through shared memory
 * (WMMA fragments have no documented element layout), no wgmma. */
#include <mma.h>

#include "backend/cuda/cuda_attention.cuh"

using namespace nvcuda;

#define FL_BM 64      /* query rows per tile */
#define FL_BN 64      /* keys per key tile */
#define FL_WARPS 4
#define FL_THREADS (FL_WARPS * 32)

typedef struct fl_params {
    const void *q, *k, *v;
    void *out;
    int64_t q_stride, kv_stride, out_stride;
    const int32_t *q_off, *k_off;
    int32_t z; /* blocks per sequence (grid.x = n_seqs * z) */
    int32_t causal;
    float scale_log2; /* scale * log2(e): softmax in the exp2 domain */
} fl_params;

/* Shared-memory layout for head_dim D. Row pads keep WMMA's ldm rules (multiple of 8 halves / 4
 * floats) and spread rows over banks; every region starts at a multiple of 128 bytes. */
template <typename T, int D> struct fl_layout {
    static constexpr int LDQ = D + 8;     /* Q, K, V rows (T) */
    static constexpr int LDP = FL_BN + 8; /* P rows (T) */
    static constexpr int LDS = FL_BN + 4; /* S rows (float) */
    static constexpr int LDO = D + 4;     /* PV rows (float), aliasing S */
    static constexpr int SO_W = 16 * ((D > FL_BN ? D : FL_BN) + 4); /* floats per warp */
    static constexpr size_t q_bytes = (size_t)FL_BM * LDQ * sizeof(T);
    static constexpr size_t kv_bytes = (size_t)FL_BN * LDQ * sizeof(T);
    static constexpr size_t p_bytes = (size_t)FL_WARPS * 16 * LDP * sizeof(T);
    static constexpr size_t off_k = q_bytes;
    static constexpr size_t off_v = off_k + kv_bytes;
    static constexpr size_t off_p = off_v + kv_bytes;
    static constexpr size_t off_so = off_p + p_bytes;
    static constexpr size_t total = off_so + (size_t)FL_WARPS * SO_W * sizeof(float);
    static_assert(q_bytes % 128 == 0 && kv_bytes % 128 == 0 && p_bytes % 128 == 0, "alignment");
};

/* Rows [0, 64) of a tile: row r < n copies D values from src + r * stride, others are zeros. */
template <typename T, int D>
__device__ __forceinline__ void fl_stage(T *dst, const T *src, int64_t stride, int n)
{
    constexpr int CPR = D / 8; /* 16-byte chunks per row */
    constexpr int LDQ = fl_layout<T, D>::LDQ;
    for (int c = threadIdx.x; c < 64 * CPR; c += FL_THREADS) {
        int r = c / CPR, cc = c % CPR;
        uint4 val = make_uint4(0u, 0u, 0u, 0u);
        if (r < n) val = *reinterpret_cast<const uint4 *>(src + r * stride + cc * 8);
        *reinterpret_cast<uint4 *>(dst + r * LDQ + cc * 8) = val;
    }
}

/* S(16 x FL_BN) of warp rows = Q_w K^T, stored as floats at sS (ldm LDS). */
template <typename T, int D>
__device__ __forceinline__ void fl_scores(const T *sQw, const T *sK, float *sS)
{
    typedef fl_layout<T, D> L;
#pragma unroll
    for (int n = 0; n < FL_BN / 16; n++) {
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
        wmma::fill_fragment(acc, 0.0f);
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
            wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> bm;
            wmma::load_matrix_sync(a, sQw + kk * 16, L::LDQ);
            /* K^T as a column-major (D x keys) matrix: element (d, j) at sK[j * LDQ + d] */
            wmma::load_matrix_sync(bm, sK + n * 16 * L::LDQ + kk * 16, L::LDQ);
            wmma::mma_sync(acc, a, bm, acc);
        }
        wmma::store_matrix_sync(sS + n * 16, acc, L::LDS, wmma::mem_row_major);
    }
}

/* PV(16 x D) = P_w V, stored as floats at sO (ldm LDO). */
template <typename T, int D>
__device__ __forceinline__ void fl_pv(const T *sPw, const T *sV, float *sO)
{
    typedef fl_layout<T, D> L;
#pragma unroll
    for (int n = 0; n < D / 16; n++) {
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
        wmma::fill_fragment(acc, 0.0f);
#pragma unroll
        for (int kk = 0; kk < FL_BN / 16; kk++) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
            wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> bm;
            wmma::load_matrix_sync(a, sPw + kk * 16, L::LDP);
            wmma::load_matrix_sync(bm, sV + kk * 16 * L::LDQ + n * 16, L::LDQ);
            wmma::mma_sync(acc, a, bm, acc);
        }
        wmma::store_matrix_sync(sO + n * 16, acc, L::LDO, wmma::mem_row_major);
    }
}

/* One query tile [i0, i0 + 64) of a sequence with nq queries and nk keys; qb, kb, vb, ob point at
 * the sequence's first row, head offset applied. */
template <typename T, int D>
__device__ void fl_tile(const fl_params &p, unsigned char *smem, const T *qb, const T *kb,
                        const T *vb, T *ob, int i0, int nq, int nk)
{
    typedef fl_layout<T, D> L;
    T *sQ = reinterpret_cast<T *>(smem);
    T *sK = reinterpret_cast<T *>(smem + L::off_k);
    T *sV = reinterpret_cast<T *>(smem + L::off_v);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    T *sPw = reinterpret_cast<T *>(smem + L::off_p) + warp * 16 * L::LDP;
    float *sSO = reinterpret_cast<float *>(smem + L::off_so) + warp * L::SO_W;

    const int iend = min(i0 + FL_BM, nq);
    const int jmax = p.causal ? min(nk, nk - nq + iend) : nk; /* keys any row may see */
    /* lane state: row r of the warp's 16, columns part, part + 2, part + 4, ... */
    const int r = lane >> 1, part = lane & 1;
    const int i = i0 + warp * 16 + r;
    int jlim = i < nq ? nk : 0;
    if (p.causal && i < nq) jlim = min(nk, nk - nq + i + 1);

    __syncthreads(); /* the previous tile's readers are done with shared memory */
    fl_stage<T, D>(sQ, qb + (int64_t)i0 * p.q_stride, p.q_stride, iend - i0);

    float m = -INFINITY, l = 0.0f;
    float o[D / 2];
#pragma unroll
    for (int t = 0; t < D / 2; t++) o[t] = 0.0f;

    for (int j0 = 0; j0 < jmax; j0 += FL_BN) {
        __syncthreads(); /* all warps are done with the previous K/V tile */
        const int kn = min(FL_BN, nk - j0);
        fl_stage<T, D>(sK, kb + (int64_t)j0 * p.kv_stride, p.kv_stride, kn);
        fl_stage<T, D>(sV, vb + (int64_t)j0 * p.kv_stride, p.kv_stride, kn);
        __syncthreads();

        fl_scores<T, D>(sQ + warp * 16 * L::LDQ, sK, sSO);
        __syncwarp();
        float sv[FL_BN / 2];
        float tmax = -INFINITY;
#pragma unroll
        for (int t = 0; t < FL_BN / 2; t++) {
            const int c = part + 2 * t;
            float x = sSO[r * L::LDS + c] * p.scale_log2;
            if (j0 + c >= jlim) x = -INFINITY;
            sv[t] = x;
            tmax = fmaxf(tmax, x);
        }
        tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 1));
        const float mnew = fmaxf(m, tmax);
        float corr = 1.0f, sum = 0.0f;
        if (mnew != -INFINITY) {
            corr = exp2f(m - mnew); /* m = -inf (nothing seen yet): 0 */
#pragma unroll
            for (int t = 0; t < FL_BN / 2; t++) {
                sv[t] = exp2f(sv[t] - mnew); /* masked: exp2(-inf) = 0 */
                sum += sv[t];
            }
        } else {
#pragma unroll
            for (int t = 0; t < FL_BN / 2; t++) sv[t] = 0.0f;
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        l = l * corr + sum;
        m = mnew;
#pragma unroll
        for (int t = 0; t < FL_BN / 2; t++) sPw[r * L::LDP + part + 2 * t] = gl_cu_from_f32<T>(sv[t]);
        __syncwarp(); /* P written, S no longer read: PV may overwrite the S region */

        fl_pv<T, D>(sPw, sV, sSO);
        __syncwarp();
#pragma unroll
        for (int t = 0; t < D / 2; t++) o[t] = o[t] * corr + sSO[r * L::LDO + part + 2 * t];
    }

    __syncthreads(); /* every warp is done reading sQ (and the Q staging is complete) */
    /* normalise, stage the warp's rows in its own rows of sQ, then 16-byte stores */
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    T *sOut = sQ + warp * 16 * L::LDQ;
#pragma unroll
    for (int t = 0; t < D / 2; t++) sOut[r * L::LDQ + part + 2 * t] = gl_cu_from_f32<T>(o[t] * inv);
    __syncwarp();
    constexpr int CPR = D / 8;
    for (int c = lane; c < 16 * CPR; c += 32) {
        const int rr = c / CPR, cc = c % CPR;
        const int ii = i0 + warp * 16 + rr;
        if (ii < nq)
            *reinterpret_cast<uint4 *>(ob + (int64_t)ii * p.out_stride + cc * 8) =
                *reinterpret_cast<const uint4 *>(sOut + rr * L::LDQ + cc * 8);
    }
}

template <typename T, int D> __global__ void __launch_bounds__(FL_THREADS) fl_kernel(fl_params p)
{
    extern __shared__ __align__(128) unsigned char fl_smem[];
    const int s = blockIdx.x / p.z, z = blockIdx.x % p.z, h = blockIdx.y;
    const int q0 = p.q_off[s], nq = p.q_off[s + 1] - q0;
    const int k0 = p.k_off[s], nk = p.k_off[s + 1] - k0;
    const T *qb = static_cast<const T *>(p.q) + (int64_t)q0 * p.q_stride + h * D;
    const T *kb = static_cast<const T *>(p.k) + (int64_t)k0 * p.kv_stride + h * D;
    const T *vb = static_cast<const T *>(p.v) + (int64_t)k0 * p.kv_stride + h * D;
    T *ob = static_cast<T *>(p.out) + (int64_t)q0 * p.out_stride + h * D;
    for (int i0 = z * FL_BM; i0 < nq; i0 += p.z * FL_BM)
        fl_tile<T, D>(p, fl_smem, qb, kb, vb, ob, i0, nq, nk);
}

template <typename T, int D> static cudaError_t fl_launch(cuda_state *s, const fl_params &p, dim3 grid)
{
    const size_t bytes = fl_layout<T, D>::total;
    /* more than 48 KiB of dynamic shared memory must be allowed once per function and device
     * (a benign race between threads: both set the same value) */
    static unsigned long long allowed; /* bit per device */
    const unsigned long long bit = s->device < 64 ? 1ull << s->device : 0;
    if (!(allowed & bit)) {
        cudaError_t err = cudaFuncSetAttribute(
            fl_kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
        if (err != cudaSuccess) return err;
        allowed |= bit;
    }
    fl_kernel<T, D><<<grid, FL_THREADS, bytes, s->stream>>>(p);
    return cudaGetLastError();
}

template <typename T> static cudaError_t fl_dispatch(cuda_state *s, int d, const fl_params &p, dim3 grid)
{
    switch (d) {
    case 32: return fl_launch<T, 32>(s, p, grid);
    case 64: return fl_launch<T, 64>(s, p, grid);
    case 80: return fl_launch<T, 80>(s, p, grid);
    case 96: return fl_launch<T, 96>(s, p, grid);
    default: return fl_launch<T, 128>(s, p, grid);
    }
}

bool cuda_attn_flash(cuda_state *s, gl_dtype t, const attn_packed_args *a)
{
    const int d = a->head_dim;
    if (d != 32 && d != 64 && d != 80 && d != 96 && d != 128) return false;
    if (t != GL_DTYPE_F16 && t != GL_DTYPE_BF16) return false;
    if (!cuda_aligned16(a->q) || !cuda_aligned16(a->k) || !cuda_aligned16(a->v) ||
        !cuda_aligned16(a->out) || a->q_stride % 8 != 0 || a->kv_stride % 8 != 0)
        return false;
    /* blocks per sequence: enough for ~3 resident blocks per SM, at most 64 tiles apart */
    const int64_t base = (int64_t)a->n_seqs * a->n_heads;
    const int64_t target = (int64_t)(s->sm_count > 0 ? s->sm_count : 132) * 3;
    int64_t z = (target + base - 1) / base;
    if (z < 1) z = 1;
    if (z > 64) z = 64;
    fl_params p;
    p.q = a->q;
    p.k = a->k;
    p.v = a->v;
    p.out = a->out;
    p.q_stride = a->q_stride;
    p.kv_stride = a->kv_stride;
    p.out_stride = (int64_t)a->n_heads * d;
    p.q_off = a->q_off;
    p.k_off = a->k_off;
    p.z = (int32_t)z;
    p.causal = a->causal;
    p.scale_log2 = a->scale * 1.4426950408889634f;
    dim3 grid((unsigned)(a->n_seqs * z), (unsigned)a->n_heads);
    cudaError_t err = t == GL_DTYPE_F16 ? fl_dispatch<__half>(s, d, p, grid)
                                        : fl_dispatch<__nv_bfloat16>(s, d, p, grid);
    cuda_note(s, err, "attention (flash kernel)");
    return true;
}
