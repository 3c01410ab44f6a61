/* The CPU backend: op table, host memory, weights. Device memory is host memory, activations and
 * weights are F32; compute ops live in cpu_linear.c, cpu_norm.c, cpu_attention.c, cpu_misc.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"
#include "core/half.h"
#include "core/status.h"

void *cpu_aligned_alloc(size_t bytes)
{
    if (bytes == 0) bytes = 1;
    if (bytes > SIZE_MAX - CPU_ALIGN) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, CPU_ALIGN, (bytes + CPU_ALIGN - 1) / CPU_ALIGN * CPU_ALIGN) != 0)
        return NULL;
    return p;
}

static void cpu_destroy(backend *b)
{
    cpu_state *st = cpu_of(b);
    if (st) {
        if (st->attn)
            for (int i = 0; i < st->n_threads; i++) cpu_attn_scratch_free(&st->attn[i]);
        free(st->attn);
        free(st->lin_scratch);
        free(st->beam_scratch);
        threadpool_destroy(st->pool);
        free(st);
    }
    free(b);
}

static glossa_status cpu_alloc(backend *b, size_t bytes, void **out)
{
    *out = cpu_aligned_alloc(bytes);
    if (!*out) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "cpu: cannot allocate %zu bytes", bytes);
    return GLOSSA_STATUS_OK;
}

static void cpu_free(backend *b, void *p)
{
    free(p);
}

static glossa_status cpu_copy(backend *b, void *dst, const void *src, size_t bytes)
{
    if (bytes && dst != src) memmove(dst, src, bytes);
    return GLOSSA_STATUS_OK;
}

static void cpu_sync(backend *b)
{
}

/* Everything ran already: the copy is taken now, as a device would take it in stream order. */
static glossa_status cpu_download_begin(backend *b, const void *src, size_t bytes)
{
    if (bytes > GL_ASYNC_DOWNLOAD_MAX)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "download_begin: %zu bytes", bytes);
    if (bytes) memcpy(cpu_of(b)->async_buf, src, bytes);
    return GLOSSA_STATUS_OK;
}

static glossa_status cpu_download_end(backend *b, void *dst, size_t bytes)
{
    if (bytes > GL_ASYNC_DOWNLOAD_MAX)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "download_end: %zu bytes", bytes);
    if (bytes) memcpy(dst, cpu_of(b)->async_buf, bytes);
    return GLOSSA_STATUS_OK;
}

static glossa_status cpu_download_f32(backend *b, float *dst, const void *src, size_t n)
{
    return cpu_copy(b, dst, src, n * sizeof(float));
}

static glossa_status cpu_upload_f32(backend *b, void *dst, const float *src, size_t n)
{
    return cpu_copy(b, dst, src, n * sizeof(float));
}

typedef struct convert_job {
    const void *src;
    gl_dtype dtype;
    float *dst;
} convert_job;

static void convert_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    const convert_job *j = ctx;
    float *d = j->dst;
    if (j->dtype == GL_DTYPE_F32) {
        memcpy(d + begin, (const float *)j->src + begin, (size_t)(end - begin) * sizeof(float));
    } else if (j->dtype == GL_DTYPE_F16) {
        const uint16_t *s = j->src;
        for (int64_t i = begin; i < end; i++) d[i] = half_f16_to_f32(s[i]);
    } else {
        const uint16_t *s = j->src;
        for (int64_t i = begin; i < end; i++) d[i] = half_bf16_to_f32(s[i]);
    }
}

static glossa_status cpu_weight_from_host(backend *b, const void *src, gl_dtype src_dtype,
                                          int32_t rows, int32_t cols, gl_weight *out)
{
    memset(out, 0, sizeof *out);
    if (!src || rows <= 0 || cols <= 0 || gl_dtype_size(src_dtype) == 0)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT,
                            "cpu: bad weight (%d x %d, dtype %d)", rows, cols, (int)src_dtype);
    size_t n = (size_t)rows * (size_t)cols;
    size_t cap = (size_t)gl_weight_rows_padded(rows) * (size_t)cols; /* pad rows: zero */
    if (cap > SIZE_MAX / sizeof(float))
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "cpu: weight too large");
    float *d = cpu_aligned_alloc(cap * sizeof(float));
    if (!d)
        return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "cpu: cannot allocate a %d x %d weight",
                            rows, cols);
    memset(d + n, 0, (cap - n) * sizeof(float));
    convert_job j = {src, src_dtype, d};
    threadpool_parallel_for(cpu_of(b)->pool, (int64_t)n, 1 << 16, convert_range, &j);
    out->data = d;
    out->rows = rows;
    out->cols = cols;
    out->dtype = GL_DTYPE_F32;
    return GLOSSA_STATUS_OK;
}

static void cpu_weight_free(backend *b, gl_weight *w)
{
    if (!w) return;
    free(w->data);
    memset(w, 0, sizeof *w);
}

static const backend_ops cpu_ops = {
    .name = "cpu",
    .destroy = cpu_destroy,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .sync = cpu_sync,
    .download_f32 = cpu_download_f32,
    .upload_f32 = cpu_upload_f32,
    .weight_from_host = cpu_weight_from_host,
    .weight_free = cpu_weight_free,
    .embed = cpu_embed,
    .linear = cpu_linear,
    .layernorm = cpu_layernorm,
    .add = cpu_add,
    .attention = cpu_attention,
    .attention_paged = cpu_attention_paged,
    .kv_write = cpu_kv_write,
    .kv_copy_blocks = cpu_kv_copy_blocks,
    .gather_rows = cpu_gather_rows,
    .argmax = cpu_argmax,
    .beam_topk = cpu_beam_topk,
    .linear_argmax = cpu_linear_argmax,
    .download_begin = cpu_download_begin,
    .download_end = cpu_download_end,
};

glossa_status backend_cpu_create(int n_threads, backend **out)
{
    *out = NULL;
    if (n_threads <= 0) n_threads = threadpool_n_cores();
    backend *b = calloc(1, sizeof *b);
    cpu_state *st = calloc(1, sizeof *st);
    if (!b || !st) {
        free(b);
        free(st);
        return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "cpu backend: out of memory");
    }
    b->ops = &cpu_ops;
    b->act_dtype = GL_DTYPE_F32;
    b->n_threads = n_threads;
    b->impl = st;
    st->n_threads = n_threads;
    glossa_status s = threadpool_create(n_threads, &st->pool);
    if (s != GLOSSA_STATUS_OK) {
        cpu_destroy(b);
        return s;
    }
    st->lin_scratch = cpu_aligned_alloc((size_t)n_threads * CPU_LIN_TILE * sizeof(float));
    st->attn = calloc((size_t)n_threads, sizeof *st->attn);
    if (!st->lin_scratch || !st->attn) {
        cpu_destroy(b);
        return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "cpu backend: out of memory");
    }
    for (int i = 0; i < n_threads; i++) {
        s = cpu_attn_scratch_init(&st->attn[i]);
        if (s != GLOSSA_STATUS_OK) {
            cpu_destroy(b);
            return s;
        }
    }
    cpu_blas_set_threads(1); /* linear runs single-threaded GEMMs on the pool's threads */
    st->gemm_small = cpu_gemm_small_supported();
    *out = b;
    return GLOSSA_STATUS_OK;
}
