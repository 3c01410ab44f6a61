/* Test helper: writes a tiny random encoder-decoder checkpoint in Hugging Face layout (config.json
 * + model.safetensors, no tokenizer) for model-level tests that need no reference outputs. */
#ifndef GLOSSA_TESTS_TINY_MODEL_H
#define GLOSSA_TESTS_TINY_MODEL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/safetensors.h"

typedef struct tiny_spec {
    const char *model_type; /* bart, mbart, m2m_100, marian */
    int d, heads, ffn, enc_layers, dec_layers, vocab, max_pos;
    const char *act;
    int tie;                /* tie_word_embeddings */
    const char *skip;       /* a tensor name to leave out, or NULL */
    const char *bad_shape;  /* a tensor to write with a wrong shape, or NULL */
    int i32_dtype;          /* write bad_shape's tensor as I32 instead (wrong dtype) */
} tiny_spec;

typedef struct tiny_writer {
    st_write_tensor *t;
    size_t n, cap;
    float **bufs;
    uint64_t rng;
    const tiny_spec *spec;
} tiny_writer;

static float tiny_rand(tiny_writer *w)
{
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    return (float)((double)(w->rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void tiny_add(tiny_writer *w, const char *name, int rows, int cols, float scale, float base)
{
    if (w->spec->skip && !strcmp(w->spec->skip, name)) return;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->t = realloc(w->t, w->cap * sizeof *w->t);
        w->bufs = realloc(w->bufs, w->cap * sizeof *w->bufs);
    }
    size_t n = (size_t)(rows ? rows : 1) * (size_t)cols;
    float *b = malloc(n * sizeof *b);
    for (size_t i = 0; i < n; i++) b[i] = base + scale * tiny_rand(w);
    st_write_tensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->dtype = ST_DTYPE_F32;
    t->data = b;
    if (rows) {
        t->ndim = 2;
        t->shape[0] = rows;
        t->shape[1] = cols;
    } else {
        t->ndim = 1;
        t->shape[0] = cols;
    }
    if (w->spec->bad_shape && !strcmp(w->spec->bad_shape, name)) {
        if (w->spec->i32_dtype) t->dtype = ST_DTYPE_I32; /* same byte size, wrong dtype */
        else t->shape[t->ndim - 1] = cols - 1;
    }
    w->bufs[w->n++] = b;
}

static void tiny_ln(tiny_writer *w, const char *base, int d)
{
    char n[160];
    snprintf(n, sizeof n, "%s.weight", base);
    tiny_add(w, n, 0, d, 0.2f, 1.0f);
    snprintf(n, sizeof n, "%s.bias", base);
    tiny_add(w, n, 0, d, 0.2f, 0.0f);
}

static void tiny_lin(tiny_writer *w, const char *base, int out, int in)
{
    char n[160];
    float s = 1.5f / sqrtf((float)in);
    snprintf(n, sizeof n, "%s.weight", base);
    tiny_add(w, n, out, in, s, 0.0f);
    snprintf(n, sizeof n, "%s.bias", base);
    tiny_add(w, n, 0, out, 0.1f, 0.0f);
}

static void tiny_layer(tiny_writer *w, const char *stack, int i, int dec)
{
    const tiny_spec *s = w->spec;
    char b[128], n[192];
    snprintf(b, sizeof b, "model.%s.layers.%d", stack, i);
    const char *projs[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    for (int a = 0; a < (dec ? 2 : 1); a++)
        for (int p = 0; p < 4; p++) {
            snprintf(n, sizeof n, "%s.%s.%s", b, a ? "encoder_attn" : "self_attn", projs[p]);
            tiny_lin(w, n, s->d, s->d);
        }
    snprintf(n, sizeof n, "%s.self_attn_layer_norm", b);
    tiny_ln(w, n, s->d);
    if (dec) {
        snprintf(n, sizeof n, "%s.encoder_attn_layer_norm", b);
        tiny_ln(w, n, s->d);
    }
    snprintf(n, sizeof n, "%s.fc1", b);
    tiny_lin(w, n, s->ffn, s->d);
    snprintf(n, sizeof n, "%s.fc2", b);
    tiny_lin(w, n, s->d, s->ffn);
    snprintf(n, sizeof n, "%s.final_layer_norm", b);
    tiny_ln(w, n, s->d);
}

/* Writes dir/config.json and dir/model.safetensors. Returns 0 on success. */
static int tiny_model_write(const char *dir, const tiny_spec *s, uint64_t seed)
{
    mkdir(dir, 0755);
    tiny_writer w = {0};
    w.rng = seed * 2654435761u + 88172645463325252ull;
    w.spec = s;
    int learned = !strcmp(s->model_type, "bart") || !strcmp(s->model_type, "mbart");
    int lnemb = learned;
    int final_ln = !strcmp(s->model_type, "mbart") || !strcmp(s->model_type, "m2m_100");
    tiny_add(&w, "model.shared.weight", s->vocab, s->d, 1.0f, 0.0f);
    const char *stacks[2] = {"encoder", "decoder"};
    char n[128];
    for (int k = 0; k < 2; k++) {
        if (learned) {
            snprintf(n, sizeof n, "model.%s.embed_positions.weight", stacks[k]);
            tiny_add(&w, n, s->max_pos + 2, s->d, 0.5f, 0.0f);
        }
        if (lnemb) {
            snprintf(n, sizeof n, "model.%s.layernorm_embedding", stacks[k]);
            tiny_ln(&w, n, s->d);
        }
        if (final_ln) {
            snprintf(n, sizeof n, "model.%s.layer_norm", stacks[k]);
            tiny_ln(&w, n, s->d);
        }
        int nl = k ? s->dec_layers : s->enc_layers;
        for (int i = 0; i < nl; i++) tiny_layer(&w, stacks[k], i, k);
    }
    if (!s->tie) tiny_add(&w, "lm_head.weight", s->vocab, s->d, 1.0f, 0.0f);
    if (strcmp(s->model_type, "m2m_100")) tiny_add(&w, "final_logits_bias", 1, s->vocab, 0.5f, 0.0f);
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const char *k0 = "format", *v0 = "pt";
    glossa_status st = st_write_file(path, w.t, w.n, &k0, &v0, 1);
    for (size_t i = 0; i < w.n; i++) {
        free((void *)w.t[i].name);
        free(w.bufs[i]);
    }
    free(w.t);
    free(w.bufs);
    if (st != GLOSSA_STATUS_OK) return -1;
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    int marian = !strcmp(s->model_type, "marian");
    fprintf(f,
            "{\"model_type\": \"%s\", \"d_model\": %d, \"encoder_layers\": %d, "
            "\"decoder_layers\": %d, \"encoder_attention_heads\": %d, "
            "\"decoder_attention_heads\": %d, \"encoder_ffn_dim\": %d, \"decoder_ffn_dim\": %d, "
            "\"vocab_size\": %d, \"max_position_embeddings\": %d, \"activation_function\": \"%s\", "
            "\"scale_embedding\": true, \"tie_word_embeddings\": %s, \"pad_token_id\": %d, "
            "\"bos_token_id\": 0, \"eos_token_id\": %d, \"decoder_start_token_id\": %d, "
            "\"max_length\": 12, \"num_beams\": 1}\n",
            s->model_type, s->d, s->enc_layers, s->dec_layers, s->heads, s->heads, s->ffn,
            s->ffn, s->vocab, s->max_pos, s->act, s->tie ? "true" : "false",
            marian ? s->vocab - 1 : 1, marian ? 0 : 2, marian ? s->vocab - 1 : 2);
    fclose(f);
    return 0;
}

#endif
