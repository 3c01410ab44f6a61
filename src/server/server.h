/* glossa serve: the HTTP server's shared state. A thin front end over include/glossa.h.
 *
 * Threads: libmicrohttpd runs one thread per connection (HTTP threads: parse, validate, tokenize,
 * submit to the scheduler, then block on the request's condition variable, watching the client
 * socket and the deadline); one inference loop thread (sched.c) owns the model and delivers
 * events; the main thread waits for SIGTERM / SIGINT and drains. */
#ifndef GLOSSA_SERVER_SERVER_H
#define GLOSSA_SERVER_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "glossa.h"
#include "request_parse.h"

typedef struct srv_config {
    const char *model_dir;
    const char *host;          /* default 127.0.0.1 */
    int port;                  /* default 8000; 0: any free port (printed) */
    glossa_device device;
    bool bf16;                 /* CUDA: bf16 activations and weights (default fp16) */
    int32_t threads;           /* CPU threads of the model; <= 0: all cores */
    const char *api_key;       /* NULL: no authentication */
    glossa_engine_params engine;
    int32_t max_input_tokens;  /* default 1024 */
    int32_t max_new_tokens;    /* <= 0: the model's generation_config */
    int32_t beam;              /* /translate beam size; <= 0: the model's generation_config */
    double request_timeout_s;  /* <= 0: none */
    size_t max_body_bytes;     /* default 1 MiB */
    int32_t max_connections;   /* open connections at most; <= 0 (default): derived from the
                                  admission limit (srv_limits_setup) */
    bool static_batching;      /* the baseline: batches run to completion, no admission between */
    rp_limits limits;
} srv_config;

srv_config srv_default_config(void);

typedef enum srv_phase {
    SRV_PHASE_LOADING = 0,
    SRV_PHASE_READY = 1,
    SRV_PHASE_DRAINING = 2,
} srv_phase;

typedef struct srv_lang {
    char code[32];           /* the public code: ISO 639-1 when one maps to it, else the family's */
    const char *family_code; /* the tokenizer's (en_XX, eng_Latn, __en__) */
    const char *name;        /* English name ("" when unknown) */
    int32_t id;              /* its token id */
} srv_lang;

typedef struct srv_sched srv_sched;
typedef struct srv_metrics srv_metrics;

typedef struct srv {
    srv_config cfg;
    glossa_model *model;
    const glossa_tokenizer *tok;
    glossa_langid *langid;     /* NULL when it failed to load ("auto" is then a 400) */
    srv_sched *sched;
    srv_metrics *metrics;
    srv_lang *langs;
    size_t n_langs;
    char model_name[128];
    glossa_decode_params dp;   /* the model's defaults with --beam and --max-new-tokens */
    atomic_int phase;          /* srv_phase */
    atomic_bool abort;         /* a second signal: stop waiting, cancel everything */
    pthread_mutex_t mu;        /* guards inflight and the READY -> DRAINING switch */
    int inflight;              /* work requests admitted and not yet answered */
    int work_limit;            /* inflight at most; beyond: 429 at once (srv_limits_setup) */
    atomic_uint_fast64_t next_id;
} srv;

/* Run the server until SIGTERM / SIGINT; returns the process exit code. */
int srv_main(const srv_config *cfg);

/* The admission limits (before the daemon starts): work_limit = --max-queue + --max-batch-size
 * requests, the connection limit above it (derived, or --max-connections), and the process's
 * file-descriptor limit raised to hold them. false (with a message) when they cannot be met. */
bool srv_limits_setup(srv *s);

typedef enum srv_work {
    SRV_WORK_OK = 0,        /* admitted: matched by one srv_work_end() */
    SRV_WORK_NOT_READY = 1, /* loading or draining: 503 */
    SRV_WORK_BUSY = 2,      /* work_limit requests in flight: 429 with Retry-After */
} srv_work;

/* A work request (translate, completions) enters. */
srv_work srv_work_begin(srv *s);
void srv_work_end(srv *s);

/* Monotonic seconds. */
double srv_now(void);

#endif
