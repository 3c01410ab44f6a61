/* glossa synth: write a random-weight model directory of a real architecture (Hugging Face
 * format: config.json, generation_config.json, model.safetensors, tokenizer files). */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "glossa.h"

static void synth_usage(FILE *f)
{
    fprintf(f,
            "usage: glossa synth --arch NAME --out DIR [options]\n"
            "  --arch NAME       mbart-large-50, m2m100-418m, nllb-200-distilled-600m,\n"
            "                    opus-mt-en-de, bart-base, tiny (mBART-50 style, a few hundred KB)\n"
            "  --out DIR         the model directory to write (created if missing)\n"
            "  --seed S          random seed (default 0); the same seed gives identical files\n"
            "  --layers N        encoder and decoder layers (default: the architecture's)\n"
            "  --d-model N       model width; heads = N/64 (a divisor, >= 1), ffn = 4N\n"
            "  --vocab N         vocabulary size; the tokenizer is built to match\n"
            "  --init-std X      weight standard deviation (default 0.02)\n"
            "  --fp16            write float16 weights (default float32)\n"
            "  --eos-bias X      add X to final_logits_bias[</s>] (default 0): greedy outputs then end\n"
            "                    at varied, input-dependent lengths (not for m2m100 / nllb)\n"
            "  --eos-ramp R      add R * p along the </s> embedding to decoder position p (default 0):\n"
            "                    the </s> logit grows with the length (mbart, bart, tiny). Calibrated on\n"
            "                    loadgen's text mix (bench/loadgen/README.md): mbart-large-50\n"
            "                    --eos-bias 6.8 --eos-ramp 0.06; tiny --eos-bias 2.6 --eos-ramp 0.3\n");
}

static bool parse_i64(const char *s, long long lo, long long hi, long long *out)
{
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static int bad_value(const char *opt, const char *val)
{
    fprintf(stderr, "glossa synth: bad value '%s' for %s\n", val, opt);
    return 2;
}

/* 0 on success, 2 on a usage error, -1 for --help. */
static int parse_args(int argc, char **argv, glossa_synth_params *p, const char **out)
{
    *p = glossa_synth_default_params();
    p->arch = NULL;
    *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return -1;
        if (!strcmp(a, "--fp16")) {
            p->fp16 = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "glossa synth: unknown or incomplete option '%s'\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--arch")) p->arch = v;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o")) *out = v;
        else if (!strcmp(a, "--seed")) {
            errno = 0;
            char *end;
            unsigned long long s = strtoull(v, &end, 10);
            if (end == v || *end || errno || v[0] == '-') return bad_value(a, v);
            p->seed = s;
        } else if (!strcmp(a, "--layers")) {
            if (!parse_i64(v, 1, 256, &n)) return bad_value(a, v);
            p->layers = (int32_t)n;
        } else if (!strcmp(a, "--d-model")) {
            if (!parse_i64(v, 1, 16384, &n)) return bad_value(a, v);
            p->d_model = (int32_t)n;
        } else if (!strcmp(a, "--vocab")) {
            if (!parse_i64(v, 1, INT32_MAX, &n)) return bad_value(a, v);
            p->vocab = (int32_t)n;
        } else if (!strcmp(a, "--init-std")) {
            char *end;
            double x = strtod(v, &end);
            if (end == v || *end || !(x > 0.0) || x > 10.0) return bad_value(a, v);
            p->init_std = (float)x;
        } else if (!strcmp(a, "--eos-bias")) {
            char *end;
            double x = strtod(v, &end);
            if (end == v || *end || !isfinite(x) || fabs(x) > 1000.0) return bad_value(a, v);
            p->eos_bias = (float)x;
        } else if (!strcmp(a, "--eos-ramp")) {
            char *end;
            double x = strtod(v, &end);
            if (end == v || *end || !isfinite(x) || fabs(x) > 100.0) return bad_value(a, v);
            p->eos_ramp = (float)x;
        } else {
            fprintf(stderr, "glossa synth: unknown option '%s'\n", a);
            return 2;
        }
    }
    if (!p->arch || !*out) {
        fprintf(stderr, "glossa synth: --arch and --out are required\n");
        return 2;
    }
    return 0;
}

int cmd_synth(int argc, char **argv)
{
    glossa_synth_params p;
    const char *out;
    int rc = parse_args(argc, argv, &p, &out);
    if (rc < 0) {
        synth_usage(stdout);
        return 0;
    }
    if (rc) {
        synth_usage(stderr);
        return rc;
    }
    double t0 = cli_now();
    if (glossa_synth(out, &p) != GLOSSA_STATUS_OK) return cli_fail(out);
    fprintf(stderr, "glossa synth: wrote %s (%s, seed %llu) in %.1f s\n", out, p.arch,
            (unsigned long long)p.seed, cli_now() - t0);
    return 0;
}
