/* glossa serve: the HTTP server (src/server/). Options to srv_config. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "glossa.h"
#include "server.h"

static void serve_usage(FILE *f)
{
    fprintf(f,
            "usage: glossa serve [-m MODEL_DIR] [options]\n"
            "  -m MODEL_DIR             a Hugging Face model directory (default: $GLOSSA_MODEL, else\n"
            "                           the demo model, models/glossa-demo)\n"
            "  --host ADDR              IPv4 / IPv6 address to listen on (default 127.0.0.1)\n"
            "  --port N                 (default 8000; 0: any free port, printed at start)\n"
            "  --device cpu|cuda        (default cpu)\n"
            "  --dtype fp16|bf16        CUDA activations and weights (default fp16; the CPU runs\n"
            "                           fp32)\n"
            "  --threads N              CPU threads of the model (default: all cores)\n"
            "  --api-key KEY            require \"Authorization: Bearer KEY\" (or \"api_key\" in a\n"
            "                           /translate body); /health stays open\n"
            "  --max-num-tokens N       tokens per scheduler iteration (default 4096)\n"
            "  --max-batch-size N       running sequences, beams count (default 256)\n"
            "  --policy P               guaranteed-no-evict (default) or max-utilization\n"
            "  --scheduler-delay-factor F  hold new requests until the oldest has waited F times\n"
            "                           the last admitting iteration (vLLM's option; default 2,\n"
            "                           0: admit in every iteration)\n"
            "  --max-queue N            waiting requests at most; beyond: 429 with Retry-After\n"
            "                           (default 1024)\n"
            "  --max-input-tokens N     longer inputs get a 400 (default 1024)\n"
            "  --max-new-tokens N       generated tokens per request at most (default: the model's)\n"
            "  --beam N                 /translate beam size (default: the model's)\n"
            "  --request-timeout S      cancel and answer 504 after S seconds (default: none)\n"
            "  --max-body-bytes N       larger bodies get a 413 (default 1048576)\n"
            "  --max-connections N      open connections at most (default: --max-queue +\n"
            "                           --max-batch-size plus a quarter, at least 64 more; the\n"
            "                           open-file limit is raised to hold them)\n"
            "  --kv-cache-mb N          K/V cache size (default: CUDA --kv-cache-free-fraction of\n"
            "                           the memory free after loading; CPU 1 GiB; grown to hold\n"
            "                           --max-batch-size requests of --max-new-tokens)\n"
            "  --kv-cache-free-fraction F  CUDA, without --kv-cache-mb (default 0.9)\n"
            "  --static-batching        baseline: run batches of waiting requests to completion\n"
            "                           (glossa_model_run), nothing admitted in between\n"
            "endpoints: POST /translate (LibreTranslate), POST /v1/completions (OpenAI, with\n"
            "\"stream\": true), GET /languages, GET /health, GET /metrics (Prometheus)\n"
            "SIGTERM / SIGINT: stop accepting (503), finish the requests in flight, exit 0\n");
}

static bool parse_ll(const char *s, long long lo, long long hi, long long *out)
{
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* A number in [lo, hi] (NaN and trailing text refused). */
static bool parse_double(const char *s, double lo, double hi, double *out)
{
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

static int bad(const char *opt, const char *val)
{
    fprintf(stderr, "glossa serve: bad value '%s' for %s\n", val, opt);
    return 2;
}

typedef struct int_opt {
    const char *name;
    long long lo, hi;
} int_opt;

static const int_opt k_int_opts[] = {
    {"--port", 0, 65535},           {"--threads", 0, 4096},         {"--max-num-tokens", 1, 1 << 24},
    {"--max-batch-size", 1, 1 << 20}, {"--max-queue", 1, 1 << 24},  {"--max-input-tokens", 1, 1 << 24},
    {"--max-new-tokens", 1, 1 << 20}, {"--beam", 1, 128},           {"--max-body-bytes", 64, 1LL << 32},
    {"--max-connections", 1, 65536}, {"--kv-cache-mb", 1, 1 << 24},
};

static void set_int(srv_config *c, const char *name, long long v)
{
    if (!strcmp(name, "--port")) c->port = (int)v;
    else if (!strcmp(name, "--threads")) c->threads = (int32_t)v;
    else if (!strcmp(name, "--max-num-tokens")) c->engine.max_num_tokens = (int32_t)v;
    else if (!strcmp(name, "--max-batch-size")) c->engine.max_batch_size = (int32_t)v;
    else if (!strcmp(name, "--max-queue")) c->engine.max_queue = (int32_t)v;
    else if (!strcmp(name, "--max-input-tokens")) c->max_input_tokens = (int32_t)v;
    else if (!strcmp(name, "--max-new-tokens")) c->max_new_tokens = (int32_t)v;
    else if (!strcmp(name, "--beam")) c->beam = (int32_t)v;
    else if (!strcmp(name, "--max-body-bytes")) c->max_body_bytes = (size_t)v;
    else if (!strcmp(name, "--max-connections")) c->max_connections = (int32_t)v;
    else if (!strcmp(name, "--kv-cache-mb")) c->engine.kv_cache_bytes = (int64_t)v << 20;
}

/* One option with a value at argv[i + 1]; returns 0, 2 (usage error) or -1 (unknown). */
static int value_opt(srv_config *c, const char *a, const char *v)
{
    for (size_t k = 0; k < sizeof k_int_opts / sizeof k_int_opts[0]; k++) {
        if (strcmp(a, k_int_opts[k].name)) continue;
        long long n;
        if (!parse_ll(v, k_int_opts[k].lo, k_int_opts[k].hi, &n)) return bad(a, v);
        set_int(c, a, n);
        return 0;
    }
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) c->model_dir = v;
    else if (!strcmp(a, "--host")) c->host = v;
    else if (!strcmp(a, "--api-key")) c->api_key = v;
    else if (!strcmp(a, "--device")) {
        if (!strcmp(v, "cpu")) c->device = GLOSSA_DEVICE_CPU;
        else if (!strcmp(v, "cuda") || !strcmp(v, "gpu")) c->device = GLOSSA_DEVICE_CUDA;
        else return bad(a, v);
    } else if (!strcmp(a, "--dtype")) {
        if (cli_parse_dtype(v, &c->bf16)) return bad(a, v);
    } else if (!strcmp(a, "--policy")) {
        if (!strcmp(v, "guaranteed-no-evict")) c->engine.policy = GLOSSA_POLICY_GUARANTEED_NO_EVICT;
        else if (!strcmp(v, "max-utilization")) c->engine.policy = GLOSSA_POLICY_MAX_UTILIZATION;
        else return bad(a, v);
    } else if (!strcmp(a, "--scheduler-delay-factor")) {
        double f;
        if (!parse_double(v, 0.0, 1000.0, &f)) return bad(a, v);
        c->engine.scheduler_delay_factor = (float)f;
    } else if (!strcmp(a, "--kv-cache-free-fraction")) {
        double f;
        if (!parse_double(v, 0.0, 1.0, &f) || f == 0.0) return bad(a, v);
        c->engine.kv_cache_free_fraction = (float)f;
    } else if (!strcmp(a, "--request-timeout")) {
        if (!parse_double(v, 0.0, 1e6, &c->request_timeout_s)) return bad(a, v);
    } else {
        return -1;
    }
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    srv_config c = srv_default_config();
    c.model_dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            serve_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--static-batching")) {
            c.static_batching = true;
            continue;
        }
        int rc = i + 1 < argc ? value_opt(&c, a, argv[i + 1]) : -1;
        if (rc > 0) return rc;
        if (rc < 0) {
            fprintf(stderr, "glossa serve: unknown or incomplete option '%s'\n", a);
            serve_usage(stderr);
            return 2;
        }
        i++;
    }
    if (!c.model_dir) c.model_dir = cli_default_model();
    if (!c.model_dir) {
        fprintf(stderr, "glossa serve: no model: pass -m MODEL_DIR (or set GLOSSA_MODEL)\n");
        return 2;
    }
    return srv_main(&c);
}
