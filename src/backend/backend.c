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
