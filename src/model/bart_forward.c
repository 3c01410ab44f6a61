/* The workspace and the encoder passes of the encoder-decoder transformer (see bart.h; the decoder
 * passes are bart_decode.c), as transformers' modeling_{bart,mbart,m2m_100,marian}.py compute them:
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
#include "model/bart_ws.h"


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

glossa_status bart_ws_reserve_tok(bart_ws *ws, int32_t n_tok)
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

static glossa_status bart_ws_reserve_seq(bart_ws *ws, int32_t n_seq)
{
    if (n_seq <= ws->cap_seq) return GLOSSA_STATUS_OK;
    int32_t cap = max_i32(n_seq, ws->cap_seq * 2);
    ws->epoch++;
    GLOSSA_TRY(dev_alloc(ws->m->be, ((size_t)cap + 1) * 4, (void **)&ws->off));
    ws->cap_seq = cap;
    return GLOSSA_STATUS_OK;
}

glossa_status bart_ws_reserve_logits(bart_ws *ws, int64_t n)
{
    if (n <= ws->cap_logits) return GLOSSA_STATUS_OK;
    int64_t cap = n > ws->cap_logits * 2 ? n : ws->cap_logits * 2;
    ws->epoch++;
    GLOSSA_TRY(dev_alloc(ws->m->be, (size_t)cap * ws->esz, &ws->logits));
    ws->cap_logits = cap;
    return GLOSSA_STATUS_OK;
}

glossa_status bart_ws_reserve_idx(bart_ws *ws, int64_t n)
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

glossa_status bart_ws_reserve_feed(bart_ws *ws, int32_t n)
{
    if (n <= ws->cap_feed) return GLOSSA_STATUS_OK;
    int32_t cap = max_i32(n, ws->cap_feed * 2);
    ws->epoch++;
    GLOSSA_TRY(dev_alloc(ws->m->be, (size_t)cap * 4, (void **)&ws->dfeed));
    ws->cap_feed = cap;
    return GLOSSA_STATUS_OK;
}

glossa_status bart_ws_new(bart_model *m, bart_ws **out)
{
    bart_ws *ws = calloc(1, sizeof *ws);
    if (!ws) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "workspace");
    ws->m = m;
    ws->lm_argmax = -1;
    ws->esz = gl_dtype_size(m->be->act_dtype);
    ws->graphs = bart_graphs_new(m->be);
    const char *p2 = getenv("GLOSSA_TABLE_POW2");
    ws->table_pow2 = p2 ? p2[0] == '1' : -1;
    const char *gc = getenv("GLOSSA_GRAPHS_CHECK");
    ws->graph_check = gc && gc[0] == '1';
    const char *bk = getenv("GLOSSA_DECODE_BUCKETS");
    ws->buckets = bk && bk[0] == '1';
    *out = ws;
    return GLOSSA_STATUS_OK;
}

void bart_ws_free(bart_ws *ws)
{
    if (!ws) return;
    backend *be = ws->m->be;
    void **bufs[] = {&ws->x, &ws->y, &ws->qkv, &ws->attn, &ws->h, &ws->q, &ws->logits,
                     (void **)&ws->ids, (void **)&ws->pos, (void **)&ws->slots,
                     (void **)&ws->off, (void **)&ws->didx, (void **)&ws->dfeed};
    bart_graphs_free(ws->graphs);
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) dev_free(be, bufs[i]);
    free(ws->hidx);
    free(ws->hlogits);
    free(ws->host_pos);
    free(ws);
}

void *bart_ws_at(const bart_ws *ws, void *base, size_t elems)
{
    return (char *)base + elems * ws->esz;
}

glossa_status bart_up(backend *be, int32_t *dst, const int32_t *src, size_t n)
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
    be->ops->attention(be, n_seqs, c->encoder_heads, hd, ws->qkv, 3 * d, bart_ws_at(ws, ws->qkv, (size_t)d),
                       bart_ws_at(ws, ws->qkv, 2 * (size_t)d), 3 * d, ws->off, ws->off, false,
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
        gl_kv_view v = {kv->cross_k[l], kv->cross_v[l], NULL, 0, kv->block_size, c->decoder_heads, hd, false};
        be->ops->kv_write(be, n_tok, ws->qkv, bart_ws_at(ws, ws->qkv, (size_t)d), 2 * d, ws->slots, &v);
    }
}

/* Positions to table rows, checked against the table. */
glossa_status bart_position_rows(const bart_model *m, const gl_weight *table, int32_t *rows,
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

glossa_status bart_check_ids(const int32_t *ids, int32_t n, int32_t vocab, const char *what)
{
    for (int32_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return glossa_error(GLOSSA_STATUS_BAD_INPUT, "%s token id %d out of range [0, %d)", what,
                                ids[i], vocab);
    return GLOSSA_STATUS_OK;
}

/* n_tok rows of embeddings (ids and position rows already on the device) into x. */
void bart_embed_ids(bart_ws *ws, int32_t n_tok, const int32_t *ids, const int32_t *pos_rows,
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
    bart_embed_ids(ws, n_tok, ws->ids, ws->pos, tok, pos, ln_g, ln_b, x);
}

glossa_status bart_encode(bart_model *m, bart_ws *ws, const bart_kv *kv, const bart_enc_batch *b)
{
    backend *be = m->be;
    const model_config *c = &m->cfg;
    int32_t n_seqs = b->n_seqs, n_tok = b->off[n_seqs];
    if (n_seqs <= 0 || n_tok <= 0) return GLOSSA_STATUS_OK;
    GLOSSA_TRY(bart_check_ids(b->ids, n_tok, c->vocab_size, "source"));
    GLOSSA_TRY(bart_ws_reserve_tok(ws, n_tok));
    GLOSSA_TRY(bart_ws_reserve_seq(ws, n_seqs));
    for (int32_t s = 0; s < n_seqs; s++)
        for (int32_t i = b->off[s]; i < b->off[s + 1]; i++) ws->host_pos[i] = i - b->off[s];
    GLOSSA_TRY(bart_position_rows(m, &m->enc_pos, ws->host_pos, ws->host_pos, n_tok));
    GLOSSA_TRY(bart_up(be, ws->ids, b->ids, (size_t)n_tok));
    GLOSSA_TRY(bart_up(be, ws->pos, ws->host_pos, (size_t)n_tok));
    GLOSSA_TRY(bart_up(be, ws->off, b->off, (size_t)n_seqs + 1));
    GLOSSA_TRY(bart_up(be, ws->slots, b->cross_slots, (size_t)n_tok));

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
    GLOSSA_TRY(bart_check_ids(ids, n, m->cfg.vocab_size, "source"));
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
    GLOSSA_TRY(bart_position_rows(m, &m->enc_pos, ws->host_pos, ws->host_pos, rows));
    GLOSSA_TRY(bart_up(m->be, ws->ids, s->ids + r0, (size_t)rows));
    GLOSSA_TRY(bart_up(m->be, ws->pos, ws->host_pos, (size_t)rows));
    embed(ws, rows, &m->enc_embed, &m->enc_pos, &m->enc_emb_ln_g, &m->enc_emb_ln_b,
          bart_ws_at(ws, s->x, (size_t)r0 * (size_t)m->cfg.d_model));
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
    GLOSSA_TRY(bart_ws_reserve_tok(ws, n_rows));
    size_t d = (size_t)c->d_model;
    void *x = bart_ws_at(ws, s->x, (size_t)row0 * d);
    const bart_layer *ly = &m->enc[layer];
    if (phase == BART_ENC_QKV) {
        if (layer == 0) GLOSSA_TRY(enc_part_embed(ws, s, row0, n_rows));
        encoder_qkv(ws, ly, n_rows, x, bart_ws_at(ws, s->qkv, (size_t)row0 * 3 * d));
        return GLOSSA_STATUS_OK;
    }
    /* OUT: the part's queries against every key and value of the layer */
    int32_t off[4] = {0, n_rows, 0, s->n};
    GLOSSA_TRY(bart_up(be, s->off, off, 4));
    int32_t hd = c->d_model / c->encoder_heads;
    be->ops->attention(be, 1, c->encoder_heads, hd, bart_ws_at(ws, s->qkv, (size_t)row0 * 3 * d),
                       3 * c->d_model, bart_ws_at(ws, s->qkv, d), bart_ws_at(ws, s->qkv, 2 * d), 3 * c->d_model,
                       s->off, s->off + 2, false, 1.0f / sqrtf((float)hd), ws->attn);
    encoder_post_attn(ws, ly, n_rows, x);
    if (layer == c->encoder_layers - 1) {
        GLOSSA_TRY(bart_up(be, ws->slots, cross_slots + row0, (size_t)n_rows));
        encoder_finish_rows(ws, kv, n_rows, x);
    }
    return GLOSSA_STATUS_OK;
}
