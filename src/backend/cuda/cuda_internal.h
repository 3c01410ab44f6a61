/* Shared state and cross-file declarations of the CUDA backend (CUDA C++ translation units only).
 * The op table lives in cuda_backend.cu; each op family has its own .cu file. */
#ifndef GLOSSA_BACKEND_CUDA_INTERNAL_H
#define GLOSSA_BACKEND_CUDA_INTERNAL_H

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "backend/backend.h"
#include "core/status.h"

#define CUDA_PF_MAX 512 /* weights the prefetch map remembers */

/* One weight of the skinny kernel's learned L2 prefetch map (cuda_state.pf). */
typedef struct cuda_pf_entry {
    const void *w, *next; /* the weight, and the one the following linear read last time */
    int64_t next_bytes;
} cuda_pf_entry;

struct cuda_l8; /* cuda_lm_int8.cu: the lm_head's int8 shadow and its scratch */

#define CUDA_GT_RING 8 /* GLOSSA_CUDA_GRAPH_TIMING: replays in flight before one is read */

typedef struct cuda_state {
    int device;
    int sm_count;
    cudaStream_t stream;          /* every op is ordered on this stream */
    cublasLtHandle_t lt;
    void *lt_workspace;           /* cuBLASLt workspace */
    size_t lt_workspace_bytes;
    void *gemm_cache;             /* cuda_linear.cu: heuristics per (m, n, k, epilogue) */
    void *attn_scratch;           /* cuda_attention.cu: split-K partials, grown on demand */
    size_t attn_scratch_bytes;
    /* cuda_backend.cu */
    gl_dtype act_dtype;           /* F16 or BF16 */
    void *staging;                /* CUDA_STAGING_BYTES of device memory: f32 <-> act conversions,
                                     weight uploads (stream-ordered reuse, never host-waited) */
    cudaError_t sticky_err;       /* first failure of an op that cannot return a status */
    const char *sticky_what;
    /* cuda_linear.cu */
    void *lin_scratch;            /* pre-activation tile when y aliases the residual and act != NONE */
    size_t lin_scratch_bytes;
    bool gemm_fallback;           /* GLOSSA_CUDA_GEMM_FALLBACK=1: the plain kernel, no cuBLASLt */
    int gemm_tune;                /* cuBLASLt candidates timed per new shape (GLOSSA_CUDA_GEMM_TUNE;
                                     <= 1: the heuristic's first) */
    bool gemm_tune_log;           /* GLOSSA_CUDA_GEMM_TUNE_LOG=1: log each tuned shape */
    int32_t lt_no_ws_max_m;       /* up to this many rows cuBLASLt gets no workspace (no split-K
                                     reduction kernel): GLOSSA_CUDA_LT_NO_WS_M, 0: always some */
    void *tune_scratch;           /* the tuned calls' D */
    size_t tune_scratch_bytes;
    bool pdl;                     /* programmatic dependent launch (GLOSSA_CUDA_PDL=0: off) */
    bool ln_warp_off;             /* GLOSSA_CUDA_LN_WARP=0: layer norms in the block forms only */
    /* cuda_graph.cu: GLOSSA_CUDA_GRAPH_TIMING=1 */
    int gt_on;                    /* -1: not yet read */
    cudaEvent_t gt_ev[CUDA_GT_RING][2]; /* start, end of the last CUDA_GT_RING replays */
    long gt_launches;                   /* replays recorded (slot: launches % CUDA_GT_RING) */
    long gt_taken;                      /* replays read back */
    double gt_ms, gt_gap_ms;            /* device time of the replays; idle before them */
    long gt_n, gt_gaps;
    /* cuda_linear_skinny.cu */
    bool skinny_off;              /* GLOSSA_CUDA_SKINNY=0: cuBLASLt for every m */
    int32_t skinny_max_m;         /* rows up to which the skinny kernel runs (GLOSSA_CUDA_SKINNY_M) */
    bool kv_fuse_off;             /* linear_kv declines (linear + kv_write): GLOSSA_CUDA_KV_FUSE=0 */
    bool lc_ok;                   /* cuda_linear_cluster.cu runs here (GLOSSA_CUDA_CLUSTER=0: off) */
    /* the weight each skinny launch's blocks fetch into L2 before their wait: the one that followed
     * it last time (decode passes repeat one sequence of linears), learned per weight pointer;
     * a freed pointer leaves it (cuda_pf_forget). GLOSSA_CUDA_L2_PREFETCH=0: off. */
    cuda_pf_entry pf[CUDA_PF_MAX];
    int32_t pf_n;
    const void *pf_last;
    bool pf_off;
    /* cuda_misc.cu */
    void *argmax_scratch;         /* per-chunk (value, index) partials */
    size_t argmax_scratch_bytes;
    void *argmax_ids;             /* the argmax op's ids on the device */
    size_t argmax_ids_bytes;
    int32_t *argmax_host;         /* pinned bounce buffer of small downloads (argmax_host_n ints) */
    size_t argmax_host_n;
    void *async_host;     /* download_begin's pinned buffer (GL_ASYNC_DOWNLOAD_MAX) */
    cudaEvent_t async_ev; /* recorded behind download_begin's copy */
    /* cuda_lm_argmax.cu */
    void *la_scratch;             /* per-block (value, index) partials, then the blocks' counter */
    size_t la_scratch_bytes;
    bool la_off;                  /* GLOSSA_CUDA_LM_ARGMAX=0: the linear_argmax op declines */
    int32_t la_min_m, la_max_m;   /* rows the fused kernel runs for (GLOSSA_CUDA_LM_ARGMAX_MIN /
                                     _MAX; else: linear + the argmax kernels) */
    /* cuda_lm_int8.cu */
    struct cuda_l8 *l8;           /* the shadow of one lm_head weight (NULL: none yet) */
    bool l8_off;                  /* GLOSSA_CUDA_LM_INT8=0, or no memory for the shadow */
    int32_t l8_min_n;             /* columns from which it is used (GLOSSA_CUDA_LM_INT8_MIN_N) */
    bool l8_wg;                   /* its pass 1 on wgmma (sm_90a; GLOSSA_CUDA_LM_INT8_WG=0: off) */
    unsigned char l8_tmap[128];   /* its shadow's tensor map (a CUtensorMap), for l8_tmap_src */
    const void *l8_tmap_src;
    int64_t l8_tmap_rows, l8_tmap_k;
    /* cuda_beam.cu */
    void *beam_dev;               /* beam_topk: uploaded descriptors and the passes' buffers */
    size_t beam_dev_bytes;
    void *beam_host;              /* beam_topk: descriptors to upload, result keys */
    size_t beam_host_bytes;
    bool beam_host_pinned;        /* beam_host from cudaMallocHost (else malloc) */
    /* cuda_decoder_stack.cu */
    void *ds_dev;                 /* layer descriptors, then the phase counters */
    size_t ds_dev_bytes;
    void *ds_host;                /* the descriptors last uploaded (ds_n of them) */
    int32_t ds_n;
    bool ds_off;                  /* GLOSSA_CUDA_STACK=0, or the kernel cannot be resident */
    bool ds_attr_done;
    bool ds_trace;                /* GLOSSA_CUDA_STACK_TRACE=1: print the last launch's phases */
    long ds_calls;
} cuda_state;

