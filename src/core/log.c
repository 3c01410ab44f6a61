#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

static glossa_log_callback g_cb;
static void *g_user;

void glossa_set_log_callback(glossa_log_callback cb, void *user_data)
{
    g_cb = cb;
    g_user = user_data;
}

void glossa_log(glossa_log_level level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (g_cb) {
        g_cb(level, buf, g_user);
    } else if (level >= GLOSSA_LOG_LEVEL_WARN) {
        static const char *names[] = {"debug", "info", "warning", "error"};
        fprintf(stderr, "glossa: %s: %s\n", names[level], buf);
    }
}
