/* glossa tokenize: UTF-8 lines on stdin to ids (or pieces) on stdout, one line per line, or ids
 * back to text with --decode; --bench measures single-thread throughput. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "glossa.h"

typedef struct tok_opts {
    const char *spm, *json, *dir;
    glossa_encode_params params;
    bool target, pieces, decode, skip_special, bench;
    int repeat;
} tok_opts;

static void tokenize_usage(FILE *f)
{
    fprintf(f,
            "usage: glossa tokenize (--spm FILE | --json TOKENIZER_JSON | -m MODEL_DIR) [options] "
            "< lines\n"
            "  --spm FILE        a sentencepiece .model: ids as spm_encode prints them\n"
            "  --json FILE       a Hugging Face tokenizer.json\n"
            "  -m MODEL_DIR      a model directory's tokenizer, with its special tokens\n"
            "  --src LANG        source language (family code such as zho_Hans or ISO code zh)\n"
            "  --tgt LANG        target language (with --target)\n"
            "  --target          encode lines as the target side (text_target)\n"
            "  --no-special      no language codes / </s> / template\n"
            "  --pieces          print pieces instead of ids\n"
            "  --decode          read id lines and print text\n"
            "  --skip-special    with --decode: drop special tokens and language codes\n"
            "  --bench [--repeat N]  encode all of stdin N times (default 5) on one thread and\n"
            "                    print the median MB/s and lines/s\n");
}

static int parse_args(int argc, char **argv, tok_opts *o)
{
    memset(o, 0, sizeof *o);
    o->params = glossa_encode_default_params();
    o->repeat = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "--spm") && has_val) o->spm = argv[++i];
        else if (!strcmp(a, "--json") && has_val) o->json = argv[++i];
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_val) o->dir = argv[++i];
        else if (!strcmp(a, "--src") && has_val) o->params.src_lang = argv[++i];
        else if (!strcmp(a, "--tgt") && has_val) o->params.tgt_lang = argv[++i];
        else if (!strcmp(a, "--target")) o->target = true;
        else if (!strcmp(a, "--no-special")) o->params.add_special_tokens = false;
        else if (!strcmp(a, "--pieces")) o->pieces = true;
        else if (!strcmp(a, "--decode")) o->decode = true;
        else if (!strcmp(a, "--skip-special")) o->skip_special = true;
        else if (!strcmp(a, "--bench")) o->bench = true;
        else if (!strcmp(a, "--repeat") && has_val) o->repeat = atoi(argv[++i]);
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            tokenize_usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "glossa tokenize: unknown or incomplete option '%s'\n", a);
            tokenize_usage(stderr);
            return 2;
        }
    }
    if (!!o->spm + !!o->json + !!o->dir != 1) {
        fprintf(stderr, "glossa tokenize: give exactly one of --spm, --json, -m\n");
        return 2;
    }
    if (o->repeat < 1 || o->repeat > 1000) {
        fprintf(stderr, "glossa tokenize: --repeat takes 1..1000\n");
        return 2;
    }
    return 0;
}

static glossa_status encode_line(const glossa_tokenizer *t, const tok_opts *o, const char *s,
                                 size_t n, glossa_tokens *out)
{
    if (o->target) return glossa_tokenizer_encode_target(t, s, n, &o->params, out);
    return glossa_tokenizer_encode(t, s, n, &o->params, out);
}

static void put_ids(const glossa_tokens *tk, FILE *f)
{
    char buf[16];
    for (size_t i = 0; i < tk->n; i++) {
        int32_t v = tk->ids[i];
        char *p = buf + sizeof buf;
        uint32_t u = v < 0 ? (uint32_t)(-(int64_t)v) : (uint32_t)v;
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0) *--p = '-';
        if (i) putc_unlocked(' ', f);
        fwrite(p, 1, (size_t)(buf + sizeof buf - p), f);
    }
    putc_unlocked('\n', f);
}

/* Parse one line of space-separated ids into ids (growing it). -1 on a bad token. */
static int parse_ids(char *line, int32_t **ids, size_t *cap, size_t *n)
{
    *n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) return 0;
        errno = 0;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < INT32_MIN || v > INT32_MAX || (*end && *end != ' ' && *end != '\t'))
            return -1;
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            int32_t *q = realloc(*ids, nc * sizeof *q);
            if (!q) return -1;
            *ids = q;
            *cap = nc;
        }
        (*ids)[(*n)++] = (int32_t)v;
        p = end;
    }
}

