/* glossa bench: generation throughput with exactly L output tokens (EOS ignored). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "glossa.h"

typedef struct bench_opts {
    const char *dir;
    glossa_model_params mp;
    int batch, in_len, out_len, beam, runs;
    bool json;
} bench_opts;

static void bench_usage(FILE *f)
{
    fprintf(f, "usage: glossa bench -m MODEL_DIR [--device cpu|cuda] [--dtype fp16|bf16] [--threads N] "
               "--batch B --in L --out L [--beam N] [--runs R] [--json]\n"
               "  Runs B requests of L input tokens each and forces exactly L output tokens (EOS\n"
               "  ignored); one warm-up run, then the median of R runs (default 3).\n");
}

static int parse_args(int argc, char **argv, bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->mp = glossa_model_default_params();
    o->batch = 1;
    o->in_len = 64;
    o->out_len = 64;
    o->beam = 1;
    o->runs = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool v = i + 1 < argc;
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && v) o->dir = argv[++i];
        else if (!strcmp(a, "--batch") && v) o->batch = atoi(argv[++i]);
        else if (!strcmp(a, "--in") && v) o->in_len = atoi(argv[++i]);
        else if (!strcmp(a, "--out") && v) o->out_len = atoi(argv[++i]);
        else if (!strcmp(a, "--beam") && v) o->beam = atoi(argv[++i]);
        else if (!strcmp(a, "--runs") && v) o->runs = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && v) o->mp.n_threads = atoi(argv[++i]);
        else if (!strcmp(a, "--device") && v) {
            const char *d = argv[++i];
            if (!strcmp(d, "cpu")) o->mp.device = GLOSSA_DEVICE_CPU;
            else if (!strcmp(d, "cuda") || !strcmp(d, "gpu")) o->mp.device = GLOSSA_DEVICE_CUDA;
            else {
                fprintf(stderr, "glossa bench: --device takes cpu or cuda\n");
                return 2;
            }
        } else if (!strcmp(a, "--dtype") && v) {
            if (cli_parse_dtype(argv[++i], &o->mp.bf16)) {
                fprintf(stderr, "glossa bench: --dtype takes fp16 or bf16\n");
                return 2;
            }
        } else if (!strcmp(a, "--json")) o->json = true;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            bench_usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "glossa bench: unknown or incomplete option '%s'\n", a);
            bench_usage(stderr);
            return 2;
        }
    }
    if (!o->dir || o->batch < 1 || o->batch > 65536 || o->in_len < 1 || o->out_len < 1 ||
        o->beam < 1 || o->runs < 1 || o->runs > 1000) {
        bench_usage(stderr);
        return 2;
    }
    return 0;
}

/* Peak resident memory of this process in MiB (VmHWM), or -1. */
static double peak_rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    double kb = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = strtod(line + 6, NULL);
    fclose(f);
    return kb < 0 ? -1 : kb / 1024.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Deterministic inputs: ids drawn from the ordinary vocabulary, EOS last. */
static int32_t *make_inputs(const glossa_model *m, const bench_opts *o, int32_t *eos_out)
{
    const glossa_tokenizer *tok = glossa_model_tokenizer(m);
    int32_t eos = 2, lo = 4, hi = 1000;
    if (tok) {
        glossa_special_ids sp = glossa_tokenizer_special_ids(tok);
        if (sp.eos >= 0) eos = sp.eos;
        hi = glossa_tokenizer_vocab_size(tok) - (int32_t)glossa_tokenizer_lang_count(tok) - 1;
    }
    if (hi <= lo + 1) hi = lo + 2;
    *eos_out = eos;
    int32_t *ids = malloc((size_t)o->batch * (size_t)o->in_len * sizeof *ids);
    if (!ids) return NULL;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int64_t i = 0; i < (int64_t)o->batch * o->in_len; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ids[i] = (i + 1) % o->in_len == 0 ? eos : lo + (int32_t)(x % (uint64_t)(hi - lo));
    }
    return ids;
}

