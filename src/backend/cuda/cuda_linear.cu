/* linear: y(m, n) = act(x(m, k) W(n, k)^T + bias(n)) (+ residual(m, n)); m <= SK_MAX_M rows go to the
 * skinny kernel (cuda_linear_skinny.cu) and up to 64 to the cluster GEMM (cuda_linear_cluster.cu)
 * when their preconditions hold, the rest through cuBLASLt.
 *
 * Row-major to cuBLASLt's column-major. A row-major (r, c) matrix with row stride ld is, read in
 * column-major terms, a (c x r) matrix with leading dimension ld: the same bytes, transposed. So
 *   y (m, n), stride n    is the column-major n x m matrix  Y^T (ld n)
 *   x (m, k), stride xs   is the column-major k x m matrix  X^T (ld xs: x_stride is just lda)
 *   W (n, k), stride k    is the column-major k x n matrix  W^T (ld k)
 * and y = x W^T is y^T = W x^T, i.e. D (n x m) = op(A) op(B) with
 *   A = W^T stored k x n, op(A) = transpose -> W (n x k)       [TRANSA = T]
 *   B = X^T stored k x m, op(B) = as is    -> X^T (k x m)       [TRANSB = N]
 *   C = D = Y^T stored n x m, ld n.
 * (the "TN" layout, cuBLAS's preferred one for fp16 / bf16.) D(j, i) = sum_c W[j k + c] x[i xs + c]
 * = y[i n + j]. cuBLASLt's bias vector has one entry per row of D, i.e. per output feature.
 *
 * Epilogues. cuBLASLt computes D = epilogue(alpha A B + beta C + bias): an activation would be
 * applied after the residual, so the residual rides on beta = 1 (C = residual, C == D in place
 * when y aliases it) only when act is NONE. cuBLASLt's GELU epilogue is the tanh approximation
 * (PyTorch's fallback for it applies gelu(approximate="tanh")), so GELU_BIAS serves
 * GL_ACT_GELU_TANH only; RELU_BIAS serves GL_ACT_RELU. Exact GELU and SiLU, and any activation
 * together with a residual, run as GEMM (+ BIAS epilogue) followed by one elementwise kernel
 * y = act(t) (+ residual); t is y itself, or a scratch buffer when y aliases the residual.
 *
 * Heuristics are queried once per (m, n, k, x_stride, epilogue, dtype, beta, alignments) and kept
 * with the descriptors in a small open-addressing hash table (flushed when half full). A shape
 * with no cuBLASLt algorithm, a failed cuBLASLt call, or GLOSSA_CUDA_GEMM_FALLBACK=1 runs a plain
 * tiled kernel that does everything (GEMM, bias, activation, residual) in one pass. */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_act.cuh"
#include "backend/cuda/cuda_internal.h"
#include "core/log.h"

#define GEMM_CACHE_CAP 1024 /* power of two */
#define GEMM_TUNE_MAX 16    /* heuristic candidates timed at most */
#define GEMM_TUNE_REPS 20   /* calls per timed graph */

typedef struct gemm_key {
    int32_t m, n, k, ldb;
    uint32_t epi;                      /* cublasLtEpilogue_t */
    uint8_t dtype, beta1, align_a, align_b, align_c, align_bias, pad0, pad1;
} gemm_key;

typedef struct gemm_plan {
    gemm_key key;
    bool used;
    bool have_algo;                    /* false: cuBLASLt has nothing: the plain kernel runs it */
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;    /* c describes both C and D */
    cublasLtMatmulAlgo_t algo;
} gemm_plan;

typedef struct gemm_cache {
    gemm_plan slot[GEMM_CACHE_CAP];
    int used;
} gemm_cache;

/* y[i] = act(t[i]) (+ res[i]) over m * n elements; t, res may alias y (each element is read before
 * it is written, by the same thread). vec: 8-element (16-byte) accesses, all pointers aligned and
 * the count a multiple of 8. ACT a template argument: with a runtime one nvcc kept lin_act's switch
 * per element (~5% of the exact GELU pass over an encoder's fc1 output). The GELU itself is
 * cuda_act.cuh's lin_gelu: with CUDA's erfcf the pass was instruction-bound at ~30% of the copy
 * rate (44 us for 4,096 x 4,096 under ncu), with it ~51% (26 us; docs/PERF.md). */
template <typename T, int ACT>
__global__ void lin_post_kernel(T *y, const T *t, const T *res, int64_t total, bool vec)
{
    cuda_pdl_trigger();
    cuda_pdl_wait();
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    int64_t i0 = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (vec) {
        for (int64_t i = i0; i < total / 8; i += stride) {
            uint4 tv = ((const uint4 *)t)[i], rv = make_uint4(0, 0, 0, 0), out;
            if (res) rv = ((const uint4 *)res)[i];
            const T *te = (const T *)&tv, *re = (const T *)&rv;
            T *oe = (T *)&out;
#pragma unroll
            for (int e = 0; e < 8; e++) {
                float v = lin_act(gl_cu_f32(te[e]), ACT);
                if (res) v += gl_cu_f32(re[e]);
                oe[e] = gl_cu_from_f32<T>(v);
            }
            ((uint4 *)y)[i] = out;
        }
        return;
    }
    for (int64_t i = i0; i < total; i += stride) {
        float v = lin_act(gl_cu_f32(t[i]), ACT);
        if (res) v += gl_cu_f32(res[i]);
        y[i] = gl_cu_from_f32<T>(v);
    }
}

/* The plain kernel: 16 x 16 output tile per block, k in steps of 16 through shared memory, fp32
 * accumulation, the whole epilogue fused (y may alias res: read, then written by one thread). */
#define FB_TILE 16
template <typename T>
__global__ void lin_fallback_kernel(int32_t m, int32_t n, int32_t k, const T *x, int32_t xs,
                                    const T *w, const T *bias, int act, const T *res, T *y)
{
    __shared__ float xt[FB_TILE][FB_TILE + 1];
    __shared__ float wt[FB_TILE][FB_TILE + 1];
    int tx = threadIdx.x, ty = threadIdx.y;
    int64_t row = (int64_t)blockIdx.y * FB_TILE + ty; /* token */
    int64_t col = (int64_t)blockIdx.x * FB_TILE + tx; /* output feature */
    int64_t wrow = (int64_t)blockIdx.x * FB_TILE + ty;
    float acc = 0.0f;
    for (int32_t k0 = 0; k0 < k; k0 += FB_TILE) {
        int32_t c = k0 + tx;
        xt[ty][tx] = row < m && c < k ? gl_cu_f32(x[row * xs + c]) : 0.0f;
        wt[ty][tx] = wrow < n && c < k ? gl_cu_f32(w[wrow * k + c]) : 0.0f;
        __syncthreads();
#pragma unroll
        for (int e = 0; e < FB_TILE; e++) acc += xt[ty][e] * wt[tx][e];
        __syncthreads();
    }
    if (row >= m || col >= n) return;
    float v = acc;
    if (bias) v += gl_cu_f32(bias[col]);
    v = lin_act(v, act);
    if (res) v += gl_cu_f32(res[row * n + col]);
    y[row * n + col] = gl_cu_from_f32<T>(v);
}

template <typename T>
static void lin_fallback(cuda_state *s, int32_t m, int32_t n, int32_t k, const void *x, int32_t xs,
                         const void *w, const void *bias, gl_act act, const void *res, void *y)
{
    dim3 block(FB_TILE, FB_TILE);
    dim3 grid((unsigned)((n + FB_TILE - 1) / FB_TILE), (unsigned)((m + FB_TILE - 1) / FB_TILE));
    lin_fallback_kernel<T><<<grid, block, 0, s->stream>>>(m, n, k, (const T *)x, xs, (const T *)w,
                                                          (const T *)bias, (int)act,
                                                          (const T *)res, (T *)y);
    cuda_note(s, cudaGetLastError(), "linear (plain kernel)");
}

template <typename T, int ACT>
static void lin_post_run(cuda_state *s, dim3 grid, void *y, const void *t, const void *res,
                         int64_t total, bool vec)
{
    cuda_launch_pdl(s, lin_post_kernel<T, ACT>, grid, dim3(256), 0, "linear (activation)", (T *)y,
                    (const T *)t, (const T *)res, total, vec);
}

template <typename T>
static void lin_post_launch(cuda_state *s, dim3 grid, void *y, const void *t, const void *res,
                            int64_t total, gl_act act, bool vec)
{
    switch (act) {
    case GL_ACT_GELU: lin_post_run<T, GL_ACT_GELU>(s, grid, y, t, res, total, vec); break;
    case GL_ACT_GELU_TANH: lin_post_run<T, GL_ACT_GELU_TANH>(s, grid, y, t, res, total, vec); break;
    case GL_ACT_RELU: lin_post_run<T, GL_ACT_RELU>(s, grid, y, t, res, total, vec); break;
    case GL_ACT_SILU: lin_post_run<T, GL_ACT_SILU>(s, grid, y, t, res, total, vec); break;
    default: lin_post_run<T, GL_ACT_NONE>(s, grid, y, t, res, total, vec); break;
    }
}

static void lin_post(cuda_state *s, void *y, const void *t, const void *res, int64_t total,
                     gl_act act)
{
    bool vec = total % 8 == 0 && cuda_aligned16(y) && cuda_aligned16(t) &&
               (!res || cuda_aligned16(res));
    int64_t work = vec ? total / 8 : total;
    int64_t blocks = (work + 255) / 256, cap = (int64_t)s->sm_count * 16;
    if (blocks > cap) blocks = cap;
    if (blocks < 1) blocks = 1;
    /* PDL (as every kernel of the decode chain): its launch overlaps the GEMM's tail; batch 64
     * 1.048 vs 1.057-1.061 ms/step launched plainly (docs/PERF.md) */
    if (s->act_dtype == GL_DTYPE_F16)
        lin_post_launch<__half>(s, dim3((unsigned)blocks), y, t, res, total, act, vec);
    else
        lin_post_launch<__nv_bfloat16>(s, dim3((unsigned)blocks), y, t, res, total, act, vec);
}

/* ---- the plan cache ---- */

/* The largest power of two (at most 256) dividing both the address and the row pitch. */
static uint8_t lin_align(const void *p, int64_t pitch_bytes)
{
    uint64_t v = (uint64_t)(uintptr_t)p | (uint64_t)pitch_bytes | 256u;
    uint64_t a = v & (~v + 1); /* lowest set bit */
    return (uint8_t)(a >= 256 ? 0 : a); /* 0 stands for 256 */
}

static uint32_t lin_align_bytes(uint8_t a)
{
    return a ? a : 256u;
}

