/* Pass 1 of the int8 lm_head path (cuda_lm_int8.cu) on Hopper's warpgroup MMA (wgmma, sm_90a):
 * the same values as l8_wide (each column's int8 logit as a half, each token's largest into
 * lmax), bit for bit (exact int32 sums, the same epilogue formula).
 *
 * Two launches. l8_xquant quantises the (up to) 64 token rows of x once, a warp a token, into
 * scratch (p.xg) already in the shared-memory layout below, and their constants into p.tokc.
 * l8_ws, one block per SM persistent over 128-column tiles, is warp-specialised: warps 0-3 and
 * 4-7 are two consumer warpgroups taking the block's tiles in turn (one's epilogue overlaps the
 * other's MMAs), warp 8 + c is warpgroup c's producer. x arrives by one bulk copy; the int8
 * weight rows by the bulk tensor copy engine (a tensor map over the shadow, boxes of 128 rows x
 * 128 bytes of k with the 128-byte swizzle) into each pipeline's L8G_WS_S slots, each with a
 * "full" mbarrier (the copy's bytes) and an "empty" one (an arrival from each of the consumer's
 * 4 warps once their MMAs on it completed). One wgmma.m64n128k32.s32.s8.s8 covers 32 of k for
 * all 64 token rows (m64: tokens past m are zeros) and the tile's 128 columns, both operands
 * K-major from shared memory.
 *
 * Each pipeline has one producer and one consumer that takes every fill in order, so no barrier
 * waiter can be two phases behind (a form whose two consumers shared one set of slots could, on
 * mbarrier parity, and hung).
 *
 * Why (docs/PERF.md, H100): l8_wide (mma.sync, each warp streaming rows into registers) is
 * latency-bound at 33-64 rows, 171 us for 64 rows against 86 us for the shadow's bytes, which
 * the copy engine here streams at 89% of DRAM; a single-warpgroup form of this kernel was slower
 * still (224 us), its epilogue stalling the stream and every block quantising x itself.
 *
 * Shared memory (1024-byte aligned): x, per 128 bytes of k a block of 64 token rows of 128 bytes
 * with 16-byte piece c of row tok at c ^ (tok % 8) (l8_xq_off, xstr < 0); the slots, 128 weight
 * rows x 128 bytes in the copy engine's swizzle. A descriptor steps 32 bytes of k inside an
 * atom; its stride byte offset (8 rows) is 1024. Needs k % 128 == 0 and 64 k bytes + 128 KB of
 * shared memory (k <= ~1,500; else l8_wide). */
#include <cuda.h>
#include <cudaTypedefs.h>
#include <stdlib.h>
#include <string.h>
#include <type_traits>

#include "backend/cuda/cuda_lm_int8.cuh"

#define L8G_THREADS 128 /* a warpgroup */
#define L8G_N L8_TILE   /* columns per tile (p.tmax: one entry a tile) */
#define L8G_KC 128      /* k bytes per chunk */
#define L8G_CHUNK (L8G_N * L8G_KC)
#define L8G_WS_S 4      /* slots per pipeline */
#define L8G_WS_THREADS (2 * L8G_THREADS + 64)
#define L8G_XQ_BLOCKS 8
/* Fewer rows: l8_wide is faster. H100 ids-only us at 16 / 32 / 48 / 64 rows, l8_wide on x from
 * l8_xquant 103.7 / 120.1 / 135.7 / 155.3, this kernel 111.2 / 123.5 / 133.5 / 145.0:
 * its m64 MMA and epilogue cost the same at any m, l8_wide's grow with each 16-row tile. */
#define L8G_MIN_M 33

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define L8G_HAVE 1
#else
#define L8G_HAVE 0
#endif

static size_t l8g_ws_smem(int k)
{
    return 1024 + (size_t)L8_MAX_M * (size_t)k + (size_t)2 * L8G_WS_S * L8G_CHUNK +
           3 * L8_MAX_M * sizeof(float);
}

static __device__ __forceinline__ uint32_t l8g_smem_addr(const void *p)
{
    return (uint32_t)__cvta_generic_to_shared(p);
}

