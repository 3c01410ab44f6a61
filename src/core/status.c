#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char g_msg[1024];

const char *glossa_status_name(glossa_status st)
{
    switch (st) {
    case GLOSSA_STATUS_OK: return "GLOSSA_STATUS_OK";
    case GLOSSA_STATUS_INVALID_ARGUMENT: return "GLOSSA_STATUS_INVALID_ARGUMENT";
    case GLOSSA_STATUS_IO_ERROR: return "GLOSSA_STATUS_IO_ERROR";
    case GLOSSA_STATUS_BAD_MODEL: return "GLOSSA_STATUS_BAD_MODEL";
    case GLOSSA_STATUS_UNSUPPORTED: return "GLOSSA_STATUS_UNSUPPORTED";
    case GLOSSA_STATUS_OUT_OF_MEMORY: return "GLOSSA_STATUS_OUT_OF_MEMORY";
    case GLOSSA_STATUS_BAD_INPUT: return "GLOSSA_STATUS_BAD_INPUT";
    case GLOSSA_STATUS_NOT_FOUND: return "GLOSSA_STATUS_NOT_FOUND";
    case GLOSSA_STATUS_INTERNAL: return "GLOSSA_STATUS_INTERNAL";
    case GLOSSA_STATUS_BUSY: return "GLOSSA_STATUS_BUSY";
    case GLOSSA_STATUS_CANCELLED: return "GLOSSA_STATUS_CANCELLED";
    }
    return "GLOSSA_STATUS_UNKNOWN";
}

const char *glossa_last_error(void)
{
    return g_msg;
}

void glossa_error_clear(void)
{
    g_msg[0] = '\0';
}

glossa_status glossa_error(glossa_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return st;
}

glossa_status glossa_error_prefix(glossa_status st, const char *fmt, ...)
{
    char old[sizeof g_msg];
    memcpy(old, g_msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof g_msg) snprintf(g_msg + n, sizeof g_msg - (size_t)n, "%s", old);
    return st;
}