static uint64_t lin_hash(const gemm_key *k)
{
    const unsigned char *p = (const unsigned char *)k;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < sizeof *k; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void plan_destroy(gemm_plan *p)
{
    if (p->op) cublasLtMatmulDescDestroy(p->op);
    if (p->a) cublasLtMatrixLayoutDestroy(p->a);
    if (p->b) cublasLtMatrixLayoutDestroy(p->b);
    if (p->c) cublasLtMatrixLayoutDestroy(p->c);
    memset(p, 0, sizeof *p);
}

static void cache_flush(gemm_cache *c)
{
    for (int i = 0; i < GEMM_CACHE_CAP; i++)
        if (c->slot[i].used) plan_destroy(&c->slot[i]);
    c->used = 0;
}

#define LT_TRY(call)                                                                               \
    do {                                                                                           \
        if ((call) != CUBLAS_STATUS_SUCCESS) return false;                                         \
    } while (0)

/* The operands of the call a plan is built for (autotuning runs the candidates on them). */
typedef struct tune_args {
    const void *w, *x, *c;
} tune_args;

/* Microseconds per call of algo on the call's operands (D into scratch, C as given): the median of
 * 3 timed replays of a graph of GEMM_TUNE_REPS calls (so host launch costs stay out); < 0: failed. */
static float tune_time(cuda_state *s, gemm_plan *p, const cublasLtMatmulAlgo_t *algo,
                       const tune_args *t, void *d, cudaEvent_t e0, cudaEvent_t e1)
{
    float alpha = 1.0f, beta = t->c ? 1.0f : 0.0f;
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    if (cudaStreamBeginCapture(s->stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess)
        return -1.0f;
    bool ok = true;
    for (int i = 0; i < GEMM_TUNE_REPS && ok; i++)
        ok = cublasLtMatmul(s->lt, p->op, &alpha, t->w, p->a, t->x, p->b, &beta, t->c ? t->c : d,
                            p->c, d, p->c, algo, s->lt_workspace, s->lt_workspace_bytes,
                            s->stream) == CUBLAS_STATUS_SUCCESS;
    ok = cudaStreamEndCapture(s->stream, &graph) == cudaSuccess && ok;
    ok = ok && cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess;
    float ms[3] = {-1.0f, -1.0f, -1.0f};
    ok = ok && cudaGraphLaunch(exec, s->stream) == cudaSuccess; /* warm-up */
    for (int r = 0; r < 3 && ok; r++)
        ok = cudaEventRecord(e0, s->stream) == cudaSuccess &&
             cudaGraphLaunch(exec, s->stream) == cudaSuccess &&
             cudaEventRecord(e1, s->stream) == cudaSuccess &&
             cudaEventSynchronize(e1) == cudaSuccess &&
             cudaEventElapsedTime(&ms[r], e0, e1) == cudaSuccess;
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    if (!ok) return -1.0f;
    float lo = fminf(ms[0], fminf(ms[1], ms[2])), hi = fmaxf(ms[0], fmaxf(ms[1], ms[2]));
    float med = ms[0] + ms[1] + ms[2] - lo - hi;
    return med * 1000.0f / GEMM_TUNE_REPS;
}

/* Time the heuristic's candidates once and keep the fastest (cuBLASLt's first choice for decode
 * shapes is often not it: docs/PERF.md). Any failure keeps the heuristic's first. */
static void plan_tune(cuda_state *s, gemm_plan *p, const cublasLtMatmulHeuristicResult_t *res,
                      int n_res, const tune_args *t)
{
    const gemm_key *k = &p->key;
    size_t bytes = (size_t)k->m * (size_t)k->n * 2;
    if (cuda_grow(&s->tune_scratch, &s->tune_scratch_bytes, bytes, "GEMM tuning scratch") !=
        GLOSSA_STATUS_OK)
        return;
    cudaEvent_t e0 = NULL, e1 = NULL;
    if (cudaEventCreate(&e0) != cudaSuccess || cudaEventCreate(&e1) != cudaSuccess) {
        if (e0) cudaEventDestroy(e0);
        cudaGetLastError();
        return;
    }
    float best = -1.0f, first = -1.0f;
    int bi = 0;
    for (int i = 0; i < n_res; i++) {
        if (res[i].state != CUBLAS_STATUS_SUCCESS) continue;
        float us = tune_time(s, p, &res[i].algo, t, s->tune_scratch, e0, e1);
        if (i == 0) first = us;
        if (us > 0.0f && (best < 0.0f || us < best)) {
            best = us;
            bi = i;
        }
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    p->algo = res[bi].algo;
    if (s->gemm_tune_log)
        GLOSSA_LOG_WARN("cuda linear tune m=%d n=%d k=%d epi=%u: %d candidates, first %.2f us, "
                        "best #%d %.2f us", k->m, k->n, k->k, k->epi, n_res, first, bi, best);
}

/* Descriptors and the heuristic's best algorithm for one key (with t and GLOSSA_CUDA_GEMM_TUNE,
 * the fastest of its first candidates on the call's operands); false when a descriptor cannot be
 * made (the plan then stays without an algorithm). */
static bool plan_build(cuda_state *s, gemm_plan *p, const void *bias_ptr, const tune_args *t)
{
    const gemm_key *k = &p->key;
    cudaDataType_t dt = k->dtype == GL_DTYPE_F16 ? CUDA_R_16F : CUDA_R_16BF;
    LT_TRY(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    int32_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    LT_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    LT_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    uint32_t epi = k->epi;
    LT_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    if (epi & CUBLASLT_EPILOGUE_BIAS) {
        int32_t bt = (int32_t)dt;
        LT_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt,
                                              sizeof bt));
        LT_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_ptr,
                                              sizeof bias_ptr));
    }
    LT_TRY(cublasLtMatrixLayoutCreate(&p->a, dt, (uint64_t)k->k, (uint64_t)k->n, k->k));
    LT_TRY(cublasLtMatrixLayoutCreate(&p->b, dt, (uint64_t)k->k, (uint64_t)k->m, k->ldb));
    LT_TRY(cublasLtMatrixLayoutCreate(&p->c, dt, (uint64_t)k->n, (uint64_t)k->m, k->n));

    cublasLtMatmulPreference_t pref = NULL;
    LT_TRY(cublasLtMatmulPreferenceCreate(&pref));
    /* decode row counts: algorithms without workspace only, which rules out split-K with a
     * separate reduction kernel (measured, docs/PERF.md: batch 64 1.11 -> 1.09 ms/step, beam
     * 16 x 4 1.16 -> 1.13; in a decode chain each extra non-PDL kernel costs more than the split
     * gains) */
    uint64_t ws = k->m <= s->lt_no_ws_max_m ? 0 : s->lt_workspace_bytes;
    uint32_t aa = lin_align_bytes(k->align_a), ab = lin_align_bytes(k->align_b);
    uint32_t ac = lin_align_bytes(k->align_c);
    bool ok = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                   &ws, sizeof ws) == CUBLAS_STATUS_SUCCESS &&
              cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                   &aa, sizeof aa) == CUBLAS_STATUS_SUCCESS &&
              cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                   &ab, sizeof ab) == CUBLAS_STATUS_SUCCESS &&
              cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                   &ac, sizeof ac) == CUBLAS_STATUS_SUCCESS &&
              cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                   &ac, sizeof ac) == CUBLAS_STATUS_SUCCESS;
    cublasLtMatmulHeuristicResult_t res[GEMM_TUNE_MAX];
    memset(res, 0, sizeof res);
    int n_res = 0, want = s->gemm_tune > 1 && t && !cuda_is_recording() ? s->gemm_tune : 1;
    if (want > GEMM_TUNE_MAX) want = GEMM_TUNE_MAX;
    if (ok &&
        cublasLtMatmulAlgoGetHeuristic(s->lt, p->op, p->a, p->b, p->c, p->c, pref, want, res,
                                       &n_res) == CUBLAS_STATUS_SUCCESS &&
        n_res > 0 && res[0].state == CUBLAS_STATUS_SUCCESS) {
        p->algo = res[0].algo;
        p->have_algo = true;
        if (n_res > 1) plan_tune(s, p, res, n_res, t);
    }
    cublasLtMatmulPreferenceDestroy(pref);
    if (!p->have_algo)
        GLOSSA_LOG_WARN("cuda linear: no cuBLASLt algorithm for m=%d n=%d k=%d ldb=%d epi=%u "
                        "align a/b/c=%u/%u/%u (the slow plain kernel runs it)",
                        k->m, k->n, k->k, k->ldb, k->epi, aa, ab, ac);
    return true;
}

