/* Status codes and the per-thread error message behind glossa_last_error(). */
#ifndef GLOSSA_CORE_STATUS_H
#define GLOSSA_CORE_STATUS_H

#include "glossa.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GLOSSA_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GLOSSA_PRINTF(a, b)
#endif

/* Record a message for glossa_last_error() and return st, so failures read
 * `return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: truncated", path);` */
glossa_status glossa_error(glossa_status st, const char *fmt, ...) GLOSSA_PRINTF(2, 3);

/* Prefix the current message with more context ("loading X: " + old message); returns st. */
glossa_status glossa_error_prefix(glossa_status st, const char *fmt, ...) GLOSSA_PRINTF(2, 3);

void glossa_error_clear(void);

#define GLOSSA_TRY(expr)                                                                           \
    do {                                                                                           \
        glossa_status st_try_ = (expr);                                                            \
        if (st_try_ != GLOSSA_STATUS_OK) return st_try_;                                           \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif
