/* Loading an encoder-decoder checkpoint (HF tensor names) into backend weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "model/bart.h"

typedef struct loader {
    bart_model *m;
    const st_set *st;
    const char *prefix; /* "model." or "" */
    int32_t done, total;
    bart_progress_fn progress;
    void *user;
} loader;

static const st_tensor *find(const loader *L, const char *name, bool prefixed)
{
    char buf[256];
    if (prefixed) {
        snprintf(buf, sizeof buf, "%s%s", L->prefix, name);
        return st_set_find(L->st, buf);
    }
    return st_set_find(L->st, name);
}

static glossa_status to_gl_dtype(const st_tensor *t, gl_dtype *out)
{
    switch (t->dtype) {
    case ST_DTYPE_F32: *out = GL_DTYPE_F32; return GLOSSA_STATUS_OK;
    case ST_DTYPE_F16: *out = GL_DTYPE_F16; return GLOSSA_STATUS_OK;
    case ST_DTYPE_BF16: *out = GL_DTYPE_BF16; return GLOSSA_STATUS_OK;
    default:
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "tensor %s: dtype %s (expected F32, F16 or BF16)",
                            t->name, st_dtype_name(t->dtype));
    }
}

/* Check t's shape: (rows, cols), or (cols) when rows == 0 (a vector), or (1, cols) when
 * rows == -1 (final_logits_bias). */
static glossa_status check_shape(const st_tensor *t, int64_t rows, int64_t cols)
{
    bool ok;
    if (rows == 0) ok = t->ndim == 1 && t->shape[0] == cols;
    else ok = t->ndim == 2 && t->shape[0] == (rows < 0 ? 1 : rows) && t->shape[1] == cols;
    if (ok) return GLOSSA_STATUS_OK;
    char got[96] = "", *p = got;
    for (int32_t i = 0; i < t->ndim && p < got + sizeof got - 24; i++)
        p += sprintf(p, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (rows == 0)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "tensor %s: shape [%s], expected [%lld]", t->name,
                            got, (long long)cols);
    return glossa_error(GLOSSA_STATUS_BAD_MODEL, "tensor %s: shape [%s], expected [%lld, %lld]",
                        t->name, got, (long long)(rows < 0 ? 1 : rows), (long long)cols);
}

static glossa_status own(loader *L, const gl_weight *w)
{
    bart_model *m = L->m;
    gl_weight *o = realloc(m->owned, (size_t)(m->n_owned + 1) * sizeof *o);
    if (!o) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "weights table");
    m->owned = o;
    m->owned[m->n_owned++] = *w;
    return GLOSSA_STATUS_OK;
}

static void tick(loader *L)
{
    L->done++;
    if (L->progress && L->total > 0) L->progress((float)L->done / (float)L->total, L->user);
}

/* Upload n host tensors (same dtype, same cols) stacked by rows into one weight. */
static glossa_status upload_stack(loader *L, const st_tensor *const *ts, int32_t n, int32_t cols,
                                  gl_weight *out)
{
    gl_dtype dt = GL_DTYPE_F32;
    GLOSSA_TRY(to_gl_dtype(ts[0], &dt));
    int64_t rows = 0;
    for (int32_t i = 0; i < n; i++) {
        if (ts[i]->dtype != ts[0]->dtype)
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "tensors %s and %s: different dtypes",
                                ts[0]->name, ts[i]->name);
        rows += ts[i]->ndim == 1 ? 1 : ts[i]->shape[0];
    }
    const void *src = ts[0]->data;
    unsigned char *tmp = NULL;
    if (n > 1) {
        size_t total = 0;
        for (int32_t i = 0; i < n; i++) total += ts[i]->nbytes;
        tmp = malloc(total ? total : 1);
        if (!tmp) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "staging %s", ts[0]->name);
        size_t at = 0;
        for (int32_t i = 0; i < n; i++) {
            memcpy(tmp + at, ts[i]->data, ts[i]->nbytes);
            at += ts[i]->nbytes;
        }
        src = tmp;
    }
    backend *be = L->m->be;
    glossa_status st = be->ops->weight_from_host(be, src, dt, (int32_t)rows, cols, out);
    free(tmp);
    if (st != GLOSSA_STATUS_OK) return glossa_error_prefix(st, "tensor %s: ", ts[0]->name);
    for (int32_t i = 0; i < n; i++) tick(L);
    return own(L, out);
}