/* The plan for a key, built on first use; NULL only when the cache itself is missing. */
static gemm_plan *plan_get(cuda_state *s, const gemm_key *key, const void *bias_ptr,
                           const tune_args *t)
{
    gemm_cache *c = (gemm_cache *)s->gemm_cache;
    if (!c) return NULL;
    uint32_t mask = GEMM_CACHE_CAP - 1, i = (uint32_t)lin_hash(key) & mask;
    for (;; i = (i + 1) & mask) {
        gemm_plan *p = &c->slot[i];
        if (!p->used) break;
        if (memcmp(&p->key, key, sizeof *key) == 0) return p;
    }
    if (c->used >= GEMM_CACHE_CAP / 2) {
        cache_flush(c);
        i = (uint32_t)lin_hash(key) & mask;
    }
    gemm_plan *p = &c->slot[i];
    memset(p, 0, sizeof *p);
    p->key = *key;
    p->used = true;
    c->used++;
    if (!plan_build(s, p, bias_ptr, t)) {
        /* keep the key (so the failure is not retried every call) without descriptors */
        gemm_key k = p->key;
        plan_destroy(p);
        p->key = k;
        p->used = true;
    }
    return p;
}

/* D = epilogue(x W^T + beta C + bias) through cuBLASLt; false when it cannot run it. */
static bool lin_gemm(cuda_state *s, int32_t m, const void *x, int32_t xs, const gl_weight *w,
                     const void *bias, cublasLtEpilogue_t epi, const void *c, void *d)
{
    if (s->gemm_fallback) return false;
    size_t es = 2;
    gemm_key key;
    memset(&key, 0, sizeof key);
    key.m = m;
    key.n = w->rows;
    key.k = w->cols;
    key.ldb = xs;
    key.epi = (uint32_t)epi;
    key.dtype = (uint8_t)s->act_dtype;
    key.beta1 = c != NULL;
    key.align_a = lin_align(w->data, (int64_t)w->cols * es);
    key.align_b = lin_align(x, (int64_t)xs * es);
    uint8_t ad = lin_align(d, (int64_t)w->rows * es);
    uint8_t ac = c ? lin_align(c, (int64_t)w->rows * es) : ad;
    key.align_c = lin_align_bytes(ad) < lin_align_bytes(ac) ? ad : ac;
    key.align_bias = bias ? lin_align(bias, 0) : 0;
    tune_args ta = {w->data, x, c};
    gemm_plan *p = plan_get(s, &key, bias, &ta);
    if (!p || !p->have_algo) return false;
    if (bias &&
        cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                       sizeof bias) != CUBLAS_STATUS_SUCCESS)
        return false;
    float alpha = 1.0f, beta = c ? 1.0f : 0.0f;
    cublasStatus_t st = cublasLtMatmul(s->lt, p->op, &alpha, w->data, p->a, x, p->b, &beta,
                                       c ? c : d, p->c, d, p->c, &p->algo, s->lt_workspace,
                                       s->lt_workspace_bytes, s->stream);
    if (st != CUBLAS_STATUS_SUCCESS) {
        GLOSSA_LOG_WARN("cuda linear: cublasLtMatmul m=%d n=%d k=%d: %s (plain kernel instead)", m,
                        w->rows, w->cols, cublasLtGetStatusString(st));
        p->have_algo = false; /* do not try this plan again */
        return false;
    }
    return true;
}

