/* Encoder and decoder passes of the encoder-decoder transformer (see bart.h), as transformers'
 * modeling_{bart,mbart,m2m_100,marian}.py compute them:
 *
 *   x = embed_tokens(ids) * embed_scale + positions;  [layernorm_embedding]
 *   pre-LN layer:  x += attn(LN(x));  [x += cross(LN(x))];  x += fc2(act(fc1(LN(x))))
 *   post-LN layer: x = LN(x + attn(x));  [x = LN(x + cross(x))];  x = LN(x + fc2(act(fc1(x))))
 *   [final layer_norm];  logits = x lm_head^T + final_logits_bias
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "model/bart.h"
#include "model/bart_graph.h"

struct bart_ws {
    bart_model *m;
    size_t esz;           /* activation element size */
    int32_t cap_tok;      /* token rows the activation buffers hold */
    int32_t cap_seq;      /* sequences ws->off holds */
    int64_t cap_logits;   /* logits elements */
    void *x, *y, *qkv, *attn, *h, *q; /* (cap_tok, d|d|3d|d|ffn|d) */
    void *logits;         /* (cap_logits) */
    int32_t *ids, *pos, *slots;        /* (cap_tok) device int32 (the encoder's) */
    int32_t *off;                      /* (cap_seq + 1) the encoder's sequence offsets */
    int32_t *host_pos;                 /* (cap_tok) host staging */
    int32_t *didx, *hidx;              /* (cap_idx) a decoder pass's index arrays, one upload */
    int64_t cap_idx;
    uint64_t epoch;                    /* bumped whenever a buffer above moves */
    bart_graphs *graphs;               /* recorded decoder passes; NULL: none */
    int table_pow2;                    /* GLOSSA_TABLE_POW2 (read once): 1, 0, or -1 unset */
    bool graph_check;                  /* GLOSSA_GRAPHS_CHECK=1: compare replays (debugging) */
};

static void dev_free(backend *be, void **p)
{
    if (*p) be->ops->free(be, *p);
    *p = NULL;
}

static glossa_status dev_alloc(backend *be, size_t bytes, void **p)
{
    dev_free(be, p);
    /* (every caller is a ws_reserve_* that bumps ws->epoch) */
    return be->ops->alloc(be, bytes ? bytes : 16, p);
}

static int32_t max_i32(int32_t a, int32_t b) { return a > b ? a : b; }

static glossa_status ws_reserve_tok(bart_ws *ws, int32_t n_tok)
{
    if (n_tok <= ws->cap_tok) return GLOSSA_STATUS_OK;
    bart_model *m = ws->m;
    backend *be = m->be;
    const model_config *c = &m->cfg;
    int32_t cap = max_i32(n_tok, ws->cap_tok * 2);
    ws->epoch++;
    size_t d = (size_t)c->d_model, ffn = (size_t)max_i32(c->encoder_ffn, c->decoder_ffn);
    size_t n = (size_t)cap;
    GLOSSA_TRY(dev_alloc(be, n * d * ws->esz, &ws->x));
    GLOSSA_TRY(dev_alloc(be, n * d * ws->esz, &ws->y));
    GLOSSA_TRY(dev_alloc(be, n * 3 * d * ws->esz, &ws->qkv));
    GLOSSA_TRY(dev_alloc(be, n * d * ws->esz, &ws->attn));
    GLOSSA_TRY(dev_alloc(be, n * ffn * ws->esz, &ws->h));
    GLOSSA_TRY(dev_alloc(be, n * d * ws->esz, &ws->q));
    GLOSSA_TRY(dev_alloc(be, n * 4, (void **)&ws->ids));
    GLOSSA_TRY(dev_alloc(be, n * 4, (void **)&ws->pos));
    GLOSSA_TRY(dev_alloc(be, n * 4, (void **)&ws->slots));
    int32_t *hp = realloc(ws->host_pos, n * sizeof *hp);
    if (!hp) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "workspace");
    ws->host_pos = hp;
    ws->cap_tok = cap;
    return GLOSSA_STATUS_OK;
}

static glossa_status ws_reserve_seq(bart_ws *ws, int32_t n_seq)
{
    if (n_seq <= ws->cap_seq) return GLOSSA_STATUS_OK;
    int32_t cap = max_i32(n_seq, ws->cap_seq * 2);
    ws->epoch++;
    GLOSSA_TRY(dev_alloc(ws->m->be, ((size_t)cap + 1) * 4, (void **)&ws->off));
    ws->cap_seq = cap;
    return GLOSSA_STATUS_OK;
}

static glossa_status ws_reserve_logits(bart_ws *ws, int64_t n)
{
    if (n <= ws->cap_logits) return GLOSSA_STATUS_OK;
    int64_t cap = n > ws->cap_logits * 2 ? n : ws->cap_logits * 2;
    ws->epoch++;
    GLOSSA_TRY(dev_alloc(ws->m->be, (size_t)cap * ws->esz, &ws->logits));
    ws->cap_logits = cap;
    return GLOSSA_STATUS_OK;
}

static glossa_status ws_reserve_idx(bart_ws *ws, int64_t n)
{
    if (n <= ws->cap_idx) return GLOSSA_STATUS_OK;
    int64_t cap = n > ws->cap_idx * 2 ? n : ws->cap_idx * 2;
    ws->epoch++;
    GLOSSA_TRY(dev_alloc(ws->m->be, (size_t)cap * 4, (void **)&ws->didx));
    int32_t *h = realloc(ws->hidx, (size_t)cap * sizeof *h);
    if (!h) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "workspace");
    ws->hidx = h;
    ws->cap_idx = cap;
    return GLOSSA_STATUS_OK;
}

glossa_status bart_ws_new(bart_model *m, bart_ws **out)
{
    bart_ws *ws = calloc(1, sizeof *ws);
    if (!ws) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "workspace");
    ws->m = m;
    ws->esz = gl_dtype_size(m->be->act_dtype);
    ws->graphs = bart_graphs_new(m->be);
    const char *p2 = getenv("GLOSSA_TABLE_POW2");
    ws->table_pow2 = p2 ? p2[0] == '1' : -1;
    const char *gc = getenv("GLOSSA_GRAPHS_CHECK");
    ws->graph_check = gc && gc[0] == '1';
    *out = ws;
    return GLOSSA_STATUS_OK;
}

void bart_ws_free(bart_ws *ws)
{
    if (!ws) return;
    backend *be = ws->m->be;
    void **bufs[] = {&ws->x, &ws->y, &ws->qkv, &ws->attn, &ws->h, &ws->q, &ws->logits,
                     (void **)&ws->ids, (void **)&ws->pos, (void **)&ws->slots,
                     (void **)&ws->off, (void **)&ws->didx};
    bart_graphs_free(ws->graphs);
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) dev_free(be, bufs[i]);
    free(ws->hidx);
    free(ws->host_pos);
    free(ws);
}

static void *at(const bart_ws *ws, void *base, size_t elems)
{
    return (char *)base + elems * ws->esz;
}

static glossa_status up(backend *be, int32_t *dst, const int32_t *src, size_t n)
{
    return n ? be->ops->upload(be, dst, src, n * sizeof *src) : GLOSSA_STATUS_OK;
}

/* Q, K, V of n_tok rows of x (pre-LN: of their layer norm) into qkv, rows 3 d apart. */
static void encoder_qkv(bart_ws *ws, const bart_layer *ly, int32_t n_tok, void *x, void *qkv)
{
    backend *be = ws->m->be;
    const model_config *c = &ws->m->cfg;
    const void *in = x;
    if (c->pre_ln) {
        be->ops->layernorm(be, n_tok, x, NULL, &ly->self_ln_g, &ly->self_ln_b,
                           c->layer_norm_eps, ws->y);
        in = ws->y;
    }
    be->ops->linear(be, n_tok, in, c->d_model, &ly->self_qkv_w, &ly->self_qkv_b, GL_ACT_NONE, NULL,
                    qkv);
}

/* The rest of an encoder layer for n_tok rows of x (updated in place), given their attention
 * output in ws->attn: the output projection, the residual, the FFN (and the norms). Position-wise:
 * any grouping of rows gives the same rows. */
static void encoder_post_attn(bart_ws *ws, const bart_layer *ly, int32_t n_tok, void *x)
{
    bart_model *m = ws->m;
    backend *be = m->be;
    const model_config *c = &m->cfg;
    int32_t d = c->d_model;
    float eps = c->layer_norm_eps;
    gl_act act = c->activation;
    if (c->pre_ln) {
        be->ops->linear(be, n_tok, ws->attn, d, &ly->self_o_w, &ly->self_o_b, GL_ACT_NONE, x, x);
        be->ops->layernorm(be, n_tok, x, NULL, &ly->ffn_ln_g, &ly->ffn_ln_b, eps, ws->y);
        be->ops->linear(be, n_tok, ws->y, d, &ly->fc1_w, &ly->fc1_b, act, NULL, ws->h);
        be->ops->linear(be, n_tok, ws->h, c->encoder_ffn, &ly->fc2_w, &ly->fc2_b, GL_ACT_NONE, x, x);
    } else {
        be->ops->linear(be, n_tok, ws->attn, d, &ly->self_o_w, &ly->self_o_b, GL_ACT_NONE, NULL, ws->y);
        be->ops->layernorm(be, n_tok, x, ws->y, &ly->self_ln_g, &ly->self_ln_b, eps, x);
        be->ops->linear(be, n_tok, x, d, &ly->fc1_w, &ly->fc1_b, act, NULL, ws->h);
        be->ops->linear(be, n_tok, ws->h, c->encoder_ffn, &ly->fc2_w, &ly->fc2_b, GL_ACT_NONE, NULL,
                        ws->y);
        be->ops->layernorm(be, n_tok, x, ws->y, &ly->ffn_ln_g, &ly->ffn_ln_b, eps, x);
    }
}

static void encoder_layer(bart_ws *ws, const bart_layer *ly, int32_t n_tok, int32_t n_seqs)
{
    backend *be = ws->m->be;
    const model_config *c = &ws->m->cfg;
    int32_t d = c->d_model, hd = d / c->encoder_heads;
    encoder_qkv(ws, ly, n_tok, ws->x, ws->qkv);
    be->ops->attention(be, n_seqs, c->encoder_heads, hd, ws->qkv, 3 * d, at(ws, ws->qkv, (size_t)d),
                       at(ws, ws->qkv, 2 * (size_t)d), 3 * d, ws->off, ws->off, false,
                       1.0f / sqrtf((float)hd), ws->attn);
    encoder_post_attn(ws, ly, n_tok, ws->x);
}

/* The encoder's final layer norm (when the model has one) over n_tok rows of x, in place, then
 * every decoder layer's cross-attention K/V of those rows into the cross pool at the slots already
 * uploaded to ws->slots. ws->qkv holds (n_tok, 2 d) scratch. */
static void encoder_finish_rows(bart_ws *ws, const bart_kv *kv, int32_t n_tok, void *x)
{
    bart_model *m = ws->m;
    backend *be = m->be;
    const model_config *c = &m->cfg;
    if (c->final_layer_norm)
        be->ops->layernorm(be, n_tok, x, NULL, &m->enc_final_ln_g, &m->enc_final_ln_b,
                           c->layer_norm_eps, x);
    int32_t d = c->d_model, hd = d / c->decoder_heads;
    for (int32_t l = 0; l < c->decoder_layers; l++) {
        const bart_layer *ly = &m->dec[l];
        be->ops->linear(be, n_tok, x, d, &ly->cross_kv_w, &ly->cross_kv_b, GL_ACT_NONE, NULL, ws->qkv);
        gl_kv_view v = {kv->cross_k[l], kv->cross_v[l], NULL, 0, kv->block_size, c->decoder_heads, hd};
        be->ops->kv_write(be, n_tok, ws->qkv, at(ws, ws->qkv, (size_t)d), 2 * d, ws->slots, &v);
    }
}

/* Positions to table rows, checked against the table. */
static glossa_status position_rows(const bart_model *m, const gl_weight *table, int32_t *rows,
                                   const int32_t *positions, int32_t n)
{
    int32_t off = m->cfg.pos_offset;
    for (int32_t i = 0; i < n; i++) {
        int32_t r = positions[i] + off;
        if (positions[i] < 0 || r >= table->rows)
            return glossa_error(GLOSSA_STATUS_BAD_INPUT,
                                "position %d is beyond the model's %d positions "
                                "(max_position_embeddings)", positions[i], table->rows - off);
        rows[i] = r;
    }
    return GLOSSA_STATUS_OK;
}