static glossa_status need(loader *L, const char *name, int64_t rows, int64_t cols,
                          const st_tensor **out)
{
    const st_tensor *t = find(L, name, true);
    if (!t) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "missing tensor %s%s", L->prefix, name);
    GLOSSA_TRY(check_shape(t, rows, cols));
    *out = t;
    return GLOSSA_STATUS_OK;
}

/* weight (rows, cols) or vector (rows == 0) by name */
static glossa_status load1(loader *L, const char *name, int64_t rows, int64_t cols, gl_weight *w)
{
    const st_tensor *t;
    GLOSSA_TRY(need(L, name, rows, cols, &t));
    return upload_stack(L, &t, 1, (int32_t)cols, w);
}

static glossa_status load_ln(loader *L, const char *base, int32_t d, gl_weight *g, gl_weight *b)
{
    char n[160];
    snprintf(n, sizeof n, "%s.weight", base);
    GLOSSA_TRY(load1(L, n, 0, d, g));
    snprintf(n, sizeof n, "%s.bias", base);
    return load1(L, n, 0, d, b);
}

/* Fused projections: names[i] + ".weight" / ".bias", each (d, d), stacked. */
static glossa_status load_fused(loader *L, const char *base, const char *const *parts, int32_t n,
                                int32_t d, gl_weight *w, gl_weight *b)
{
    const st_tensor *tw[3], *tb[3];
    char name[192];
    for (int32_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s.%s.weight", base, parts[i]);
        GLOSSA_TRY(need(L, name, d, d, &tw[i]));
        snprintf(name, sizeof name, "%s.%s.bias", base, parts[i]);
        GLOSSA_TRY(need(L, name, 0, d, &tb[i]));
    }
    GLOSSA_TRY(upload_stack(L, tw, n, d, w));
    GLOSSA_TRY(upload_stack(L, tb, n, d, b));
    b->rows = 1; /* one (n d) vector */
    b->cols = n * d;
    return GLOSSA_STATUS_OK;
}

static glossa_status load_layer(loader *L, const char *stack, int32_t i, int32_t ffn, bool decoder,
                                bart_layer *ly)
{
    int32_t d = L->m->cfg.d_model;
    char base[96], name[160];
    snprintf(base, sizeof base, "%s.layers.%d", stack, i);
    static const char *const qkv[3] = {"q_proj", "k_proj", "v_proj"};
    static const char *const kv[2] = {"k_proj", "v_proj"};
    snprintf(name, sizeof name, "%s.self_attn", base);
    GLOSSA_TRY(load_fused(L, name, qkv, 3, d, &ly->self_qkv_w, &ly->self_qkv_b));
    snprintf(name, sizeof name, "%s.self_attn.out_proj.weight", base);
    GLOSSA_TRY(load1(L, name, d, d, &ly->self_o_w));
    snprintf(name, sizeof name, "%s.self_attn.out_proj.bias", base);
    GLOSSA_TRY(load1(L, name, 0, d, &ly->self_o_b));
    snprintf(name, sizeof name, "%s.self_attn_layer_norm", base);
    GLOSSA_TRY(load_ln(L, name, d, &ly->self_ln_g, &ly->self_ln_b));
    if (decoder) {
        snprintf(name, sizeof name, "%s.encoder_attn.q_proj.weight", base);
        GLOSSA_TRY(load1(L, name, d, d, &ly->cross_q_w));
        snprintf(name, sizeof name, "%s.encoder_attn.q_proj.bias", base);
        GLOSSA_TRY(load1(L, name, 0, d, &ly->cross_q_b));
        snprintf(name, sizeof name, "%s.encoder_attn", base);
        GLOSSA_TRY(load_fused(L, name, kv, 2, d, &ly->cross_kv_w, &ly->cross_kv_b));
        snprintf(name, sizeof name, "%s.encoder_attn.out_proj.weight", base);
        GLOSSA_TRY(load1(L, name, d, d, &ly->cross_o_w));
        snprintf(name, sizeof name, "%s.encoder_attn.out_proj.bias", base);
        GLOSSA_TRY(load1(L, name, 0, d, &ly->cross_o_b));
        snprintf(name, sizeof name, "%s.encoder_attn_layer_norm", base);
        GLOSSA_TRY(load_ln(L, name, d, &ly->cross_ln_g, &ly->cross_ln_b));
    }
    snprintf(name, sizeof name, "%s.fc1.weight", base);
    GLOSSA_TRY(load1(L, name, ffn, d, &ly->fc1_w));
    snprintf(name, sizeof name, "%s.fc1.bias", base);
    GLOSSA_TRY(load1(L, name, 0, ffn, &ly->fc1_b));
    snprintf(name, sizeof name, "%s.fc2.weight", base);
    GLOSSA_TRY(load1(L, name, d, ffn, &ly->fc2_w));
    snprintf(name, sizeof name, "%s.fc2.bias", base);
    GLOSSA_TRY(load1(L, name, 0, d, &ly->fc2_b));
    snprintf(name, sizeof name, "%s.final_layer_norm", base);
    return load_ln(L, name, d, &ly->ffn_ln_g, &ly->ffn_ln_b);
}

