/* glossa translate: lines on stdin, translations on stdout in the same order, one line each. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "glossa.h"

typedef struct tr_opts {
    const char *dir, *src, *tgt;
    glossa_model_params mp;
    int batch;
    int beam, max_new, n_best;
    float length_penalty, temperature, top_p, repetition_penalty;
    int top_k, no_repeat;
    bool sample, set_lp, set_temp, set_top_p, set_top_k, set_rep, set_no_repeat, scores, ids;
    uint64_t seed;
} tr_opts;

static void translate_usage(FILE *f)
{
    fprintf(f,
            "usage: glossa translate [-m MODEL_DIR] --src LANG --tgt LANG [options] < lines\n"
            "  -m MODEL_DIR          a Hugging Face model directory (default: $GLOSSA_MODEL, else\n"
            "                        the demo model, models/glossa-demo)\n"
            "  --src, --tgt LANG     family codes (zh_CN, zho_Hans, __zh__) or ISO codes (zh)\n"
            "  --beam N              beam size (default: the model's generation_config)\n"
            "  --max-new-tokens N    at most N generated tokens per line\n"
            "  --batch-size N        lines per batch (default 32)\n"
            "  --threads N           CPU threads (default: all cores)\n"
            "  --device cpu|cuda     (default cpu)\n"
            "  --dtype fp16|bf16     CUDA activations and weights (default fp16; the CPU runs fp32)\n"
            "  --n-best N            print N hypotheses per line, tab-separated\n"
            "  --length-penalty X, --no-repeat-ngram N, --repetition-penalty X\n"
            "  --sample [--temperature X] [--top-k N] [--top-p X] [--seed S]\n"
            "  --scores              prefix each output with its score and a tab\n"
            "  --print-ids           print the generated token ids instead of text\n");
}

static int parse_device(const char *s, glossa_device *d)
{
    if (!strcmp(s, "cpu")) *d = GLOSSA_DEVICE_CPU;
    else if (!strcmp(s, "cuda") || !strcmp(s, "gpu")) *d = GLOSSA_DEVICE_CUDA;
    else return -1;
    return 0;
}

static int parse_args(int argc, char **argv, tr_opts *o)
{
    memset(o, 0, sizeof *o);
    o->mp = glossa_model_default_params();
    o->batch = 32;
    o->dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && v) o->dir = argv[++i];
        else if (!strcmp(a, "--src") && v) o->src = argv[++i];
        else if (!strcmp(a, "--tgt") && v) o->tgt = argv[++i];
        else if (!strcmp(a, "--beam") && v) o->beam = atoi(argv[++i]);
        else if (!strcmp(a, "--max-new-tokens") && v) o->max_new = atoi(argv[++i]);
        else if (!strcmp(a, "--batch-size") && v) o->batch = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && v) o->mp.n_threads = atoi(argv[++i]);
        else if (!strcmp(a, "--n-best") && v) o->n_best = atoi(argv[++i]);
        else if (!strcmp(a, "--device") && v) {
            if (parse_device(argv[++i], &o->mp.device)) {
                fprintf(stderr, "glossa translate: --device takes cpu or cuda\n");
                return 2;
            }
        } else if (!strcmp(a, "--dtype") && v) {
            if (cli_parse_dtype(argv[++i], &o->mp.bf16)) {
                fprintf(stderr, "glossa translate: --dtype takes fp16 or bf16\n");
                return 2;
            }
        } else if (!strcmp(a, "--length-penalty") && v) o->length_penalty = strtof(argv[++i], NULL), o->set_lp = true;
        else if (!strcmp(a, "--no-repeat-ngram") && v) o->no_repeat = atoi(argv[++i]), o->set_no_repeat = true;
        else if (!strcmp(a, "--repetition-penalty") && v) o->repetition_penalty = strtof(argv[++i], NULL), o->set_rep = true;
        else if (!strcmp(a, "--temperature") && v) o->temperature = strtof(argv[++i], NULL), o->set_temp = true;
        else if (!strcmp(a, "--top-k") && v) o->top_k = atoi(argv[++i]), o->set_top_k = true;
        else if (!strcmp(a, "--top-p") && v) o->top_p = strtof(argv[++i], NULL), o->set_top_p = true;
        else if (!strcmp(a, "--seed") && v) o->seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--sample")) o->sample = true;
        else if (!strcmp(a, "--scores")) o->scores = true;
        else if (!strcmp(a, "--print-ids")) o->ids = true;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            translate_usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "glossa translate: unknown or incomplete option '%s'\n", a);
            translate_usage(stderr);
            return 2;
        }
    }
    if (!o->dir) o->dir = cli_default_model();
    if (!o->dir) {
        fprintf(stderr, "glossa translate: no model: pass -m MODEL_DIR (or set GLOSSA_MODEL)\n");
        return 2;
    }
    if (o->batch < 1 || o->batch > 4096 || o->beam < 0 || o->max_new < 0 || o->n_best < 0) {
        fprintf(stderr, "glossa translate: bad --batch-size, --beam, --max-new-tokens or --n-best\n");
        return 2;
    }
    return 0;
}

static glossa_decode_params decode_params(const glossa_model *m, const tr_opts *o)
{
    glossa_decode_params p = glossa_model_decode_params(m);
    if (o->beam > 0) p.num_beams = o->beam;
    if (o->max_new > 0) p.max_new_tokens = o->max_new;
    if (o->n_best > 0) p.num_return_sequences = o->n_best;
    if (p.num_return_sequences > p.num_beams) p.num_return_sequences = p.num_beams;
    if (o->set_lp) p.length_penalty = o->length_penalty;
    if (o->set_no_repeat) p.no_repeat_ngram_size = o->no_repeat;
    if (o->set_rep) p.repetition_penalty = o->repetition_penalty;
    if (o->sample) {
        p.do_sample = true;
        p.num_beams = 1;
        p.num_return_sequences = 1;
    }
    if (o->set_temp) p.temperature = o->temperature;
    if (o->set_top_k) p.top_k = o->top_k;
    if (o->set_top_p) p.top_p = o->top_p;
    p.seed = o->seed;
    p.output_scores = o->scores;
    return p;
}

/* Translate lines[0..n) and print them in order. Empty lines stay empty. */
static int translate_batch(glossa_model *m, const tr_opts *o, const glossa_decode_params *p,
                           char **lines, size_t *lens, size_t n)
{
    glossa_request **reqs = calloc(n, sizeof *reqs);
    glossa_request **run = calloc(n, sizeof *run);
    int rc = 0;
    size_t nrun = 0;
    if (!reqs || !run) rc = cli_fail("out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        if (lens[i] == 0) continue;
        if (glossa_request_create(m, lines[i], lens[i], o->src, o->tgt, p, &reqs[i]) != GLOSSA_STATUS_OK)
            rc = cli_fail("request");
        else run[nrun++] = reqs[i];
    }
    if (!rc && glossa_model_run(m, run, nrun) != GLOSSA_STATUS_OK) rc = cli_fail("translate");
    glossa_text t = {0};
    for (size_t i = 0; i < n && !rc; i++) {
        size_t k = reqs[i] ? glossa_request_result_count(reqs[i]) : 0;
        for (size_t j = 0; j < (k ? k : 1) && !rc; j++) {
            if (j) fputc('\t', stdout);
            if (!k) continue;
            float score = 0;
            const int32_t *ids = NULL;
            size_t nids = 0;
            glossa_request_result(reqs[i], j, &ids, &nids, &score);
            if (o->scores) printf("%.4f\t", score);
            if (o->ids) {
                for (size_t q = 0; q < nids; q++) printf(q ? " %d" : "%d", ids[q]);
                continue;
            }
            if (glossa_request_result_text(reqs[i], j, &t) != GLOSSA_STATUS_OK) {
                rc = cli_fail("detokenize");
                break;
            }
            fwrite(t.data, 1, t.len, stdout);
        }
        fputc('\n', stdout);
    }
    glossa_text_free(&t);
    for (size_t i = 0; reqs && i < n; i++) glossa_request_free(reqs[i]);
    free(reqs);
    free(run);
    fflush(stdout);
    return rc;
}