static glossa_status check_ids(const int32_t *ids, int32_t n, int32_t vocab, const char *what)
{
    for (int32_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return glossa_error(GLOSSA_STATUS_BAD_INPUT, "%s token id %d out of range [0, %d)", what,
                                ids[i], vocab);
    return GLOSSA_STATUS_OK;
}

/* n_tok rows of embeddings (ids and position rows already on the device) into x. */
static void embed_ids(bart_ws *ws, int32_t n_tok, const int32_t *ids, const int32_t *pos_rows,
                      const gl_weight *tok, const gl_weight *pos, const gl_weight *ln_g,
                      const gl_weight *ln_b, void *x)
{
    bart_model *m = ws->m;
    backend *be = m->be;
    be->ops->embed(be, n_tok, ids, pos_rows, tok, pos, m->embed_scale, x);
    if (m->cfg.layernorm_embedding)
        be->ops->layernorm(be, n_tok, x, NULL, ln_g, ln_b, m->cfg.layer_norm_eps, x);
}

/* ... with the ids and position rows in ws->ids, ws->pos (the encoder's). */
static void embed(bart_ws *ws, int32_t n_tok, const gl_weight *tok, const gl_weight *pos,
                  const gl_weight *ln_g, const gl_weight *ln_b, void *x)
{
    embed_ids(ws, n_tok, ws->ids, ws->pos, tok, pos, ln_g, ln_b, x);
}

glossa_status bart_encode(bart_model *m, bart_ws *ws, const bart_kv *kv, const bart_enc_batch *b)
{
    backend *be = m->be;
    const model_config *c = &m->cfg;
    int32_t n_seqs = b->n_seqs, n_tok = b->off[n_seqs];
    if (n_seqs <= 0 || n_tok <= 0) return GLOSSA_STATUS_OK;
    GLOSSA_TRY(check_ids(b->ids, n_tok, c->vocab_size, "source"));
    GLOSSA_TRY(ws_reserve_tok(ws, n_tok));
    GLOSSA_TRY(ws_reserve_seq(ws, n_seqs));
    for (int32_t s = 0; s < n_seqs; s++)
        for (int32_t i = b->off[s]; i < b->off[s + 1]; i++) ws->host_pos[i] = i - b->off[s];
    GLOSSA_TRY(position_rows(m, &m->enc_pos, ws->host_pos, ws->host_pos, n_tok));
    GLOSSA_TRY(up(be, ws->ids, b->ids, (size_t)n_tok));
    GLOSSA_TRY(up(be, ws->pos, ws->host_pos, (size_t)n_tok));
    GLOSSA_TRY(up(be, ws->off, b->off, (size_t)n_seqs + 1));
    GLOSSA_TRY(up(be, ws->slots, b->cross_slots, (size_t)n_tok));

    embed(ws, n_tok, &m->enc_embed, &m->enc_pos, &m->enc_emb_ln_g, &m->enc_emb_ln_b, ws->x);
    for (int32_t l = 0; l < c->encoder_layers; l++) encoder_layer(ws, &m->enc[l], n_tok, n_seqs);
    encoder_finish_rows(ws, kv, n_tok, ws->x);
    return GLOSSA_STATUS_OK;
}

struct bart_enc_state {
    bart_model *m;
    int32_t n;           /* source tokens */
    int32_t *ids;        /* (n) host copy of the source ids */
    void *x;             /* (n, d) hidden states between layers */
    void *qkv;           /* (n, 3 d) the current layer's Q, K, V */
    int32_t *off;        /* device (4): q_off {0, rows} and k_off {0, n} of a part's attention */
};

glossa_status bart_enc_state_new(bart_model *m, const int32_t *ids, int32_t n, bart_enc_state **out)
{
    *out = NULL;
    if (n <= 0) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "empty encoder input");
    GLOSSA_TRY(check_ids(ids, n, m->cfg.vocab_size, "source"));
    if (n - 1 + m->cfg.pos_offset >= m->enc_pos.rows)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT,
                            "position %d is beyond the model's %d positions "
                            "(max_position_embeddings)", n - 1, m->enc_pos.rows - m->cfg.pos_offset);
    bart_enc_state *s = calloc(1, sizeof *s);
    if (!s) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "encoder state");
    s->m = m;
    s->n = n;
    backend *be = m->be;
    size_t esz = gl_dtype_size(be->act_dtype), d = (size_t)m->cfg.d_model;
    glossa_status st = GLOSSA_STATUS_OK;
    s->ids = malloc((size_t)n * sizeof *s->ids);
    if (!s->ids) st = glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "encoder state");
    if (st == GLOSSA_STATUS_OK) st = be->ops->alloc(be, (size_t)n * d * esz, &s->x);
    if (st == GLOSSA_STATUS_OK) st = be->ops->alloc(be, (size_t)n * 3 * d * esz, &s->qkv);
    if (st == GLOSSA_STATUS_OK) st = be->ops->alloc(be, 4 * sizeof(int32_t), (void **)&s->off);
    if (st != GLOSSA_STATUS_OK) {
        bart_enc_state_free(s);
        return st;
    }
    memcpy(s->ids, ids, (size_t)n * sizeof *ids);
    *out = s;
    return GLOSSA_STATUS_OK;
}

void bart_enc_state_free(bart_enc_state *s)
{
    if (!s) return;
    backend *be = s->m->be;
    dev_free(be, &s->x);
    dev_free(be, &s->qkv);
    dev_free(be, (void **)&s->off);
    free(s->ids);
    free(s);
}

/* Layer 0's QKV part: embed the part's rows first. */
static glossa_status enc_part_embed(bart_ws *ws, bart_enc_state *s, int32_t r0, int32_t rows)
{
    bart_model *m = s->m;
    for (int32_t i = 0; i < rows; i++) ws->host_pos[i] = r0 + i;
    GLOSSA_TRY(position_rows(m, &m->enc_pos, ws->host_pos, ws->host_pos, rows));
    GLOSSA_TRY(up(m->be, ws->ids, s->ids + r0, (size_t)rows));
    GLOSSA_TRY(up(m->be, ws->pos, ws->host_pos, (size_t)rows));
    embed(ws, rows, &m->enc_embed, &m->enc_pos, &m->enc_emb_ln_g, &m->enc_emb_ln_b,
          at(ws, s->x, (size_t)r0 * (size_t)m->cfg.d_model));
    return GLOSSA_STATUS_OK;
}

glossa_status bart_encode_part(bart_model *m, bart_ws *ws, const bart_kv *kv, bart_enc_state *s,
                               int32_t layer, bart_enc_phase phase, int32_t row0, int32_t n_rows,
                               const int32_t *cross_slots)
{
    const model_config *c = &m->cfg;
    backend *be = m->be;
    if (layer < 0 || layer >= c->encoder_layers || row0 < 0 || n_rows <= 0 || row0 + n_rows > s->n ||
        (phase != BART_ENC_QKV && phase != BART_ENC_OUT))
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT,
                            "encoder part: layer %d, rows [%d, %d) of %d", layer, row0,
                            row0 + n_rows, s->n);
    GLOSSA_TRY(ws_reserve_tok(ws, n_rows));
    size_t d = (size_t)c->d_model;
    void *x = at(ws, s->x, (size_t)row0 * d);
    const bart_layer *ly = &m->enc[layer];
    if (phase == BART_ENC_QKV) {
        if (layer == 0) GLOSSA_TRY(enc_part_embed(ws, s, row0, n_rows));
        encoder_qkv(ws, ly, n_rows, x, at(ws, s->qkv, (size_t)row0 * 3 * d));
        return GLOSSA_STATUS_OK;
    }
    /* OUT: the part's queries against every key and value of the layer */
    int32_t off[4] = {0, n_rows, 0, s->n};
    GLOSSA_TRY(up(be, s->off, off, 4));
    int32_t hd = c->d_model / c->encoder_heads;
    be->ops->attention(be, 1, c->encoder_heads, hd, at(ws, s->qkv, (size_t)row0 * 3 * d),
                       3 * c->d_model, at(ws, s->qkv, d), at(ws, s->qkv, 2 * d), 3 * c->d_model,
                       s->off, s->off + 2, false, 1.0f / sqrtf((float)hd), ws->attn);
    encoder_post_attn(ws, ly, n_rows, x);
    if (layer == c->encoder_layers - 1) {
        GLOSSA_TRY(up(be, ws->slots, cross_slots + row0, (size_t)n_rows));
        encoder_finish_rows(ws, kv, n_rows, x);
    }
    return GLOSSA_STATUS_OK;
}

typedef struct dec_views {
    gl_kv_view self, cross;
} dec_views;

/* A decoder pass's index arrays on the device (one upload: decode_pack). */
typedef struct dec_idx {
    int32_t *ids, *pos, *slots, *off, *lens, *xlens, *rows, *tab, *xtab;
    int32_t tab_stride, xtab_stride; /* block-table row widths */
} dec_idx;

/* out = linear(LN(ws->x)) of a pre-LN block: one fused op where the backend has it for this call
 * (CUDA, decode sizes), else the layer norm into ws->y, then the linear. */
static void ln_linear(bart_ws *ws, int32_t n_tok, const gl_weight *g, const gl_weight *b,
                      const gl_weight *w, const gl_weight *bias, gl_act act, void *out)
{
    backend *be = ws->m->be;
    const model_config *c = &ws->m->cfg;
    if (be->ops->ln_linear &&
        be->ops->ln_linear(be, n_tok, ws->x, g, b, c->layer_norm_eps, w, bias, act, NULL, out))
        return;
    be->ops->layernorm(be, n_tok, ws->x, NULL, g, b, c->layer_norm_eps, ws->y);
    be->ops->linear(be, n_tok, ws->y, c->d_model, w, bias, act, NULL, out);
}

static void decoder_attn_blocks(bart_ws *ws, const bart_layer *ly, int32_t n_tok, int32_t n_seqs,
                                const dec_views *v, const dec_idx *ix)
{
    bart_model *m = ws->m;
    backend *be = m->be;
    const model_config *c = &m->cfg;
    int32_t d = c->d_model, hd = d / c->decoder_heads;
    float eps = c->layer_norm_eps, scale = 1.0f / sqrtf((float)hd);
    /* self-attention */
    if (c->pre_ln)
        ln_linear(ws, n_tok, &ly->self_ln_g, &ly->self_ln_b, &ly->self_qkv_w, &ly->self_qkv_b,
                  GL_ACT_NONE, ws->qkv);
    else
        be->ops->linear(be, n_tok, ws->x, d, &ly->self_qkv_w, &ly->self_qkv_b, GL_ACT_NONE, NULL,
                        ws->qkv);
    be->ops->kv_write(be, n_tok, at(ws, ws->qkv, (size_t)d), at(ws, ws->qkv, 2 * (size_t)d), 3 * d,
                      ix->slots, &v->self);
    be->ops->attention_paged(be, n_seqs, ws->qkv, 3 * d, ix->off, &v->self, ix->lens, true, scale,
                             ws->attn);
    /* cross-attention over the cached encoder K/V */
    if (c->pre_ln) {
        be->ops->linear(be, n_tok, ws->attn, d, &ly->self_o_w, &ly->self_o_b, GL_ACT_NONE, ws->x, ws->x);
        ln_linear(ws, n_tok, &ly->cross_ln_g, &ly->cross_ln_b, &ly->cross_q_w, &ly->cross_q_b,
                  GL_ACT_NONE, ws->q);
    } else {
        be->ops->linear(be, n_tok, ws->attn, d, &ly->self_o_w, &ly->self_o_b, GL_ACT_NONE, NULL, ws->y);
        be->ops->layernorm(be, n_tok, ws->x, ws->y, &ly->self_ln_g, &ly->self_ln_b, eps, ws->x);
        be->ops->linear(be, n_tok, ws->x, d, &ly->cross_q_w, &ly->cross_q_b, GL_ACT_NONE, NULL, ws->q);
    }
    be->ops->attention_paged(be, n_seqs, ws->q, d, ix->off, &v->cross, ix->xlens, false, scale,
                             ws->attn);
    if (c->pre_ln) {
        be->ops->linear(be, n_tok, ws->attn, d, &ly->cross_o_w, &ly->cross_o_b, GL_ACT_NONE, ws->x,
                        ws->x);
    } else {
        be->ops->linear(be, n_tok, ws->attn, d, &ly->cross_o_w, &ly->cross_o_b, GL_ACT_NONE, NULL,
                        ws->y);
        be->ops->layernorm(be, n_tok, ws->x, ws->y, &ly->cross_ln_g, &ly->cross_ln_b, eps, ws->x);
    }
}

static void decoder_ffn(bart_ws *ws, const bart_layer *ly, int32_t n_tok)
{
    bart_model *m = ws->m;
    backend *be = m->be;
    const model_config *c = &m->cfg;
    int32_t d = c->d_model;
    float eps = c->layer_norm_eps;
    if (c->pre_ln) {
        ln_linear(ws, n_tok, &ly->ffn_ln_g, &ly->ffn_ln_b, &ly->fc1_w, &ly->fc1_b, c->activation,
                  ws->h);
        be->ops->linear(be, n_tok, ws->h, c->decoder_ffn, &ly->fc2_w, &ly->fc2_b, GL_ACT_NONE, ws->x,
                        ws->x);
    } else {
        be->ops->linear(be, n_tok, ws->x, d, &ly->fc1_w, &ly->fc1_b, c->activation, NULL, ws->h);
        be->ops->linear(be, n_tok, ws->h, c->decoder_ffn, &ly->fc2_w, &ly->fc2_b, GL_ACT_NONE, NULL,
                        ws->y);
        be->ops->layernorm(be, n_tok, ws->x, ws->y, &ly->ffn_ln_g, &ly->ffn_ln_b, eps, ws->x);
    }
}

/* Copy n rows of a block table of width w into rows of width stride (zero-padded). */
static void pack_table(int32_t *dst, int32_t stride, const int32_t *src, int32_t w, int32_t n)
{
    for (int32_t r = 0; r < n; r++) {
        memcpy(dst + (size_t)r * stride, src + (size_t)r * w, (size_t)w * sizeof *dst);
        memset(dst + (size_t)r * stride + w, 0, (size_t)(stride - w) * sizeof *dst);
    }
}

/* Every index array of the pass into ws->hidx, then one upload to ws->didx; the block tables
 * padded to row widths stride >= self_max_blocks and xstride >= cross_max_blocks. */
static glossa_status decode_pack(bart_ws *ws, const bart_dec_batch *b, int32_t n_tok,
                                 int32_t stride, int32_t xstride, dec_idx *ix)
{
    int32_t n = b->n_seqs;
    int64_t o_ids = 0, o_pos = o_ids + n_tok, o_slots = o_pos + n_tok, o_off = o_slots + n_tok;
    int64_t o_lens = o_off + n + 1, o_xlens = o_lens + n, o_rows = o_xlens + n;
    int64_t o_tab = o_rows + n, o_xtab = o_tab + (int64_t)n * stride;
    int64_t total = o_xtab + (int64_t)n * xstride;
    GLOSSA_TRY(ws_reserve_idx(ws, total));
    int32_t *h = ws->hidx;
    memcpy(h + o_ids, b->ids, (size_t)n_tok * sizeof *h);
    GLOSSA_TRY(position_rows(ws->m, &ws->m->dec_pos, h + o_pos, b->positions, n_tok));
    memcpy(h + o_slots, b->self_slots, (size_t)n_tok * sizeof *h);
    memcpy(h + o_off, b->off, (size_t)(n + 1) * sizeof *h);
    memcpy(h + o_lens, b->self_lens, (size_t)n * sizeof *h);
    memcpy(h + o_xlens, b->cross_lens, (size_t)n * sizeof *h);
    for (int32_t s = 0; s < n; s++) h[o_rows + s] = b->off[s + 1] - 1;
    pack_table(h + o_tab, stride, b->self_tables, b->self_max_blocks, n);
    pack_table(h + o_xtab, xstride, b->cross_tables, b->cross_max_blocks, n);
    GLOSSA_TRY(up(ws->m->be, ws->didx, h, (size_t)total));
    int32_t *d = ws->didx;
    *ix = (dec_idx){d + o_ids, d + o_pos,  d + o_slots, d + o_off, d + o_lens, d + o_xlens,
                    d + o_rows, d + o_tab, d + o_xtab, stride, xstride};
    return GLOSSA_STATUS_OK;
}