void cuda_op_linear(backend *b, int32_t m, const void *x, int32_t x_stride, const gl_weight *w,
                    const gl_weight *bias, gl_act act, const void *residual, void *y)
{
    if (m <= 0) return;
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    int32_t n = w->rows, k = w->cols;
    const void *bp = bias ? bias->data : NULL;
    if (cuda_linear_skinny(s, m, x, x_stride, w, bp, act, residual, y)) return;
    if (cuda_linear_cluster(s, m, x, x_stride, w, bp, act, residual, y)) return;
    int64_t total = (int64_t)m * n;
    bool ok;
    if (residual && act == GL_ACT_NONE) {
        /* y = x W^T + bias + residual in one GEMM: C = residual, beta = 1 (C == D when aliased) */
        ok = lin_gemm(s, m, x, x_stride, w, bp, bp ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT,
                      residual, y);
    } else if (residual) {
        /* t = x W^T + bias, then y = act(t) + residual; t must not be the residual's memory */
        void *t = y;
        if (residual == y) {
            size_t bytes = (size_t)total * 2;
            t = cuda_grow(&s->lin_scratch, &s->lin_scratch_bytes, bytes, "linear scratch") ==
                        GLOSSA_STATUS_OK
                    ? s->lin_scratch
                    : NULL;
        }
        ok = t && lin_gemm(s, m, x, x_stride, w, bp,
                           bp ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT, NULL, t);
        if (ok) lin_post(s, y, t, residual, total, act);
    } else {
        cublasLtEpilogue_t epi = bp ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
        bool fused = act == GL_ACT_NONE;
        if (act == GL_ACT_RELU) {
            epi = bp ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
            fused = true;
        } else if (act == GL_ACT_GELU_TANH) {
            epi = bp ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
            fused = true;
        }
        ok = lin_gemm(s, m, x, x_stride, w, bp, epi, NULL, y);
        if (ok && !fused) lin_post(s, y, y, NULL, total, act); /* exact GELU, SiLU */
    }
    if (ok) return;
    if (s->act_dtype == GL_DTYPE_F16)
        lin_fallback<__half>(s, m, n, k, x, x_stride, w->data, bp, act, residual, y);
    else
        lin_fallback<__nv_bfloat16>(s, m, n, k, x, x_stride, w->data, bp, act, residual, y);
}