int cmd_translate(int argc, char **argv)
{
    tr_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    glossa_model *m = NULL;
    if (glossa_model_load(o.dir, &o.mp, &m) != GLOSSA_STATUS_OK) return cli_fail("loading the model");
    glossa_decode_params p = decode_params(m, &o);
    char **lines = calloc((size_t)o.batch, sizeof *lines);
    size_t *lens = calloc((size_t)o.batch, sizeof *lens);
    size_t *caps = calloc((size_t)o.batch, sizeof *caps);
    if (!lines || !lens || !caps) rc = cli_fail("out of memory");
    size_t n = 0;
    while (!rc) {
        ssize_t got = getline(&lines[n], &caps[n], stdin);
        if (got < 0) break;
        size_t len = (size_t)got;
        while (len && (lines[n][len - 1] == '\n' || lines[n][len - 1] == '\r')) len--;
        lens[n++] = len;
        if (n == (size_t)o.batch) {
            rc = translate_batch(m, &o, &p, lines, lens, n);
            n = 0;
        }
    }
    if (!rc && n) rc = translate_batch(m, &o, &p, lines, lens, n);
    for (int i = 0; lines && i < o.batch; i++) free(lines[i]);
    free(lines);
    free(lens);
    free(caps);
    glossa_model_free(m);
    return rc;
}
