/* glossa synth: random-weight model directories of real architectures in Hugging Face format.
 * Weights are generated and written one tensor at a time (the header, with every offset, is
 * computed first), so a 2.4 GB model needs a few MB of memory. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/half.h"
#include "core/status.h"
#include "io/file.h"
#include "model/synth.h"

#define CHUNK 65536
#define NAME_CAP 96

typedef enum init_kind {
    INIT_NORMAL = 0, /* normal(0, std) */
    INIT_EMBED,      /* normal(0, std), the padding row zero */
    INIT_BIAS,       /* normal(0, std) (transformers: 0) */
    INIT_LN_WEIGHT,  /* 1 + normal(0, std) (transformers: 1) */
    INIT_LOGITS_BIAS, /* final_logits_bias: normal(0, std) (transformers: 0), + eos_bias at eos */
    INIT_DEC_POS,    /* decoder positions: normal(0, std), + eos_ramp * position along E[eos] */
} init_kind;

typedef struct synth_tensor {
    char name[NAME_CAP];
    int32_t ndim;
    int64_t shape[2];
    init_kind init;
} synth_tensor;

typedef struct tensor_list {
    synth_tensor *t;
    size_t n, cap;
} tensor_list;

glossa_synth_params glossa_synth_default_params(void)
{
    glossa_synth_params p;
    memset(&p, 0, sizeof p);
    p.arch = "tiny";
    return p;
}

/* ---- the tensors of an architecture ---- */

static glossa_status add(tensor_list *l, init_kind init, int64_t rows, int64_t cols, const char *a,
                         const char *b, const char *suffix)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 256;
        synth_tensor *t = realloc(l->t, nc * sizeof *t);
        if (!t) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "synth: tensor list");
        l->t = t;
        l->cap = nc;
    }
    synth_tensor *t = &l->t[l->n++];
    int n = snprintf(t->name, sizeof t->name, "%s%s%s", a, b, suffix);
    if (n < 0 || (size_t)n >= sizeof t->name) return glossa_error(GLOSSA_STATUS_INTERNAL, "synth: tensor name too long");
    t->init = init;
    t->ndim = cols > 0 ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols;
    return GLOSSA_STATUS_OK;
}

/* prefix + module + ".weight" (rows, cols) and ".bias" (rows) */
static glossa_status add_linear(tensor_list *l, const char *prefix, const char *module, int64_t rows,
                                int64_t cols)
{
    GLOSSA_TRY(add(l, INIT_NORMAL, rows, cols, prefix, module, ".weight"));
    return add(l, INIT_BIAS, rows, 0, prefix, module, ".bias");
}

static glossa_status add_norm(tensor_list *l, const char *prefix, const char *module, int64_t d)
{
    GLOSSA_TRY(add(l, INIT_LN_WEIGHT, d, 0, prefix, module, ".weight"));
    return add(l, INIT_BIAS, d, 0, prefix, module, ".bias");
}

static glossa_status add_attention(tensor_list *l, const char *prefix, const char *attn, int64_t d)
{
    static const char *const proj[4] = {"k_proj", "v_proj", "q_proj", "out_proj"};
    char module[64];
    for (int i = 0; i < 4; i++) {
        snprintf(module, sizeof module, "%s.%s", attn, proj[i]);
        GLOSSA_TRY(add_linear(l, prefix, module, d, d));
    }
    snprintf(module, sizeof module, "%s_layer_norm", attn);
    return add_norm(l, prefix, module, d);
}

static glossa_status add_stack(tensor_list *l, const synth_config *c, const char *stack)
{
    synth_model m = c->arch->model;
    int64_t d = c->d_model;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "model.%s.", stack);
    bool dec = !strcmp(stack, "decoder");
    if (m == SYNTH_MODEL_BART || m == SYNTH_MODEL_MBART) {
        GLOSSA_TRY(add(l, dec ? INIT_DEC_POS : INIT_NORMAL, c->max_positions + 2, d, prefix, "embed_positions", ".weight"));
        GLOSSA_TRY(add_norm(l, prefix, "layernorm_embedding", d));
    }
    if (m == SYNTH_MODEL_MBART || m == SYNTH_MODEL_M2M100) GLOSSA_TRY(add_norm(l, prefix, "layer_norm", d));
    for (int i = 0; i < c->layers; i++) {
        char lp[96];
        snprintf(lp, sizeof lp, "%slayers.%d.", prefix, i);
        GLOSSA_TRY(add_attention(l, lp, "self_attn", d));
        if (dec) GLOSSA_TRY(add_attention(l, lp, "encoder_attn", d));
        GLOSSA_TRY(add_linear(l, lp, "fc1", c->ffn, d));
        GLOSSA_TRY(add_linear(l, lp, "fc2", d, c->ffn));
        GLOSSA_TRY(add_norm(l, lp, "final_layer_norm", d));
    }
    return GLOSSA_STATUS_OK;
}

