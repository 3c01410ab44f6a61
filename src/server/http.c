/* The libmicrohttpd daemon: one thread per connection. The access handler collects the body
 * (capped at --max-body-bytes: 413), then dispatches; handlers may block (a translate request
 * waits for its result on the connection's own thread). No CORS headers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "http.h"
#include "metrics.h"

typedef struct http_ctx {
    char *body;
    size_t len, cap;
    bool too_large;
    bool counted; /* srv_work_begin() succeeded: srv_work_end() at completion */
} http_ctx;

static void reply_too_large(srv_call *c, size_t cap)
{
    rp_error err;
    rp_fail(&err, 413, "invalid_request_error", "payload_too_large",
            "the request body is larger than the server's limit of %zu bytes (--max-body-bytes)",
            cap);
    call_reply_error(c, &err);
}

static enum MHD_Result queue(srv *s, struct MHD_Connection *conn, srv_call *c)
{
    if (!c->resp) return MHD_NO; /* the client is gone: close */
    metrics_count_http(s->metrics, c->status);
    enum MHD_Result r = MHD_queue_response(conn, c->status, c->resp);
    MHD_destroy_response(c->resp);
    return r;
}

static bool append(http_ctx *ctx, const char *data, size_t n, size_t max)
{
    if (n > max || ctx->len > max - n) return false;
    if (ctx->len + n + 1 > ctx->cap) {
        size_t cap = ctx->cap ? ctx->cap : 4096;
        while (cap < ctx->len + n + 1) cap *= 2;
        char *p = realloc(ctx->body, cap);
        if (!p) return false;
        ctx->body = p;
        ctx->cap = cap;
    }
    memcpy(ctx->body + ctx->len, data, n);
    ctx->len += n;
    ctx->body[ctx->len] = '\0';
    return true;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    srv *s = cls;
    http_ctx *ctx = *con_cls;
    srv_call c;
    memset(&c, 0, sizeof c);
    c.s = s;
    c.conn = conn;
    c.url = url;
    if (!ctx) {
        ctx = calloc(1, sizeof *ctx);
        if (!ctx) return MHD_NO;
        *con_cls = ctx;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            errno = 0;
            char *end;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || end == cl || n > s->cfg.max_body_bytes) {
                /* answer at once; the body is never read and the connection closes after */
                ctx->too_large = true;
                reply_too_large(&c, s->cfg.max_body_bytes);
                return queue(s, conn, &c);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!ctx->too_large && !append(ctx, upload_data, *upload_data_size, s->cfg.max_body_bytes)) {
            ctx->too_large = true; /* keep reading (and dropping) the rest, then 413 */
            free(ctx->body);
            ctx->body = NULL;
            ctx->len = ctx->cap = 0;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (ctx->too_large) {
        reply_too_large(&c, s->cfg.max_body_bytes);
        return queue(s, conn, &c);
    }
    c.body = ctx->body ? ctx->body : "";
    c.body_len = ctx->len;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    c.watch.fd = ci ? ci->connect_fd : -1;
    c.watch.deadline = s->cfg.request_timeout_s > 0 ? srv_now() + s->cfg.request_timeout_s : 0;
    routes_dispatch(&c, method, &ctx->counted);
    return queue(s, conn, &c);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    srv *s = cls;
    http_ctx *ctx = *con_cls;
    if (!ctx) return;
    if (ctx->counted) srv_work_end(s);
    free(ctx->body);
    free(ctx);
    *con_cls = NULL;
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    fprintf(stderr, "glossa serve: http: ");
    vfprintf(stderr, fmt, ap);
}

struct MHD_Daemon *http_start(srv *s, int *port_out)
{
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    const struct sockaddr *addr = NULL;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    const char *host = s->cfg.host;
    if (!strcmp(host, "localhost")) host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)s->cfg.port);
        addr = (const struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)s->cfg.port);
        addr = (const struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        fprintf(stderr, "glossa serve: --host %s: not an IPv4 or IPv6 address\n", s->cfg.host);
        return NULL;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)s->cfg.port, NULL, NULL, on_access, s, MHD_OPTION_EXTERNAL_LOGGER,
        log_mhd, NULL, MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg.max_connections,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)s->cfg.max_connections, /* the kernel caps it */
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300, MHD_OPTION_LISTENING_ADDRESS_REUSE,
        (unsigned)1, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "glossa serve: cannot listen on %s port %d: %s\n", s->cfg.host,
                s->cfg.port, strerror(errno));
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port_out = di ? di->port : s->cfg.port;
    return d;
}

void http_stop(struct MHD_Daemon *d)
{
    if (d) MHD_stop_daemon(d);
}
