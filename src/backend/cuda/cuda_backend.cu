/* The CUDA backend: op table, device memory, transfers, weights (see backend.h for the contracts).
 *
 * One stream per backend; every op is ordered on it and none waits for the device, except
 * download, download_f32 and argmax (they hand results to the host) and weight_from_host (load
 * time: the caller may free its host tensor on return). Host buffers given to upload / upload_f32
 * are consumed before the call returns when they are ordinary (pageable) memory; pinned buffers
 * must stay untouched until the next sync.
 *
 * Conversions (f32 <-> act dtype, weight dtypes) run on the device through a fixed 16 MiB staging
 * buffer, chunk by chunk; the chunks reuse it in stream order, so the host never waits between
 * them. Ops that cannot return a status record their first CUDA error (cuda_note); download,
 * download_f32, argmax and sync report it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "core/log.h"

glossa_status cuda_check(cudaError_t err, const char *what)
{
    if (err == cudaSuccess) return GLOSSA_STATUS_OK;
    cudaGetLastError(); /* clear a non-sticky error so later calls do not see it again */
    return glossa_error(err == cudaErrorMemoryAllocation ? GLOSSA_STATUS_OUT_OF_MEMORY
                                                         : GLOSSA_STATUS_INTERNAL,
                        "cuda: %s: %s", what, cudaGetErrorString(err));
}

bool cuda_note(cuda_state *s, cudaError_t err, const char *what)
{
    if (err == cudaSuccess) return true;
    if (s->sticky_err == cudaSuccess) {
        s->sticky_err = err;
        s->sticky_what = what;
        GLOSSA_LOG_ERROR("cuda: %s: %s", what, cudaGetErrorString(err));
    }
    return false;
}

glossa_status cuda_sticky_status(cuda_state *s)
{
    if (s->sticky_err == cudaSuccess) return GLOSSA_STATUS_OK;
    return glossa_error(GLOSSA_STATUS_INTERNAL, "cuda: an earlier op failed: %s: %s",
                        s->sticky_what ? s->sticky_what : "?", cudaGetErrorString(s->sticky_err));
}

static uint64_t g_mem_epoch = 1; /* process-wide: over-invalidating is harmless */
static __thread bool g_recording;  /* this thread records a graph (cuda_graph.cu) */

bool cuda_is_recording(void)
{
    return g_recording;
}

void cuda_set_recording(bool on)
{
    g_recording = on;
}

uint64_t cuda_mem_epoch(void)
{
    return __atomic_load_n(&g_mem_epoch, __ATOMIC_RELAXED);
}

glossa_status cuda_grow(void **p, size_t *cap, size_t bytes, const char *what)
{
    if (*p && *cap >= bytes) return GLOSSA_STATUS_OK;
    if (g_recording)
        return glossa_error(GLOSSA_STATUS_INTERNAL, "cuda: %s would grow while recording a graph",
                            what);
    __atomic_add_fetch(&g_mem_epoch, 1, __ATOMIC_RELAXED);
    if (*p) cudaFree(*p); /* synchronises the device: growth is rare */
    *p = NULL;
    *cap = 0;
    void *q = NULL;
    cudaError_t e = cudaMalloc(&q, bytes ? bytes : 1);
    if (e != cudaSuccess) return cuda_check(e, what);
    *p = q;
    *cap = bytes;
    return GLOSSA_STATUS_OK;
}

/* ---- conversions ---- */

template <typename D, typename S> __global__ void convert_kernel(D *dst, const S *src, size_t n)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        dst[i] = gl_cu_from_f32<D>(gl_cu_f32(src[i]));
}

template <typename D, typename S>
static void convert_launch(cuda_state *s, void *dst, const void *src, size_t n)
{
    size_t blocks = (n + 255) / 256, cap = (size_t)s->sm_count * 16;
    if (blocks > cap) blocks = cap;
    convert_kernel<D, S><<<(unsigned)blocks, 256, 0, s->stream>>>((D *)dst, (const S *)src, n);
}