/* A K-major operand descriptor: start, leading and stride byte offsets (| 1 << 62: 128-byte
 * swizzle). */
static __device__ __forceinline__ uint64_t l8g_desc(uint32_t addr, uint32_t lbo, uint32_t sbo)
{
    return (uint64_t)((addr & 0x3FFFFu) >> 4) | ((uint64_t)(lbo >> 4) << 16) |
           ((uint64_t)(sbo >> 4) << 32);
}

#if L8G_HAVE
/* the accumulators as operands the compiler must not move across the asynchronous MMAs */
static __device__ __forceinline__ void l8g_fence_acc(int (&d)[64])
{
#pragma unroll
    for (int i = 0; i < 64; i++) asm volatile("" : "+r"(d[i])::"memory");
}

/* d (+)= A B over 32 of k: A 64 tokens, B 128 columns, both from shared memory */
static __device__ __forceinline__ void l8g_mma(int (&d)[64], uint64_t da, uint64_t db, int acc)
{
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k32.s32.s8.s8 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
        "%64, %65, p;\n}\n"
        : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]), "+r"(d[6]),
          "+r"(d[7]), "+r"(d[8]), "+r"(d[9]), "+r"(d[10]), "+r"(d[11]), "+r"(d[12]), "+r"(d[13]),
          "+r"(d[14]), "+r"(d[15]), "+r"(d[16]), "+r"(d[17]), "+r"(d[18]), "+r"(d[19]),
          "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]), "+r"(d[24]), "+r"(d[25]),
          "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]), "+r"(d[30]), "+r"(d[31]),
          "+r"(d[32]), "+r"(d[33]), "+r"(d[34]), "+r"(d[35]), "+r"(d[36]), "+r"(d[37]),
          "+r"(d[38]), "+r"(d[39]), "+r"(d[40]), "+r"(d[41]), "+r"(d[42]), "+r"(d[43]),
          "+r"(d[44]), "+r"(d[45]), "+r"(d[46]), "+r"(d[47]), "+r"(d[48]), "+r"(d[49]),
          "+r"(d[50]), "+r"(d[51]), "+r"(d[52]), "+r"(d[53]), "+r"(d[54]), "+r"(d[55]),
          "+r"(d[56]), "+r"(d[57]), "+r"(d[58]), "+r"(d[59]), "+r"(d[60]), "+r"(d[61]),
          "+r"(d[62]), "+r"(d[63])
        : "l"(da), "l"(db), "r"(acc)
        : "memory");
}

#endif

/* A warpgroup's tile constants in shared memory: column c at sc[c], en[c], b[c] */
typedef struct l8g_cols_sm {
    const float *sc, *en, *b;
    __device__ __forceinline__ void get(int i, int t, float2 &s, float2 &e, float2 &bb) const
    {
        s = *reinterpret_cast<const float2 *>(sc + 8 * i + 2 * t);
        e = *reinterpret_cast<const float2 *>(en + 8 * i + 2 * t);
        bb = *reinterpret_cast<const float2 *>(b + 8 * i + 2 * t);
    }
} l8g_cols_sm;

/* Column tile * 128 + (thread % 128): scale, en, bias (zeros past n_valid) */
template <typename T>
static __device__ __forceinline__ float3 l8g_col1(const l8_params &p, int tile)
{
    const int col = tile * L8G_N + (int)(threadIdx.x & 127);
    if (col >= p.n_valid) return make_float3(0.0f, 0.0f, 0.0f);
    return make_float3(__ldg(p.scale + col), __ldg(p.en + col),
                       p.bias ? gl_cu_f32(((const T *)p.bias)[col]) : 0.0f);
}

/* The largest of two stored int8 logits for the tile maxima, a NaN as +inf (always rescored) */
static __device__ __forceinline__ float l8g_hmax(float m, __half v)
{
    const float f = __half2float(v);
    return fmaxf(m, f != f ? INFINITY : f);
}