static int run_decode(const glossa_tokenizer *t, const tok_opts *o)
{
    char *line = NULL;
    size_t lcap = 0, icap = 0, n;
    int32_t *ids = NULL;
    glossa_text text = {0};
    ssize_t len;
    long lineno = 0;
    int rc = 0;
    while ((len = getline(&line, &lcap, stdin)) >= 0) {
        lineno++;
        if (len && line[len - 1] == '\n') line[--len] = '\0';
        if (parse_ids(line, &ids, &icap, &n) != 0) {
            fprintf(stderr, "glossa tokenize: line %ld: not a list of integer ids\n", lineno);
            rc = 1;
            break;
        }
        if (glossa_tokenizer_decode(t, ids, n, o->skip_special, &text) != GLOSSA_STATUS_OK) {
            fprintf(stderr, "glossa tokenize: line %ld: %s\n", lineno, glossa_last_error());
            rc = 1;
            break;
        }
        fwrite(text.data, 1, text.len, stdout);
        putc_unlocked('\n', stdout);
    }
    free(line);
    free(ids);
    glossa_text_free(&text);
    return rc;
}

static int run_encode(const glossa_tokenizer *t, const tok_opts *o)
{
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    glossa_tokens tk = {0};
    glossa_text pieces = {0};
    long lineno = 0;
    int rc = 0;
    while ((len = getline(&line, &lcap, stdin)) >= 0) {
        lineno++;
        if (len && line[len - 1] == '\n') len--;
        glossa_status st;
        if (o->pieces) {
            st = glossa_tokenizer_encode_pieces(t, line, (size_t)len, &pieces);
            if (st == GLOSSA_STATUS_OK) {
                fwrite(pieces.data, 1, pieces.len, stdout);
                putc_unlocked('\n', stdout);
            }
        } else {
            st = encode_line(t, o, line, (size_t)len, &tk);
            if (st == GLOSSA_STATUS_OK) put_ids(&tk, stdout);
        }
        if (st != GLOSSA_STATUS_OK) {
            fprintf(stderr, "glossa tokenize: line %ld: %s\n", lineno, glossa_last_error());
            rc = 1;
            break;
        }
    }
    free(line);
    glossa_tokens_free(&tk);
    glossa_text_free(&pieces);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run_bench(const glossa_tokenizer *t, const tok_opts *o)
{
    size_t len;
    char *data = cli_read_all(stdin, &len);
    if (!data) {
        fprintf(stderr, "glossa tokenize: cannot read stdin\n");
        return 1;
    }
    glossa_tokens tk = {0};
    double times[1000];
    size_t lines = 0, ntok = 0;
    for (int r = 0; r < o->repeat; r++) {
        lines = ntok = 0;
        double t0 = cli_now();
        for (size_t i = 0; i < len;) {
            const char *nl = memchr(data + i, '\n', len - i);
            size_t end = nl ? (size_t)(nl - data) : len;
            if (encode_line(t, o, data + i, end - i, &tk) != GLOSSA_STATUS_OK) {
                free(data);
                glossa_tokens_free(&tk);
                return cli_fail("encode");
            }
            ntok += tk.n;
            lines++;
            i = end + 1;
        }
        times[r] = cli_now() - t0;
    }
    qsort(times, (size_t)o->repeat, sizeof times[0], cmp_double);
    double med = times[o->repeat / 2];
    printf("bytes %zu lines %zu tokens %zu runs %d median_s %.4f MB/s %.2f lines/s %.0f tokens/s %.0f\n",
           len, lines, ntok, o->repeat, med, (double)len / med / 1e6, (double)lines / med,
           (double)ntok / med);
    free(data);
    glossa_tokens_free(&tk);
    return 0;
}

int cmd_tokenize(int argc, char **argv)
{
    tok_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    glossa_tokenizer *t = NULL;
    glossa_status st = o.spm    ? glossa_tokenizer_load_spm(o.spm, &t)
                       : o.json ? glossa_tokenizer_load_json(o.json, &t)
                                : glossa_tokenizer_load_dir(o.dir, &t);
    if (st != GLOSSA_STATUS_OK) return cli_fail("loading the tokenizer");
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    if (o.bench) rc = run_bench(t, &o);
    else if (o.decode) rc = run_decode(t, &o);
    else rc = run_encode(t, &o);
    if (fflush(stdout) != 0) rc = 1;
    glossa_tokenizer_free(t);
    return rc;
}