template <typename D>
static void convert_from(cuda_state *s, void *dst, const void *src, gl_dtype src_t, size_t n)
{
    if (src_t == GL_DTYPE_F32) convert_launch<D, float>(s, dst, src, n);
    else if (src_t == GL_DTYPE_F16) convert_launch<D, __half>(s, dst, src, n);
    else convert_launch<D, __nv_bfloat16>(s, dst, src, n);
}

void cuda_convert(cuda_state *s, void *dst, gl_dtype dst_t, const void *src, gl_dtype src_t,
                  size_t n)
{
    if (n == 0) return;
    if (dst_t == src_t) {
        cuda_note(s, cudaMemcpyAsync(dst, src, n * gl_dtype_size(src_t), cudaMemcpyDeviceToDevice,
                                     s->stream),
                  "convert (copy)");
        return;
    }
    if (dst_t == GL_DTYPE_F32) convert_from<float>(s, dst, src, src_t, n);
    else if (dst_t == GL_DTYPE_F16) convert_from<__half>(s, dst, src, src_t, n);
    else convert_from<__nv_bfloat16>(s, dst, src, src_t, n);
    cuda_note(s, cudaGetLastError(), "convert");
}

/* ---- memory and transfers ---- */

static void cu_destroy(backend *b)
{
    if (!b) return;
    cuda_state *s = cuda_state_of(b);
    if (s) {
        cuda_bind(s);
        if (s->stream) cudaStreamSynchronize(s->stream);
        cuda_graph_release(s);
        cuda_attention_release(s);
        cuda_linear_release(s);
        cuda_misc_release(s);
        cuda_beam_release(s);
        cuda_decoder_stack_release(s);
        cuda_lm_argmax_release(s);
        cuda_lm_int8_release(s);
        cudaFree(s->staging);
        if (s->stream) cudaStreamDestroy(s->stream);
        free(s);
    }
    free(b);
}

static glossa_status cu_alloc(backend *b, size_t bytes, void **out)
{
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    *out = NULL;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "cuda: cannot allocate %zu bytes: %s",
                            bytes, cudaGetErrorString(e));
    }
    *out = p;
    return GLOSSA_STATUS_OK;
}

static void cu_free(backend *b, void *p)
{
    if (!p) return;
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    cuda_lm_int8_forget(s, p); /* no shadow outlives its weight */
    cudaFree(p);
    cuda_pf_forget(s, p); /* a buffer used as a weight must not be prefetched once freed */
}

static glossa_status cu_mem_info(backend *b, size_t *free_bytes, size_t *total_bytes)
{
    cuda_bind(cuda_state_of(b));
    return cuda_check(cudaMemGetInfo(free_bytes, total_bytes), "cudaMemGetInfo");
}

static glossa_status cu_upload(backend *b, void *dst, const void *src, size_t bytes)
{
    if (bytes == 0) return GLOSSA_STATUS_OK;
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    return cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s->stream),
                      "upload");
}

static glossa_status cu_download(backend *b, void *dst, const void *src, size_t bytes)
{
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    return cuda_download_small(s, dst, src, bytes, "download");
}

static void cu_sync(backend *b)
{
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    cuda_note(s, cudaStreamSynchronize(s->stream), "sync");
}

static glossa_status cu_download_f32(backend *b, float *dst, const void *src, size_t n)
{
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    size_t chunk = CUDA_STAGING_BYTES / sizeof(float), es = gl_dtype_size(s->act_dtype);
    for (size_t off = 0; off < n; off += chunk) {
        size_t cnt = n - off < chunk ? n - off : chunk;
        cuda_convert(s, s->staging, GL_DTYPE_F32, (const char *)src + off * es, s->act_dtype, cnt);
        GLOSSA_TRY(cuda_check(cudaMemcpyAsync(dst + off, s->staging, cnt * sizeof(float),
                                              cudaMemcpyDeviceToHost, s->stream),
                              "download_f32"));
    }
    GLOSSA_TRY(cuda_check(cudaStreamSynchronize(s->stream), "download_f32 (sync)"));
    return cuda_sticky_status(s);
}

static glossa_status cu_upload_f32(backend *b, void *dst, const float *src, size_t n)
{
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    size_t chunk = CUDA_STAGING_BYTES / sizeof(float), es = gl_dtype_size(s->act_dtype);
    for (size_t off = 0; off < n; off += chunk) {
        size_t cnt = n - off < chunk ? n - off : chunk;
        GLOSSA_TRY(cuda_check(cudaMemcpyAsync(s->staging, src + off, cnt * sizeof(float),
                                              cudaMemcpyHostToDevice, s->stream),
                              "upload_f32"));
        cuda_convert(s, (char *)dst + off * es, s->act_dtype, s->staging, GL_DTYPE_F32, cnt);
    }
    return GLOSSA_STATUS_OK;
}

/* ---- weights ---- */

static glossa_status cu_weight_from_host(backend *b, const void *src, gl_dtype src_dtype,
                                         int32_t rows, int32_t cols, gl_weight *out)
{
    memset(out, 0, sizeof *out);
    cuda_state *s = cuda_state_of(b);
    if (!src || rows <= 0 || cols <= 0 || gl_dtype_size(src_dtype) == 0)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "cuda: bad weight (%d x %d, dtype %d)",
                            rows, cols, (int)src_dtype);
    cuda_bind(s);
    size_t n = (size_t)rows * (size_t)cols, es = gl_dtype_size(s->act_dtype);
    size_t cap = (size_t)gl_weight_rows_padded(rows) * (size_t)cols; /* pad rows: zero */
    size_t ses = gl_dtype_size(src_dtype);
    void *d = NULL;
    cudaError_t e = cudaMalloc(&d, cap * es);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "cuda: cannot allocate a %d x %d weight",
                            rows, cols);
    }
    glossa_status st = GLOSSA_STATUS_OK;
    if (cap > n)
        st = cuda_check(cudaMemsetAsync((char *)d + n * es, 0, (cap - n) * es, s->stream),
                        "weight upload (pad rows)");
    if (st != GLOSSA_STATUS_OK) {
    } else if (src_dtype == s->act_dtype) {
        st = cuda_check(cudaMemcpyAsync(d, src, n * es, cudaMemcpyHostToDevice, s->stream),
                        "weight upload");
    } else {
        size_t chunk = CUDA_STAGING_BYTES / ses;
        for (size_t off = 0; off < n && st == GLOSSA_STATUS_OK; off += chunk) {
            size_t cnt = n - off < chunk ? n - off : chunk;
            st = cuda_check(cudaMemcpyAsync(s->staging, (const char *)src + off * ses, cnt * ses,
                                            cudaMemcpyHostToDevice, s->stream),
                            "weight upload");
            if (st == GLOSSA_STATUS_OK)
                cuda_convert(s, (char *)d + off * es, s->act_dtype, s->staging, src_dtype, cnt);
        }
    }
    if (st == GLOSSA_STATUS_OK)
        st = cuda_check(cudaStreamSynchronize(s->stream), "weight upload (sync)");
    if (st == GLOSSA_STATUS_OK) st = cuda_sticky_status(s);
    if (st != GLOSSA_STATUS_OK) {
        cudaFree(d);
        return st;
    }
    out->data = d;
    out->rows = rows;
    out->cols = cols;
    out->dtype = s->act_dtype;
    return GLOSSA_STATUS_OK;
}

static void cu_weight_free(backend *b, gl_weight *w)
{
    if (!w) return;
    if (w->data) {
        cuda_state *s = cuda_state_of(b);
        cuda_bind(s);
        cuda_lm_int8_forget(s, w->data); /* no shadow outlives its weight */
        cudaFree(w->data);
        cuda_pf_forget(s, w->data); /* the prefetch map must never name freed memory */
    }
    memset(w, 0, sizeof *w);
}