/* A tile's epilogue: d[4 i + e] of lane (warp w, g, t) is token 16 w + g + 8 (e / 2), column
 * 8 i + 2 t + e % 2. Also each token's largest stored value over the tile's 128 columns into
 * p.tmax (the 4 lanes t of a token meet by shuffles; every lane of the warp takes part). */
static __device__ __forceinline__ void l8g_epilogue(const l8_params &p, const int (&d)[64],
                                                    const l8g_cols_sm &c, int tile, const float *sx,
                                                    float lmx[2], int w, int g, int t)
{
    float tm[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const int tok = 16 * w + g + 8 * h;
        if (tok >= p.m) continue;
        const float st = sx[tok];
        __half *row = p.av + (int64_t)tok * p.ldh + tile * L8G_N + 2 * t;
#pragma unroll
        for (int i = 0; i < 16; i++) {
            const int col = tile * L8G_N + 8 * i + 2 * t;
            if (col >= p.n_valid) continue;
            float2 sc, en, b;
            c.get(i, t, sc, en, b);
            const bool ok0 = isfinite(en.x), ok1 = isfinite(en.y);
            const float a0 = sc.x * (st * (float)d[4 * i + 2 * h]) + b.x;
            const float a1 = sc.y * (st * (float)d[4 * i + 2 * h + 1]) + b.y;
            lmx[h] = fmaxf(lmx[h], ok0 ? a0 : -INFINITY);
            const __half h0 = l8_av(a0, ok0);
            tm[h] = l8g_hmax(tm[h], h0);
            if (col + 1 < p.n_valid) {
                lmx[h] = fmaxf(lmx[h], ok1 ? a1 : -INFINITY);
                const __half h1 = l8_av(a1, ok1);
                tm[h] = l8g_hmax(tm[h], h1);
                *reinterpret_cast<__half2 *>(row + 8 * i) = __halves2half2(h0, h1);
            } else {
                row[8 * i] = h0;
            }
        }
    }
#pragma unroll
    for (int h = 0; h < 2; h++) {
        tm[h] = fmaxf(tm[h], __shfl_xor_sync(0xffffffffu, tm[h], 1));
        tm[h] = fmaxf(tm[h], __shfl_xor_sync(0xffffffffu, tm[h], 2));
        const int tok = 16 * w + g + 8 * h;
        if (t == 0 && tok < p.m && p.tmax)
            p.tmax[(int64_t)tok * p.ldt + tile] = __float2half(tm[h]);
    }
}

/* Each token's largest int8 logit (lmx: a consumer thread's two tokens, 16 w + g and + 8): its 4
 * lanes, the block (bmax), the grid (p.lmax). Every thread of the block calls it. */
static __device__ __forceinline__ void l8g_token_max(const l8_params &p, const float lmx[2],
                                                     unsigned *bmax, bool consumer, int w, int g,
                                                     int t)
{
    if (consumer)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            unsigned v = arg_key(lmx[h]);
            v = max(v, __shfl_xor_sync(0xffffffffu, v, 1));
            v = max(v, __shfl_xor_sync(0xffffffffu, v, 2));
            if (t == 0) atomicMax(&bmax[16 * w + g + 8 * h], v);
        }
    __syncthreads();
    if (threadIdx.x < p.m && bmax[threadIdx.x] != L8_NEG_INF_ENC)
        atomicMax(&p.lmax[threadIdx.x], bmax[threadIdx.x]);
}

static __device__ __forceinline__ void l8g_bar_init(uint32_t bar, uint32_t count = 1)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
static __device__ __forceinline__ void l8g_bar_arrive(uint32_t bar)
{
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
static __device__ __forceinline__ void l8g_bar_wait(uint32_t bar, uint32_t parity)
{
    uint32_t done = 0;
    do {
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                     "selp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done)
                     : "r"(bar), "r"(parity)
                     : "memory");
    } while (!done);
}
/* A chunk (k bytes kc * 128 on, rows row on) into dst by the copy engine, completing on bar */
static __device__ __forceinline__ void l8g_tma(const CUtensorMap *tm, uint32_t dst, uint32_t bar,
                                               int kc, int row)
{
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar),
                 "n"(L8G_CHUNK)
                 : "memory");
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes "
                 "[%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
                 "l"(reinterpret_cast<uint64_t>(tm)), "r"(kc * L8G_KC), "r"(row), "r"(bar)
                 : "memory");
}

/* x quantised once for the grid (not once per block): token rows of int8 into p.xg in the
 * swizzled layout, s_x / ||x|| / ||e_x|| into p.tokc; a warp a token. */
template <typename T> __global__ void __launch_bounds__(L8_THREADS) l8_xquant(l8_params p)
{
    cuda_pdl_trigger();
    cuda_pdl_wait();
    l8_stage_x<T>(p, L8_MAX_M, p.xg, -1, p.tokc, p.tokc + L8_MAX_M, p.tokc + 2 * L8_MAX_M,
                  (int)(blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5)),
                  (int)(gridDim.x * (blockDim.x >> 5)));
}

template <typename T>
__global__ void __launch_bounds__(L8G_WS_THREADS, 1)
    l8_ws(l8_params p, const __grid_constant__ CUtensorMap tm)
{
#if L8G_HAVE
    constexpr int S = L8G_WS_S;
    extern __shared__ __align__(128) unsigned char l8g_raw[];
    __shared__ unsigned bmax[L8_MAX_M];
    __shared__ __align__(8) uint64_t full[2][S], empty[2][S], xbar;
    __shared__ __align__(16) float colsm[2][3][L8G_N];
    unsigned char *l8g_sm = l8g_raw + ((1024u - (l8g_smem_addr(l8g_raw) & 1023u)) & 1023u);
    int8_t *xq = reinterpret_cast<int8_t *>(l8g_sm);
    unsigned char *slot0 = l8g_sm + (size_t)L8_MAX_M * p.k;
    float *sx = reinterpret_cast<float *>(slot0 + (size_t)2 * S * L8G_CHUNK);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, w = warp & 3;
    const int c = warp < 8 ? warp >> 2 : warp - 8; /* the pipeline this warp is part of */
    const int g = lane >> 2, t = lane & 3;
    const int tiles = (p.n_valid + L8G_N - 1) / L8G_N, kch = p.k / L8G_KC;
    const int my_tiles =
        (int)blockIdx.x < tiles ? (tiles - 1 - (int)blockIdx.x) / (int)gridDim.x + 1 : 0;
    const int total0 = (my_tiles + 1) / 2 * kch, total1 = my_tiles / 2 * kch; /* stages */
    const int total = c == 0 ? total0 : total1;
    const uint32_t xa = l8g_smem_addr(xq);
    const uint32_t slots = l8g_smem_addr(slot0) + (uint32_t)(c * S * L8G_CHUNK);
    const uint32_t fb = l8g_smem_addr(&full[c][0]), eb = l8g_smem_addr(&empty[c][0]);
    /* stage j of pipeline cc: its block tile 2 (j / kch) + cc, k chunk j % kch */
#define L8G_WS_ISSUE(cc, j)                                                                        \
    l8g_tma(&tm, l8g_smem_addr(slot0) + (uint32_t)(((cc) * S + (j) % S) * L8G_CHUNK),            \
               l8g_smem_addr(&full[cc][(j) % S]), (j) % kch,                                       \
               (blockIdx.x + (2 * ((j) / kch) + (cc)) * gridDim.x) * L8G_N)

    /* before the wait: the barriers, each pipeline's first S stages and first column constants */
    if (warp == 8 && lane == 0) {
        for (int cc = 0; cc < 2; cc++)
            for (int s = 0; s < S; s++) {
                l8g_bar_init(l8g_smem_addr(&full[cc][s]), 1);
                l8g_bar_init(l8g_smem_addr(&empty[cc][s]), 4);
            }
        l8g_bar_init(l8g_smem_addr(&xbar), 1);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        for (int j = 0; j < S && j < total0; j++) L8G_WS_ISSUE(0, j);
        for (int j = 0; j < S && j < total1; j++) L8G_WS_ISSUE(1, j);
    }
    float3 col1 = make_float3(0.0f, 0.0f, 0.0f); /* this thread's column of its next tile */
    if (warp < 8 && c < my_tiles) col1 = l8g_col1<T>(p, blockIdx.x + c * gridDim.x);
    if (threadIdx.x < L8_MAX_M) bmax[threadIdx.x] = L8_NEG_INF_ENC;
    cuda_pdl_trigger();
    cuda_pdl_wait();
    /* x from l8_xquant: one bulk copy into place; the scales from tokc */
    if (warp == 8 && lane == 0) {
        const uint32_t xb = l8g_smem_addr(&xbar), bytes = (uint32_t)(L8_MAX_M * p.k);
        asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(xb),
                     "r"(bytes)
                     : "memory");
        asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes "
                     "[%0], [%1], %2, [%3];\n" ::"r"(xa),
                     "l"(p.xg), "r"(bytes), "r"(xb)
                     : "memory");
    }
    if (threadIdx.x < L8_MAX_M) sx[threadIdx.x] = p.tokc[threadIdx.x];
    __syncthreads();

    float lmx[2] = {-INFINITY, -INFINITY};
    if (warp >= 8) { /* a producer */
        if (lane == 0)
            for (int j = S; j < total; j++) {
                l8g_bar_wait(eb + 8 * (j % S), (uint32_t)(j / S - 1) & 1u); /* stage j - S read */
                L8G_WS_ISSUE(c, j);
            }
    } else {
        int d[64];
#pragma unroll
        for (int i = 0; i < 64; i++) d[i] = 0;
        constexpr uint64_t sw128 = (uint64_t)1 << 62;
        const int ti = threadIdx.x & 127;
        l8g_bar_wait(l8g_smem_addr(&xbar), 0); /* x in place */
#pragma unroll 1
        for (int q = 0, j = 0; 2 * q + c < my_tiles; q++) {
#pragma unroll 1
            for (int kc = 0; kc < kch; kc++, j++) {
                const uint32_t b0 = slots + (uint32_t)(j % S) * L8G_CHUNK;
                l8g_bar_wait(fb + 8 * (j % S), (uint32_t)(j / S) & 1u);
                asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
                for (int s = 0; s < L8G_KC / 32; s++)
                    l8g_mma(d,
                            l8g_desc(xa + (uint32_t)(kc * L8_MAX_M * 128 + 32 * s), 16, 1024) |
                                sw128,
                            l8g_desc(b0 + (uint32_t)(32 * s), 16, 1024) | sw128, kc > 0 || s > 0);
                asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
                asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");
                if (kc > 0 && lane == 0) /* stage j - 1 read */
                    l8g_bar_arrive(eb + 8 * ((j - 1) % S));
            }
            asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
            l8g_fence_acc(d);
            if (lane == 0) l8g_bar_arrive(eb + 8 * ((j - 1) % S));
            /* the tile's column constants into shared memory (every warp of the warpgroup is
             * past the previous epilogue: it took part in this tile's MMAs) */
            colsm[c][0][ti] = col1.x;
            colsm[c][1][ti] = col1.y;
            colsm[c][2][ti] = col1.z;
            asm volatile("bar.sync %0, 128;\n" ::"r"(1 + c) : "memory");
            const int tile = blockIdx.x + (2 * q + c) * gridDim.x;
            const l8g_cols_sm cs = {colsm[c][0], colsm[c][1], colsm[c][2]};
            l8g_epilogue(p, d, cs, tile, sx, lmx, w, g, t);
            if (2 * q + 2 + c < my_tiles) col1 = l8g_col1<T>(p, tile + 2 * gridDim.x);
        }
    }