/* The pass's ops, from the embeddings to the logits in ws->logits (rows: logits rows). */
static void decode_ops(bart_model *m, bart_ws *ws, const bart_kv *kv, int32_t n_seqs,
                       int32_t n_tok, bool all_logits, const dec_idx *ix)
{
    backend *be = m->be;
    const model_config *c = &m->cfg;
    int32_t d = c->d_model, hd = d / c->decoder_heads;
    embed_ids(ws, n_tok, ix->ids, ix->pos, &m->dec_embed, &m->dec_pos, &m->dec_emb_ln_g,
              &m->dec_emb_ln_b, ws->x);
    for (int32_t l = 0; l < c->decoder_layers; l++) {
        dec_views v = {
            {kv->self_k[l], kv->self_v[l], ix->tab, ix->tab_stride, kv->block_size,
             c->decoder_heads, hd},
            {kv->cross_k[l], kv->cross_v[l], ix->xtab, ix->xtab_stride, kv->block_size,
             c->decoder_heads, hd},
        };
        decoder_attn_blocks(ws, &m->dec[l], n_tok, n_seqs, &v, ix);
        decoder_ffn(ws, &m->dec[l], n_tok);
    }
    if (c->final_layer_norm)
        be->ops->layernorm(be, n_tok, ws->x, NULL, &m->dec_final_ln_g, &m->dec_final_ln_b,
                           c->layer_norm_eps, ws->x);
    int32_t rows = n_tok;
    const void *src = ws->x;
    if (!all_logits) {
        be->ops->gather_rows(be, n_seqs, d, ws->x, ix->rows, ws->y);
        rows = n_seqs;
        src = ws->y;
    }
    be->ops->linear(be, rows, src, d, &m->lm_head,
                    m->final_logits_bias.data ? &m->final_logits_bias : NULL, GL_ACT_NONE, NULL,
                    ws->logits);
}

/* Table widths rounded up to a power of two, so that a growing context changes the recorded
 * pass's shape only log2 times. */
static int32_t pow2_at_least(int32_t v)
{
    int32_t p = 1;
    while (p < v && p < (INT32_MAX >> 1)) p <<= 1;
    return p < v ? v : p;
}

/* GLOSSA_GRAPHS_CHECK=1 (debugging): after a replayed pass, run the same pass unrecorded and
 * compare the logits; a difference is logged with the pass's shape. */
static glossa_status decode_graph_check(bart_model *m, bart_ws *ws, const bart_kv *kv,
                                        int32_t n_seqs, const dec_idx *ix)
{
    size_t n = (size_t)n_seqs * (size_t)m->lm_head.rows;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    glossa_status st = a && b ? GLOSSA_STATUS_OK
                              : glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "graph check");
    if (st == GLOSSA_STATUS_OK) st = m->be->ops->download_f32(m->be, a, ws->logits, n);
    if (st == GLOSSA_STATUS_OK) {
        decode_ops(m, ws, kv, n_seqs, n_seqs, false, ix);
        st = m->be->ops->download_f32(m->be, b, ws->logits, n);
    }
    if (st == GLOSSA_STATUS_OK) {
        float worst = 0.0f;
        int32_t bad_row = -1, n_bad = 0;
        for (size_t i = 0; i < n; i++) {
            float d = fabsf(a[i] - b[i]);
            if (d > 1e-3f * (1.0f + fabsf(b[i])) && d > worst) {
                worst = d;
                bad_row = (int32_t)(i / (size_t)m->lm_head.rows);
            }
        }
        for (int32_t r = 0; r < n_seqs && worst > 0.0f; r++) {
            float d = 0.0f;
            for (int32_t j = 0; j < m->lm_head.rows; j++)
                d = fmaxf(d, fabsf(a[(size_t)r * m->lm_head.rows + j] - b[(size_t)r * m->lm_head.rows + j]));
            n_bad += d > 1e-3f;
        }
        static long passes, bad;
        passes++;
        if (worst > 0.0f) {
            bad++;
            GLOSSA_LOG_WARN("graph check: pass %ld (%ld bad): n_seqs %d strides %d/%d: %d rows "
                            "differ, worst %g at row %d",
                            passes, bad, n_seqs, ix->tab_stride, ix->xtab_stride, n_bad, worst,
                            bad_row);
        }
    }
    free(a);
    free(b);
    return st;
}

/* Record the pass into a graph when its shape has come before, replay it when recorded; false:
 * run it unrecorded (no graph support, teacher forcing, or recording failed). */