#define CUDA_STAGING_BYTES ((size_t)16 << 20)
#define CUDA_LT_WORKSPACE_BYTES ((size_t)32 << 20)
#define CUDA_LT_NO_WS_M 128 /* rows up to which cuBLASLt runs without workspace (decode steps) */

static inline cuda_state *cuda_state_of(backend *b)
{
    return (cuda_state *)b->impl;
}

/* Make the backend's device current on the calling thread (a no-op when it already is). */
static inline void cuda_bind(cuda_state *s)
{
    int cur = -1;
    if (cudaGetDevice(&cur) != cudaSuccess || cur != s->device) cudaSetDevice(s->device);
}

/* A CUDA error as a glossa_status with a message naming the call. */
glossa_status cuda_check(cudaError_t err, const char *what);

/* cuda_attention.cu: the two attention ops of backend_ops (same contracts as backend.h). */
extern "C" void cuda_op_attention(backend *b, int32_t n_seqs, int32_t n_heads, int32_t head_dim,
                                  const void *q, int32_t q_stride, const void *k, const void *v,
                                  int32_t kv_stride, const int32_t *q_off, const int32_t *k_off,
                                  bool causal, float scale, void *out);
extern "C" void cuda_op_attention_paged(backend *b, int32_t n_seqs, const void *q,
                                        int32_t q_stride, const int32_t *q_off,
                                        const gl_kv_view *kv, const int32_t *kv_lens, bool causal,
                                        float scale, void *out);
extern "C" bool cuda_op_attention_paged_kv(backend *b, int32_t n_seqs, const void *q,
                                           int32_t q_stride, const int32_t *q_off,
                                           const void *k_new, const void *v_new,
                                           int32_t kv_stride, const int32_t *slot_mapping,
                                           const gl_kv_view *kv, const int32_t *kv_lens,
                                           float scale, void *out);
/* Free cuda_attention.cu's scratch (called by destroy). */
void cuda_attention_release(cuda_state *s);

/* Record the first error of an op that cannot return one (kernel launches, cuBLASLt calls); it is
 * logged once and returned by the next download / download_f32 / argmax. Returns err == success. */
bool cuda_note(cuda_state *s, cudaError_t err, const char *what);
/* The recorded error, as a status (OK when none). */
glossa_status cuda_sticky_status(cuda_state *s);
/* Make sure *p holds at least `bytes` of device memory (grows, never shrinks; contents lost).
 * Growing changes cuda_mem_epoch() (recorded graphs point at the old memory); refused while
 * recording a graph. */
glossa_status cuda_grow(void **p, size_t *cap, size_t bytes, const char *what);
uint64_t cuda_mem_epoch(void);
void cuda_set_recording(bool on); /* cuda_graph.cu: this thread records a graph */
bool cuda_is_recording(void);

/* cuda_graph.cu: the graph ops of backend_ops */
glossa_status cuda_op_graph_begin(backend *b);
glossa_status cuda_op_graph_end(backend *b, void **out);
glossa_status cuda_op_graph_launch(backend *b, void *graph);
/* Log and free GLOSSA_CUDA_GRAPH_TIMING's figures (backend destroy). */
void cuda_graph_release(cuda_state *s);
void cuda_op_graph_free(backend *b, void *graph);
uint64_t cuda_op_graph_epoch(backend *b);

/* cuda_linear.cu */
glossa_status cuda_linear_init(cuda_state *s);
void cuda_linear_release(cuda_state *s);
void cuda_op_linear(backend *b, int32_t m, const void *x, int32_t x_stride, const gl_weight *w,
                    const gl_weight *bias, gl_act act, const void *residual, void *y);

/* cuda_linear_skinny.cu: the linear op for m <= skinny_max_m rows (a weight-streaming GEMM);
 * false (nothing launched) when the call does not meet its preconditions. */
#define SK_MAX_M 32
#define SK_DEFAULT_M 32 /* measured (H100, docs/PERF.md): 24 rows 0.908 -> 0.857 ms/step, 32 even */
bool cuda_linear_skinny(cuda_state *s, int32_t m, const void *x, int32_t x_stride,
                        const gl_weight *w, const void *bias, gl_act act, const void *residual,
                        void *y);
/* cuda_linear_cluster.cu: the linear op for 33-64 rows (a split-K wgmma GEMM per thread-block
 * cluster, sm_90a); false (nothing launched) outside its preconditions. _init sets s->lc_ok. */
bool cuda_linear_cluster(cuda_state *s, int32_t m, const void *x, int32_t x_stride,
                         const gl_weight *w, const void *bias, gl_act act, const void *residual,
                         void *y);
void cuda_linear_cluster_init(cuda_state *s);
/* Drop p from the skinny kernel's learned L2 prefetch map (cuda_state.pf): called when device
 * memory is freed. */
void cuda_pf_forget(cuda_state *s, const void *p);

/* The linear_kv op (backend.h) through the skinny kernel; false (nothing launched) when the call
 * is outside the kernel's preconditions or GLOSSA_CUDA_KV_FUSE=0. */
bool cuda_op_linear_kv(backend *b, int32_t m, const void *x, int32_t x_stride, const gl_weight *w,
                       const gl_weight *bias, int32_t kv_col, const int32_t *slot_mapping,
                       const gl_kv_view *kv, void *y);

/* cuda_norm.cu */
void cuda_op_layernorm(backend *b, int32_t m, void *x, const void *r, const gl_weight *gamma,
                       const gl_weight *beta, float eps, void *y);
void cuda_op_add(backend *b, int64_t n, const void *x, const void *r, void *y);

/* cuda_misc.cu */
void cuda_op_embed(backend *b, int32_t m, const int32_t *ids, const int32_t *positions,
                   const gl_weight *tok, const gl_weight *pos, float scale, void *y);
void cuda_op_gather_rows(backend *b, int32_t m, int32_t d, const void *x, const int32_t *rows,
                         void *y);
glossa_status cuda_op_argmax(backend *b, int32_t m, int32_t n, int32_t ld, const void *x,
                             int32_t *out);
/* The argmax kernels alone: ids[i] (device) = the argmax of row i's first n of ld columns. */
glossa_status cuda_argmax_launch(cuda_state *s, int32_t m, int32_t n, int32_t ld, const void *x,
                                 int32_t *ids);
/* bytes at src (device) to dst (host), through a pinned bounce buffer up to CUDA_SMALL_DOWNLOAD
 * bytes; waits for the stream and returns any recorded error. */
#define CUDA_SMALL_DOWNLOAD ((size_t)64 << 10)
glossa_status cuda_download_small(cuda_state *s, void *dst, const void *src, size_t bytes,
                                  const char *what);
/* The download_begin / download_end ops (backend.h). */
glossa_status cuda_op_download_begin(backend *b, const void *src, size_t bytes);
glossa_status cuda_op_download_end(backend *b, void *dst, size_t bytes);
void cuda_op_kv_write(backend *b, int32_t n, const void *k, const void *v, int32_t kv_stride,
                      const int32_t *slot_mapping, const gl_kv_view *kv);