#undef L8G_WS_ISSUE

    l8g_token_max(p, lmx, bmax, warp < 8, w, g, t);
#endif
}

void l8_xquant_launch(cuda_state *s, const l8_params &p, bool bf16)
{
    if (bf16)
        cuda_launch_pdl(s, l8_xquant<__nv_bfloat16>, dim3(L8G_XQ_BLOCKS), dim3(L8_THREADS), 0,
                        "lm_head int8 x quantisation", p);
    else
        cuda_launch_pdl(s, l8_xquant<__half>, dim3(L8G_XQ_BLOCKS), dim3(L8_THREADS), 0,
                        "lm_head int8 x quantisation", p);
}

/* The cubin the driver picked for this GPU was built for sm_90a (wgmma). */
__global__ void l8g_probe(int *out)
{
    *out = L8G_HAVE;
}

bool l8_wg_probe(cuda_state *s)
{
    const char *env = getenv("GLOSSA_CUDA_LM_INT8_WG");
    if (env && env[0] == '0') return false;
    int *dv = NULL, hv = 0;
    if (cudaMalloc(&dv, sizeof(int)) != cudaSuccess) {
        cudaGetLastError();
        return false;
    }
    l8g_probe<<<1, 1, 0, s->stream>>>(dv);
    if (cudaMemcpyAsync(&hv, dv, sizeof(int), cudaMemcpyDeviceToHost, s->stream) != cudaSuccess ||
        cudaStreamSynchronize(s->stream) != cudaSuccess)
        hv = 0;
    cudaGetLastError(); /* no kernel image for this GPU: the mma.sync form */
    cudaFree(dv);
    return hv == 1;
}