/* Sinusoidal position tables exactly as transformers builds them. */
static void sinusoid_fairseq(float *t, int32_t rows, int32_t d, int32_t padding_idx)
{
    int32_t half = d / 2;
    float c = (float)(log(10000.0) / (double)(half - 1 > 0 ? half - 1 : 1));
    for (int32_t p = 0; p < rows; p++) {
        float *r = t + (size_t)p * (size_t)d;
        for (int32_t j = 0; j < half; j++) {
            float f = expf((float)j * -c);
            float a = (float)p * f;
            r[j] = sinf(a);
            r[half + j] = cosf(a);
        }
        if (d % 2) r[d - 1] = 0.0f;
        if (p == padding_idx) memset(r, 0, (size_t)d * sizeof *r);
    }
}

static void sinusoid_marian(float *t, int32_t rows, int32_t d)
{
    int32_t sentinel = d % 2 == 0 ? d / 2 : d / 2 + 1;
    for (int32_t p = 0; p < rows; p++) {
        float *r = t + (size_t)p * (size_t)d;
        for (int32_t j = 0; j < d; j++) {
            double a = (double)p / pow(10000.0, 2.0 * (double)(j / 2) / (double)d);
            if (j % 2 == 0) r[j / 2] = (float)sin(a);
            else r[sentinel + j / 2] = (float)cos(a);
        }
    }
}

static glossa_status load_positions(loader *L, const char *stack, gl_weight *w)
{
    const model_config *c = &L->m->cfg;
    int32_t d = c->d_model;
    int32_t rows = c->max_position_embeddings + c->pos_offset;
    char name[96];
    snprintf(name, sizeof name, "%s.embed_positions.weight", stack);
    if (c->pos_kind == MODEL_POS_LEARNED) return load1(L, name, rows, d, w);
    const st_tensor *t = find(L, name, true);
    if (t && c->pos_kind == MODEL_POS_SINUSOIDAL_MARIAN) { /* Marian checkpoints carry the table */
        GLOSSA_TRY(check_shape(t, t->ndim == 2 ? t->shape[0] : -2, d));
        return upload_stack(L, &t, 1, d, w);
    }
    float *tab = malloc((size_t)rows * (size_t)d * sizeof *tab);
    if (!tab) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "position table");
    if (c->pos_kind == MODEL_POS_SINUSOIDAL_FAIRSEQ) sinusoid_fairseq(tab, rows, d, c->pad_token_id);
    else sinusoid_marian(tab, rows, d);
    backend *be = L->m->be;
    glossa_status st = be->ops->weight_from_host(be, tab, GL_DTYPE_F32, rows, d, w);
    free(tab);
    GLOSSA_TRY(st);
    return own(L, w);
}

static glossa_status load_embeddings(loader *L)
{
    bart_model *m = L->m;
    const model_config *c = &m->cfg;
    int32_t d = c->d_model, dv = c->decoder_vocab_size;
    bool shared = c->arch != MODEL_ARCH_MARIAN || c->share_encoder_decoder_embeddings;
    const st_tensor *t = shared ? find(L, "shared.weight", true) : NULL;
    if (!t) t = find(L, "encoder.embed_tokens.weight", true);
    if (!t) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "missing tensor %sshared.weight",
                                L->prefix);
    GLOSSA_TRY(check_shape(t, c->vocab_size, d));
    GLOSSA_TRY(upload_stack(L, &t, 1, d, &m->enc_embed));
    if (shared) {
        m->dec_embed = m->enc_embed;
    } else {
        GLOSSA_TRY(load1(L, "decoder.embed_tokens.weight", dv, d, &m->dec_embed));
    }
    const st_tensor *head = find(L, "lm_head.weight", false);
    if (c->tie_word_embeddings) {
        m->lm_head = m->dec_embed;
    } else {
        if (!head) return glossa_error(GLOSSA_STATUS_BAD_MODEL,
                                       "missing tensor lm_head.weight (tie_word_embeddings is false)");
        GLOSSA_TRY(check_shape(head, dv, d));
        GLOSSA_TRY(upload_stack(L, &head, 1, d, &m->lm_head));
    }
    /* lm_head.rows == dv here: tied, it is the decoder embedding, (dv, d) unless shared, and
     * shared embeddings have dv == vocab_size (hf_config.c) */
    const char *packed = getenv("GLOSSA_LOGITS_PACKED"); /* =1: rows dv apart (A/B timing) */
    m->logits_ld = packed && packed[0] == '1' ? dv : gl_weight_rows_padded(dv);
    const st_tensor *bias = find(L, "final_logits_bias", false);
    if (bias) {
        /* uploaded as a (dv, 1) column, so that its storage holds logits_ld entries, the pad
         * zero (weight_from_host pads rows) */
        GLOSSA_TRY(check_shape(bias, -1, dv));
        gl_dtype dt = GL_DTYPE_F32;
        GLOSSA_TRY(to_gl_dtype(bias, &dt));
        gl_weight *w = &m->final_logits_bias;
        glossa_status st = m->be->ops->weight_from_host(m->be, bias->data, dt, dv, 1, w);
        if (st != GLOSSA_STATUS_OK) return glossa_error_prefix(st, "tensor %s: ", bias->name);
        tick(L);
        GLOSSA_TRY(own(L, w));
        w->rows = 1;
        w->cols = dv;
    }
    return GLOSSA_STATUS_OK;
}