void cuda_op_kv_copy_blocks(backend *b, int32_t n_views, const gl_kv_view *views, int32_t n,
                            const int32_t *src, const int32_t *dst);
void cuda_misc_release(cuda_state *s);

/* cuda_lm_argmax.cu: the linear_argmax op (backend.h); release frees its scratch. */
bool cuda_op_linear_argmax(backend *b, int32_t m, const void *x, int32_t x_stride,
                           const gl_weight *w, const gl_weight *bias, int32_t n_valid, void *y,
                           bool keep_y, int32_t *ids);
void cuda_lm_argmax_init(cuda_state *s);
void cuda_lm_argmax_release(cuda_state *s);

/* cuda_lm_int8.cu: linear_argmax's ids-only calls at 1-8 rows through an int8 shadow of the
 * weight, exact (see the file); false (nothing launched) when the call is outside its
 * preconditions or the shadow cannot be built now (e.g. while recording). forget: the weight at p
 * is being freed. */
bool cuda_lm_int8_argmax(cuda_state *s, int32_t m, const void *x, int32_t x_stride,
                         const gl_weight *w, const void *bias, int32_t n_valid, int32_t *ids);
void cuda_lm_int8_forget(cuda_state *s, const void *p);
void cuda_lm_int8_init(cuda_state *s);
void cuda_lm_int8_release(cuda_state *s);

/* cuda_decoder_stack.cu: the decoder_stack op (backend.h); release frees its buffers. */
extern "C" bool cuda_op_decoder_stack(backend *b, const gl_dec_stack *st);
void cuda_decoder_stack_release(cuda_state *s);

/* cuda_beam.cu */
glossa_status cuda_op_beam_topk(backend *b, int32_t m, int32_t n, int32_t ld, const void *x,
                                int32_t n_groups, const gl_beam_group *groups);
void cuda_beam_release(cuda_state *s);

/* cuda_backend.cu: dst[i] = src[i] converted (F32 / F16 / BF16 either way), n elements, on the
 * stream. */
void cuda_convert(cuda_state *s, void *dst, gl_dtype dst_t, const void *src, gl_dtype src_t,
                  size_t n);

/* ---- device helpers shared by the .cu files: act dtype <-> fp32 ---- */
static __device__ __forceinline__ float gl_cu_f32(__half v)
{
    return __half2float(v);
}
static __device__ __forceinline__ float gl_cu_f32(__nv_bfloat16 v)
{
    return __bfloat162float(v);
}
static __device__ __forceinline__ float gl_cu_f32(float v)
{
    return v;
}
template <typename T> __device__ __forceinline__ T gl_cu_from_f32(float v);
template <> __device__ __forceinline__ __half gl_cu_from_f32<__half>(float v)
{
    return __float2half_rn(v);
}
template <> __device__ __forceinline__ __nv_bfloat16 gl_cu_from_f32<__nv_bfloat16>(float v)
{
    return __float2bfloat16_rn(v);
}
template <> __device__ __forceinline__ float gl_cu_from_f32<float>(float v)
{
    return v;
}

/* ---- programmatic dependent launch (sm_90) ----
 * A kernel launched by cuda_launch_pdl may start while the kernel before it on the stream is
 * still running: it must call cuda_pdl_wait() before it reads anything earlier kernels wrote.
 * Before the wait it may read what no kernel of the chain writes: weights; the index arrays the
 * host uploads before a pass (offsets, lengths, block tables, slot mappings: an upload is a full
 * stream dependency, so every kernel after it starts after it and after all work before it); and
 * cached K/V a gl_kv_view marks prior. Since every kernel triggers first thing, a kernel's pre-wait
 * part may run beside several earlier kernels of the chain, not only the one before it.
 * cuda_pdl_trigger() lets the next such kernel start; kernels of the decode chain call it first
 * thing. The wait waits for the whole previous grid and its memory, and that grid waited for its
 * own predecessor, so everything earlier is visible too.
 * Launched without the attribute (GLOSSA_CUDA_PDL=0, or a plain <<< >>> launch) both are no-ops
 * in effect: the kernel starts after the previous one ended. */
static __device__ __forceinline__ void cuda_pdl_wait()
{
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
}
static __device__ __forceinline__ void cuda_pdl_trigger()
{
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
}

template <typename... KArgs, typename... Args>
static inline void cuda_launch_pdl(cuda_state *s, void (*kernel)(KArgs...), dim3 grid, dim3 block,
                                   size_t smem, const char *what, Args... args)
{
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = s->stream;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = s->pdl ? 1 : 0;
    cuda_note(s, cudaLaunchKernelEx(&cfg, kernel, args...), what);
}

/* The address allows 16-byte vector accesses. */
static inline bool cuda_aligned16(const void *p)
{
    return ((uintptr_t)p & 15u) == 0;
}

#endif