static int cmp_tensor(const void *a, const void *b)
{
    return strcmp(((const synth_tensor *)a)->name, ((const synth_tensor *)b)->name);
}

/* The state dict transformers 5's save_pretrained writes, sorted by name as safetensors' writer
 * orders it: the tied embeddings once (model.shared.weight), no sinusoidal positions. */
static glossa_status build_tensors(const synth_config *c, tensor_list *l)
{
    synth_model m = c->arch->model;
    if (m != SYNTH_MODEL_M2M100) GLOSSA_TRY(add(l, INIT_LOGITS_BIAS, 1, c->vocab, "", "final_logits_bias", ""));
    GLOSSA_TRY(add(l, INIT_EMBED, c->vocab, c->d_model, "model.", "shared", ".weight"));
    GLOSSA_TRY(add_stack(l, c, "encoder"));
    GLOSSA_TRY(add_stack(l, c, "decoder"));
    qsort(l->t, l->n, sizeof *l->t, cmp_tensor);
    return GLOSSA_STATUS_OK;
}

/* ---- random numbers: splitmix64 seeding a xoshiro256** stream per tensor ---- */

typedef struct rng {
    uint64_t s[4];
    double spare;
    bool has_spare;
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a of the name */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
    uint64_t x = seed ^ h;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    r->has_spare = false;
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Standard normal (Marsaglia's polar method, both values used). */
static double rng_normal(rng *r)
{
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    double x, y, q;
    do {
        x = (double)(rng_next(r) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
        y = (double)(rng_next(r) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
        q = x * x + y * y;
    } while (q >= 1.0 || q == 0.0);
    double f = sqrt(-2.0 * log(q) / q);
    r->spare = y * f;
    r->has_spare = true;
    return x * f;
}

/* ---- streaming the file ---- */

/* eos_dir: the unit vector of E[eos] (the </s> row of model.shared.weight), for INIT_DEC_POS. */
static void fill(const synth_tensor *t, const synth_config *c, const float *eos_dir, rng *r, int64_t first,
                 float *out, size_t n)
{
    double std = c->init_std;
    int64_t cols = t->ndim == 2 ? t->shape[1] : 1;
    for (size_t i = 0; i < n; i++) {
        double v = rng_normal(r) * std;
        int64_t row = (first + (int64_t)i) / cols, col = (first + (int64_t)i) % cols;
        if (t->init == INIT_LN_WEIGHT) v += 1.0;
        if (t->init == INIT_EMBED && row == c->pad) v = 0.0;
        if (t->init == INIT_LOGITS_BIAS && first + (int64_t)i == c->eos) v += c->eos_bias;
        if (t->init == INIT_DEC_POS && eos_dir && row >= 2) /* row p + 2: position p (HF's offset) */
            v += (double)c->eos_ramp * (double)(row - 2) * eos_dir[col];
        out[i] = (float)v;
    }
}

static glossa_status write_tensor(FILE *f, const synth_tensor *t, const synth_config *c, const float *eos_dir,
                                  float *buf, uint16_t *half)
{
    rng r;
    rng_seed(&r, c->seed, t->name);
    int64_t numel = t->shape[0] * (t->ndim == 2 ? t->shape[1] : 1);
    for (int64_t done = 0; done < numel;) {
        size_t n = (size_t)(numel - done < CHUNK ? numel - done : CHUNK);
        fill(t, c, eos_dir, &r, done, buf, n);
        size_t w;
        if (c->fp16) {
            for (size_t i = 0; i < n; i++) half[i] = half_f32_to_f16(buf[i]);
            w = fwrite(half, 2, n, f);
        } else {
            w = fwrite(buf, 4, n, f);
        }
        if (w != n) return glossa_error(GLOSSA_STATUS_IO_ERROR, "synth: write failed (%s)", strerror(errno));
        done += (int64_t)n;
    }
    return GLOSSA_STATUS_OK;
}

/* The unit vector of the </s> row of the word embeddings (regenerated from its stream), or NULL
 * when no ramp is asked for. */
static float *eos_direction(const synth_config *c)
{
    if (c->eos_ramp == 0.0f) return NULL;
    float *e = malloc((size_t)c->d_model * sizeof *e);
    if (!e) return NULL;
    rng r;
    rng_seed(&r, c->seed, "model.shared.weight");
    for (int64_t i = 0; i < (int64_t)c->eos * c->d_model; i++) rng_normal(&r);
    double norm = 0.0;
    for (int32_t i = 0; i < c->d_model; i++) {
        e[i] = (float)(rng_normal(&r) * c->init_std);
        norm += (double)e[i] * e[i];
    }
    norm = sqrt(norm);
    for (int32_t i = 0; i < c->d_model; i++) e[i] = norm > 0 ? (float)(e[i] / norm) : 0.0f;
    return e;
}

static glossa_status write_file(const char *path, const tensor_list *l, const synth_config *c)
{
    st_write_tensor *desc = calloc(l->n, sizeof *desc);
    if (!desc) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "synth: tensors");
    for (size_t i = 0; i < l->n; i++) {
        desc[i].name = l->t[i].name;
        desc[i].dtype = c->fp16 ? ST_DTYPE_F16 : ST_DTYPE_F32;
        desc[i].ndim = l->t[i].ndim;
        desc[i].shape[0] = l->t[i].shape[0];
        desc[i].shape[1] = l->t[i].shape[1];
    }
    static const char *const keys[] = {"format"}, *const values[] = {"pt"};
    char *header = NULL;
    size_t header_len;
    uint64_t bytes;
    glossa_status st = st_write_header(desc, l->n, keys, values, 1, &header, &header_len, &bytes);
    free(desc);
    if (st != GLOSSA_STATUS_OK) return st;
    float *buf = malloc(CHUNK * sizeof *buf);
    uint16_t *half = malloc(CHUNK * sizeof *half);
    float *eos_dir = eos_direction(c);
    bool mem = buf && half && (eos_dir || c->eos_ramp == 0.0f);
    FILE *f = mem ? fopen(path, "wb") : NULL;
    if (!mem) st = glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "synth: buffers");
    else if (!f) st = glossa_error(GLOSSA_STATUS_IO_ERROR, "synth: cannot create %s: %s", path, strerror(errno));
    if (st == GLOSSA_STATUS_OK && fwrite(header, 1, header_len, f) != header_len)
        st = glossa_error(GLOSSA_STATUS_IO_ERROR, "synth: %s: write failed", path);
    for (size_t i = 0; st == GLOSSA_STATUS_OK && i < l->n; i++) st = write_tensor(f, &l->t[i], c, eos_dir, buf, half);
    if (f && fclose(f) != 0 && st == GLOSSA_STATUS_OK)
        st = glossa_error(GLOSSA_STATUS_IO_ERROR, "synth: %s: write failed", path);
    if (st != GLOSSA_STATUS_OK && f) remove(path);
    free(header);
    free(eos_dir);
    free(buf);
    free(half);
    return st;
}

glossa_status synth_write_weights(const char *dir, const synth_config *c)
{
    char path[4096];
    GLOSSA_TRY(path_join(path, sizeof path, dir, "model.safetensors"));
    tensor_list l = {0};
    glossa_status st = build_tensors(c, &l);
    if (st == GLOSSA_STATUS_OK) st = write_file(path, &l, c);
    free(l.t);
    return st;
}

/* mkdir -p */
static glossa_status make_dirs(const char *dir)
{
    char path[4096];
    size_t len = strlen(dir);
    if (!len || len >= sizeof path) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "synth: bad output directory");
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0') continue;
        char keep = path[i];
        path[i] = '\0';
        struct stat sb;
        if (mkdir(path, 0777) != 0 && (errno != EEXIST || stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)))
            return glossa_error(GLOSSA_STATUS_IO_ERROR, "synth: cannot create directory %s: %s", path,
                                errno == EEXIST ? "a file is in the way" : strerror(errno));
        path[i] = keep;
    }
    return GLOSSA_STATUS_OK;
}

glossa_status glossa_synth(const char *out_dir, const glossa_synth_params *params)
{
    if (!out_dir || !out_dir[0]) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "synth: no output directory");
    glossa_synth_params def = glossa_synth_default_params();
    if (!params) params = &def;
    synth_config c;
    GLOSSA_TRY(synth_config_resolve(params, &c));
    GLOSSA_TRY(make_dirs(out_dir));
    GLOSSA_TRY(synth_write_configs(out_dir, &c));
    GLOSSA_TRY(synth_write_tokenizer(out_dir, &c));
    return synth_write_weights(out_dir, &c);
}