/* The shadow's tensor map (k bytes x rows, boxes of 128 x 128, 128-byte swizzle), made once per
 * shadow through the driver's cuTensorMapEncodeTiled. */
static bool l8g_tmap(cuda_state *s, const l8_params &p, int64_t rows, CUtensorMap *tm)
{
    if (s->l8_tmap_src != p.q || s->l8_tmap_rows != rows || s->l8_tmap_k != p.k) {
        static PFN_cuTensorMapEncodeTiled_v12000 encode = NULL;
        if (!encode) {
            cudaDriverEntryPointQueryResult q;
            void *fn = NULL;
            if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000,
                                                 cudaEnableDefault, &q) != cudaSuccess ||
                q != cudaDriverEntryPointSuccess || !fn) {
                cudaGetLastError();
                return false;
            }
            encode = (PFN_cuTensorMapEncodeTiled_v12000)fn;
        }
        CUtensorMap m;
        const cuuint64_t dims[2] = {(cuuint64_t)p.k, (cuuint64_t)rows};
        const cuuint64_t strides[1] = {(cuuint64_t)p.k};
        const cuuint32_t box[2] = {L8G_KC, L8G_N}, estr[2] = {1, 1};
        if (encode(&m, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, (void *)p.q, dims, strides, box, estr,
                   CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                   CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                   CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS)
            return false;
        memcpy(s->l8_tmap, &m, sizeof m);
        s->l8_tmap_src = p.q;
        s->l8_tmap_rows = rows;
        s->l8_tmap_k = p.k;
    }
    memcpy(tm, s->l8_tmap, sizeof *tm);
    return true;
}

template <typename T>
static bool l8g_launch(cuda_state *s, const l8_params &p, const CUtensorMap &tm)
{
    const size_t smem = l8g_ws_smem(p.k);
    if (!cuda_note(s,
                   cudaFuncSetAttribute(l8_ws<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        (int)smem),
                   "lm_head int8 wgmma (shared memory)"))
        return false;
    l8_xquant_launch(s, p, !std::is_same<T, __half>::value);
    cuda_launch_pdl(s, l8_ws<T>, dim3((unsigned)s->sm_count), dim3(L8G_WS_THREADS), smem,
                    "lm_head int8 wgmma scan", p, tm);
    return true;
}

bool l8_wg_launch(cuda_state *s, const l8_params &p, bool bf16, int64_t rows)
{
    if (!s->l8_wg || p.m < L8G_MIN_M || p.k % L8G_KC != 0 || l8g_ws_smem(p.k) > 227 * 1024)
        return false;
    CUtensorMap tm;
    if (!l8g_tmap(s, p, rows, &tm)) return false;
    return bf16 ? l8g_launch<__nv_bfloat16>(s, p, tm) : l8g_launch<__half>(s, p, tm);
}