static int run_once(glossa_model *m, const bench_opts *o, const int32_t *ids,
                    glossa_run_stats *st)
{
    glossa_decode_params p = glossa_model_decode_params(m);
    p.num_beams = o->beam;
    p.num_return_sequences = 1;
    p.max_new_tokens = o->out_len;
    p.min_length = 0;
    p.do_sample = false;
    p.ignore_eos = true;
    p.no_repeat_ngram_size = 0;
    p.repetition_penalty = 1.0f;
    glossa_request **r = calloc((size_t)o->batch, sizeof *r);
    int rc = r ? 0 : cli_fail("out of memory");
    for (int i = 0; i < o->batch && !rc; i++)
        if (glossa_request_create_ids(m, ids + (size_t)i * (size_t)o->in_len, (size_t)o->in_len, -1,
                                      &p, &r[i]) != GLOSSA_STATUS_OK)
            rc = cli_fail("request");
    if (!rc && glossa_model_run(m, r, (size_t)o->batch) != GLOSSA_STATUS_OK) rc = cli_fail("run");
    if (!rc) glossa_model_last_run_stats(m, st);
    for (int i = 0; r && i < o->batch; i++) glossa_request_free(r[i]);
    free(r);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    bench_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    glossa_model *m = NULL;
    double t0 = cli_now();
    if (glossa_model_load(o.dir, &o.mp, &m) != GLOSSA_STATUS_OK) return cli_fail("loading the model");
    double load_s = cli_now() - t0;
    int32_t eos;
    int32_t *ids = make_inputs(m, &o, &eos);
    glossa_run_stats st = {0}, *all = calloc((size_t)o.runs, sizeof *all);
    double *total = calloc((size_t)o.runs, sizeof *total);
    if (!ids || !all || !total) rc = cli_fail("out of memory");
    if (!rc) rc = run_once(m, &o, ids, &st); /* warm-up */
    for (int i = 0; i < o.runs && !rc; i++) {
        rc = run_once(m, &o, ids, &all[i]);
        total[i] = all[i].total_ms;
    }
    if (!rc) {
        qsort(total, (size_t)o.runs, sizeof *total, cmp_double);
        double med = total[o.runs / 2];
        const glossa_run_stats *s = &all[0];
        for (int i = 0; i < o.runs; i++)
            if (all[i].total_ms == med) s = &all[i];
        double toks = (double)o.batch * o.out_len;
        double tok_s = toks / (med / 1e3);
        double step_ms = s->decode_steps ? s->decode_ms / s->decode_steps : 0;
        double rss = peak_rss_mib();
        if (o.json)
            printf("{\"batch\": %d, \"in\": %d, \"out\": %d, \"beam\": %d, \"runs\": %d, "
                   "\"total_ms\": %.3f, \"tok_per_s\": %.1f, \"ms_per_step\": %.4f, "
                   "\"ttft_ms\": %.3f, \"encode_ms\": %.3f, \"decode_steps\": %d, "
                   "\"kv_bytes_per_token\": %zu, \"peak_rss_mib\": %.1f, \"load_s\": %.3f, "
                   "\"device_mib\": %.1f, \"kv_pool_mib\": %.1f}\n",
                   o.batch, o.in_len, o.out_len, o.beam, o.runs, med, tok_s, step_ms,
                   s->first_token_ms, s->encode_ms, s->decode_steps, s->kv_bytes_per_token, rss,
                   load_s, (double)s->device_bytes / 1048576.0, (double)s->kv_pool_bytes / 1048576.0);
        else
            printf("batch %d, in %d, out %d, beam %d (median of %d runs): %.1f generated tok/s, "
                   "%.3f ms/step over %d steps, time to first token %.2f ms, encoder %.2f ms, "
                   "total %.1f ms; kv %zu B/token; peak RSS %.0f MiB; load %.2f s\n",
                   o.batch, o.in_len, o.out_len, o.beam, o.runs, tok_s, step_ms, s->decode_steps,
                   s->first_token_ms, s->encode_ms, med, s->kv_bytes_per_token, rss, load_s);
    }
    free(ids);
    free(all);
    free(total);
    glossa_model_free(m);
    return rc;
}