/* Positional (C++17 has no designated initializers): the order of backend_ops. */
static const backend_ops cuda_ops = {
    "cuda",                     /* name */
    cu_destroy,                 /* destroy */
    cu_alloc,                   /* alloc */
    cu_free,                    /* free */
    cu_upload,                  /* upload */
    cu_download,                /* download */
    cu_sync,                    /* sync */
    cu_download_f32,            /* download_f32 */
    cu_upload_f32,              /* upload_f32 */
    cu_weight_from_host,        /* weight_from_host */
    cu_weight_free,             /* weight_free */
    cuda_op_embed,              /* embed */
    cuda_op_linear,             /* linear */
    cuda_op_layernorm,          /* layernorm */
    cuda_op_add,                /* add */
    cuda_op_attention,          /* attention */
    cuda_op_attention_paged,    /* attention_paged */
    cuda_op_kv_write,           /* kv_write */
    cuda_op_kv_copy_blocks,     /* kv_copy_blocks */
    cuda_op_gather_rows,        /* gather_rows */
    cuda_op_argmax,             /* argmax */
    cuda_op_beam_topk,          /* beam_topk */
    cuda_op_graph_begin,        /* graph_begin */
    cuda_op_graph_end,          /* graph_end */
    cuda_op_graph_launch,       /* graph_launch */
    cuda_op_graph_free,         /* graph_free */
    cuda_op_graph_epoch,        /* graph_epoch */
    cu_mem_info,                /* mem_info */
    cuda_op_linear_kv,          /* linear_kv */
    cuda_op_attention_paged_kv, /* attention_paged_kv */
    cuda_op_decoder_stack,      /* decoder_stack */
    cuda_op_linear_argmax,      /* linear_argmax */
    cuda_op_download_begin,     /* download_begin */
    cuda_op_download_end,       /* download_end */
};

extern "C" int backend_cuda_device_count(void)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n > 0 ? n : 0;
}

static glossa_status cu_init_state(cuda_state *s, int device)
{
    GLOSSA_TRY(cuda_check(cudaSetDevice(device), "cudaSetDevice"));
    GLOSSA_TRY(cuda_check(cudaDeviceGetAttribute(&s->sm_count, cudaDevAttrMultiProcessorCount,
                                                 device),
                          "multiprocessor count"));
    if (s->sm_count < 1) s->sm_count = 1;
    GLOSSA_TRY(cuda_check(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking),
                          "cudaStreamCreate"));
    size_t cap = 0;
    GLOSSA_TRY(cuda_grow(&s->staging, &cap, CUDA_STAGING_BYTES, "staging buffer"));
    const char *env = getenv("GLOSSA_CUDA_PDL");
    s->pdl = !(env && env[0] == '0');
    env = getenv("GLOSSA_CUDA_LN_WARP");
    s->ln_warp_off = env && env[0] == '0';
    s->gt_on = -1; /* GLOSSA_CUDA_GRAPH_TIMING read at the first replay */
    cuda_lm_argmax_init(s);
    cuda_lm_int8_init(s);
    return cuda_linear_init(s);
}

extern "C" glossa_status backend_cuda_create(int device, gl_dtype act_dtype, backend **out)
{
    if (!out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "cuda: out is NULL");
    *out = NULL;
    if (act_dtype != GL_DTYPE_F16 && act_dtype != GL_DTYPE_BF16)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT,
                            "cuda: activation dtype must be F16 or BF16, not %s",
                            gl_dtype_name(act_dtype));
    int count = backend_cuda_device_count();
    if (device < 0 || device >= count)
        return glossa_error(GLOSSA_STATUS_NOT_FOUND, "cuda: no device %d (%d found)", device,
                            count);
    backend *b = (backend *)calloc(1, sizeof *b);
    cuda_state *s = (cuda_state *)calloc(1, sizeof *s);
    if (!b || !s) {
        free(b);
        free(s);
        return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "cuda backend: out of memory");
    }
    s->device = device;
    s->act_dtype = act_dtype;
    b->ops = &cuda_ops;
    b->act_dtype = act_dtype;
    b->n_threads = 1;
    b->impl = s;
    glossa_status st = cu_init_state(s, device);
    if (st != GLOSSA_STATUS_OK) {
        cu_destroy(b);
        return glossa_error_prefix(st, "cuda backend on device %d: ", device);
    }
    *out = b;
    return GLOSSA_STATUS_OK;
}