glossa_status cuda_linear_init(cuda_state *s)
{
    if (cublasLtCreate(&s->lt) != CUBLAS_STATUS_SUCCESS) {
        s->lt = NULL;
        return glossa_error(GLOSSA_STATUS_INTERNAL, "cuda: cublasLtCreate failed");
    }
    GLOSSA_TRY(cuda_grow(&s->lt_workspace, &s->lt_workspace_bytes, CUDA_LT_WORKSPACE_BYTES,
                         "cuBLASLt workspace"));
    s->gemm_cache = calloc(1, sizeof(gemm_cache));
    if (!s->gemm_cache)
        return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "cuda: GEMM plan cache");
    const char *env = getenv("GLOSSA_CUDA_GEMM_FALLBACK");
    s->gemm_fallback = env && env[0] == '1';
    env = getenv("GLOSSA_CUDA_GEMM_TUNE");
    s->gemm_tune = env ? atoi(env) : 0;
    env = getenv("GLOSSA_CUDA_GEMM_TUNE_LOG");
    s->gemm_tune_log = env && env[0] == '1';
    env = getenv("GLOSSA_CUDA_SKINNY");
    s->skinny_off = s->gemm_fallback || (env && env[0] == '0');
    env = getenv("GLOSSA_CUDA_SKINNY_M");
    s->skinny_max_m = env ? atoi(env) : SK_DEFAULT_M;
    if (s->skinny_max_m > SK_MAX_M) s->skinny_max_m = SK_MAX_M;
    env = getenv("GLOSSA_CUDA_KV_FUSE");
    s->kv_fuse_off = env && env[0] == '0';
    env = getenv("GLOSSA_CUDA_STACK");
    s->ds_off = env && env[0] == '0';
    env = getenv("GLOSSA_CUDA_STACK_TRACE");
    s->ds_trace = env && env[0] == '1';
    env = getenv("GLOSSA_CUDA_LT_NO_WS_M");
    s->lt_no_ws_max_m = env ? atoi(env) : CUDA_LT_NO_WS_M;
    env = getenv("GLOSSA_CUDA_L2_PREFETCH");
    s->pf_off = env && env[0] == '0';
    cuda_linear_cluster_init(s);
    return GLOSSA_STATUS_OK;
}

void cuda_linear_release(cuda_state *s)
{
    if (s->gemm_cache) {
        cache_flush((gemm_cache *)s->gemm_cache);
        free(s->gemm_cache);
        s->gemm_cache = NULL;
    }
    if (s->lt) cublasLtDestroy(s->lt);
    s->lt = NULL;
    cudaFree(s->lt_workspace);
    s->lt_workspace = NULL;
    s->lt_workspace_bytes = 0;
    cudaFree(s->lin_scratch);
    s->lin_scratch = NULL;
    s->lin_scratch_bytes = 0;
    cudaFree(s->tune_scratch);
    s->tune_scratch = NULL;
    s->tune_scratch_bytes = 0;
}
