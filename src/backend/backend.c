/* Backend-independent helpers of the op table. */
#include "backend/backend.h"

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
