/* Library logging, routed through the callback of glossa_set_log_callback(). */
#ifndef GLOSSA_CORE_LOG_H
#define GLOSSA_CORE_LOG_H

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

void glossa_log(glossa_log_level level, const char *fmt, ...) GLOSSA_PRINTF(2, 3);

#define GLOSSA_LOG_DEBUG(...) glossa_log(GLOSSA_LOG_LEVEL_DEBUG, __VA_ARGS__)
#define GLOSSA_LOG_INFO(...) glossa_log(GLOSSA_LOG_LEVEL_INFO, __VA_ARGS__)
#define GLOSSA_LOG_WARN(...) glossa_log(GLOSSA_LOG_LEVEL_WARN, __VA_ARGS__)
#define GLOSSA_LOG_ERROR(...) glossa_log(GLOSSA_LOG_LEVEL_ERROR, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif
