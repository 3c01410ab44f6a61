/* Backend-independent helpers of the op table. */
#include "backend/backend.h"
#include "core/status.h"

size_t gl_dtype_size(gl_dtype t)
{
    switch (t) {
    case GL_DTYPE_F32: return 4;
    case GL_DTYPE_F16: return 2;
    case GL_DTYPE_BF16: return 2;
    }
    return 0;
}

const char *gl_dtype_name(gl_dtype t)
{
    switch (t) {
    case GL_DTYPE_F32: return "F32";
    case GL_DTYPE_F16: return "F16";
    case GL_DTYPE_BF16: return "BF16";
    }
    return "?";
}

glossa_status gl_beam_groups_check(int32_t m, int32_t n, int32_t ld, int32_t n_groups,
                                   const gl_beam_group *groups)
{
    if (m < 0 || n < 1 || ld < n || n_groups < 0 || (n_groups > 0 && !groups))
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT,
                            "beam_topk: %d groups over %d rows of %d columns (stride %d)", n_groups,
                            m, n, ld);
    for (int32_t i = 0; i < n_groups; i++) {
        const gl_beam_group *g = &groups[i];
        if (g->n_beams < 1 || g->row0 < 0 || g->row0 > m - g->n_beams)
            return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT,
                                "beam_topk: group %d: rows %d + %d outside %d", i, g->row0,
                                g->n_beams, m);
        if ((int64_t)g->n_beams * n > INT32_MAX)
            return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT,
                                "beam_topk: group %d: %d beams x %d columns", i, g->n_beams, n);
        if (g->k < 1 || g->k > GL_BEAM_MAX_K || g->k > g->n_beams * n)
            return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT,
                                "beam_topk: group %d: k %d (at most %d, and %d beams x %d)", i,
                                g->k, GL_BEAM_MAX_K, g->n_beams, n);
        if (g->n_ban < 0 || g->n_ban > GL_BEAM_MAX_BAN || (g->n_ban > 0 && !g->ban))
            return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "beam_topk: group %d: %d bans",
                                i, g->n_ban);
        if (!g->scores || !g->out)
            return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT,
                                "beam_topk: group %d: NULL scores or out", i);
    }
    return GLOSSA_STATUS_OK;
}

#ifndef GLOSSA_HAVE_CUDA
/* Built without CUDA: the CUDA backend is absent (src/backend/cuda/ defines these otherwise). */
glossa_status backend_cuda_create(int device, gl_dtype act_dtype, backend **out)
{
    (void)device;
    (void)act_dtype;
    if (out) *out = NULL;
    return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "glossa was built without CUDA (no nvcc at build time)");
}

int backend_cuda_device_count(void)
{
    return 0;
}
#endif