static glossa_status load_stack(loader *L, bool decoder)
{
    bart_model *m = L->m;
    const model_config *c = &m->cfg;
    const char *stack = decoder ? "decoder" : "encoder";
    int32_t d = c->d_model;
    GLOSSA_TRY(load_positions(L, stack, decoder ? &m->dec_pos : &m->enc_pos));
    char name[64];
    if (c->layernorm_embedding) {
        snprintf(name, sizeof name, "%s.layernorm_embedding", stack);
        GLOSSA_TRY(load_ln(L, name, d, decoder ? &m->dec_emb_ln_g : &m->enc_emb_ln_g,
                           decoder ? &m->dec_emb_ln_b : &m->enc_emb_ln_b));
    }
    if (c->final_layer_norm) {
        snprintf(name, sizeof name, "%s.layer_norm", stack);
        GLOSSA_TRY(load_ln(L, name, d, decoder ? &m->dec_final_ln_g : &m->enc_final_ln_g,
                           decoder ? &m->dec_final_ln_b : &m->enc_final_ln_b));
    }
    int32_t n = decoder ? c->decoder_layers : c->encoder_layers;
    for (int32_t i = 0; i < n; i++)
        GLOSSA_TRY(load_layer(L, stack, i, decoder ? c->decoder_ffn : c->encoder_ffn, decoder,
                              decoder ? &m->dec[i] : &m->enc[i]));
    return GLOSSA_STATUS_OK;
}

glossa_status bart_load(backend *be, const model_config *cfg, const st_set *st,
                        bart_progress_fn progress, void *user, bart_model **out)
{
    *out = NULL;
    bart_model *m = calloc(1, sizeof *m);
    if (!m) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "model");
    m->cfg = *cfg;
    m->be = be;
    m->enc = calloc((size_t)cfg->encoder_layers, sizeof *m->enc);
    m->dec = calloc((size_t)cfg->decoder_layers, sizeof *m->dec);
    if (!m->enc || !m->dec) {
        bart_free(m);
        return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "model layers");
    }
    m->embed_scale = cfg->scale_embedding ? sqrtf((float)cfg->d_model) : 1.0f;
    loader L = {m, st, "model.", 0, (int32_t)st_set_count(st), progress, user};
    if (!st_set_find(st, "model.encoder.layers.0.fc1.weight") &&
        st_set_find(st, "encoder.layers.0.fc1.weight"))
        L.prefix = "";
    glossa_status s = load_embeddings(&L);
    if (s == GLOSSA_STATUS_OK) s = load_stack(&L, false);
    if (s == GLOSSA_STATUS_OK) s = load_stack(&L, true);
    if (s != GLOSSA_STATUS_OK) {
        bart_free(m);
        return s;
    }
    if (progress) progress(1.0f, user);
    *out = m;
    return GLOSSA_STATUS_OK;
}

void bart_free(bart_model *m)
{
    if (!m) return;
    for (int32_t i = 0; i < m->n_owned; i++) m->be->ops->weight_free(m->be, &m->owned[i]);
    free(m->owned);
    free(m->enc);
    free(m->dec);
    free(m);
}

int32_t bart_decoder_vocab(const bart_model *m)
{
    return m->lm_head.rows;
}