static bool decode_graph(bart_model *m, bart_ws *ws, const bart_kv *kv, int32_t n_seqs,
                         const dec_idx *ix, glossa_status *st)
{
    backend *be = m->be;
    bart_graph_key key = {n_seqs, ix->tab_stride, ix->xtab_stride, 0, be->ops->graph_epoch(be),
                          ws->epoch, kv->epoch};
    bool record = false;
    void *g = bart_graphs_get(ws->graphs, &key, &record);
    if (!g && record && be->ops->graph_begin(be) == GLOSSA_STATUS_OK) {
        decode_ops(m, ws, kv, n_seqs, n_seqs, false, ix);
        glossa_status rs = be->ops->graph_end(be, &g);
        if (rs != GLOSSA_STATUS_OK) {
            GLOSSA_LOG_WARN("decoder pass of %d sequences not recorded (%s): runs unrecorded",
                            n_seqs, glossa_last_error());
            g = NULL;
        }
        bart_graphs_put(ws->graphs, &key, g);
        if (ws->graph_check)
            GLOSSA_LOG_WARN("graph check: recorded n_seqs %d strides %d/%d epochs %llu/%llu",
                            n_seqs, ix->tab_stride, ix->xtab_stride,
                            (unsigned long long)key.be_epoch, (unsigned long long)key.ws_epoch);
    }
    if (!g) return false;
    *st = be->ops->graph_launch(be, g);
    if (*st == GLOSSA_STATUS_OK && ws->graph_check) *st = decode_graph_check(m, ws, kv, n_seqs, ix);
    return true;
}

glossa_status bart_decode(bart_model *m, bart_ws *ws, const bart_kv *kv, const bart_dec_batch *b,
                          float *logits)
{
    backend *be = m->be;
    int32_t n_seqs = b->n_seqs, n_tok = n_seqs > 0 ? b->off[n_seqs] : 0;
    if (n_seqs <= 0 || n_tok <= 0) return GLOSSA_STATUS_OK;
    GLOSSA_TRY(check_ids(b->ids, n_tok, m->dec_embed.rows, "decoder"));
    bool graphs = ws->graphs && !b->all_logits && n_tok == n_seqs;
    bool pow2 = ws->table_pow2 >= 0 ? ws->table_pow2 == 1 : graphs;
    int32_t stride = pow2 ? pow2_at_least(b->self_max_blocks) : b->self_max_blocks;
    int32_t xstride = pow2 ? pow2_at_least(b->cross_max_blocks) : b->cross_max_blocks;
    int32_t rows = b->all_logits ? n_tok : n_seqs, vocab = m->lm_head.rows;
    GLOSSA_TRY(ws_reserve_tok(ws, n_tok));
    GLOSSA_TRY(ws_reserve_logits(ws, (int64_t)rows * vocab));
    dec_idx ix;
    GLOSSA_TRY(decode_pack(ws, b, n_tok, stride, xstride, &ix));
    glossa_status st = GLOSSA_STATUS_OK;
    if (!graphs || !decode_graph(m, ws, kv, n_seqs, &ix, &st))
        decode_ops(m, ws, kv, n_seqs, n_tok, b->all_logits, &ix);
    GLOSSA_TRY(st);
    if (!logits) return GLOSSA_STATUS_OK; /* kept on the device: bart_logits_* */
    return be->ops->download_f32(be, logits, ws->logits, (size_t)rows * (size_t)vocab);
}

glossa_status bart_logits_argmax(bart_model *m, bart_ws *ws, int32_t rows, int32_t *ids)
{
    int32_t vocab = m->lm_head.rows;
    if ((int64_t)rows * vocab > ws->cap_logits)
        return glossa_error(GLOSSA_STATUS_INTERNAL, "argmax over %d rows of kept logits", rows);
    return m->be->ops->argmax(m->be, rows, vocab, ws->logits, ids);
}

glossa_status bart_logits_beam_topk(bart_model *m, bart_ws *ws, int32_t rows, int32_t n_groups,
                                    const gl_beam_group *groups)
{
    int32_t vocab = m->lm_head.rows;
    if ((int64_t)rows * vocab > ws->cap_logits)
        return glossa_error(GLOSSA_STATUS_INTERNAL, "beam_topk over %d rows of kept logits", rows);
    return m->be->ops->beam_topk(m->be, rows, vocab, ws->logits, n_groups, groups);
}

glossa_status bart_logits_rows(bart_model *m, bart_ws *ws, int32_t row, int32_t n_rows, float *dst)
{
    int32_t vocab = m->lm_head.rows;
    if ((int64_t)(row + n_rows) * vocab > ws->cap_logits)
        return glossa_error(GLOSSA_STATUS_INTERNAL, "rows %d..%d of kept logits", row, row + n_rows);
    return m->be->ops->download_f32(m->be, dst, at(ws, ws->logits, (size_t)row * (size_t)vocab),
                                    (size_t)n_rows * (size_t)vocab);
}
