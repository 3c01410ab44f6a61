/* The decoder passes of the encoder-decoder transformer (see bart.h; the workspace and the encoder
 * are bart_forward.c): one pass over a packed batch of new tokens per sequence, reading the paged
 * self- and cross-attention K/V, recorded as a graph per shape where the backend can (bart_graph.h).
 *
 *   pre-LN layer:  x += attn(LN(x));  x += cross(LN(x));  x += fc2(act(fc1(LN(x))))
 *   post-LN layer: x = LN(x + attn(x));  x = LN(x + cross(x));  x = LN(x + fc2(act(fc1(x))))
 *   [final layer_norm];  logits = x lm_head^T + final_logits_bias
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "model/bart_ws.h"

typedef struct dec_views {
    gl_kv_view self, cross;
} dec_views;

/* A decoder pass's index arrays on the device (one upload: decode_pack). */
typedef struct dec_idx {
    const int32_t *ids; /* input ids: uploaded, or ws->dfeed (ids_feed) */
    int32_t *pos, *slots, *off, *lens, *xlens, *rows, *tab, *xtab;
    int32_t *out_ids;                /* (n_run) the argmax of the logits rows, when fused: dfeed */
    int32_t tab_stride, xtab_stride; /* block-table row widths */
    bool rows_in_order;              /* rows[s] == s (one token each): no gather before lm_head */
} dec_idx;

/* LN(ws->x) into ws->y (a pre-LN block's input); returns ws->y. */
static void *ln_y(bart_ws *ws, int32_t n_tok, const gl_weight *g, const gl_weight *b)
{
    backend *be = ws->m->be;
    be->ops->layernorm(be, n_tok, ws->x, NULL, g, b, ws->m->cfg.layer_norm_eps, ws->y);
    return ws->y;
}

/* out = linear(LN(ws->x)) of a pre-LN block. */
static void ln_linear(bart_ws *ws, int32_t n_tok, const gl_weight *g, const gl_weight *b,
                      const gl_weight *w, const gl_weight *bias, gl_act act, void *out)
{
    backend *be = ws->m->be;
    be->ops->linear(be, n_tok, ln_y(ws, n_tok, g, b), ws->m->cfg.d_model, w, bias, act, NULL, out);
}

/* The self-attention of the pass's tokens into ws->attn: Q, K, V into ws->qkv (of LN(ws->x) when
 * pre-LN), K, V into the cache at their slots, the attention over the cache. Fused where the
 * backend has it for the call (CUDA: the QKV projection writes the cache at decode sizes, else
 * the attention does), else linear, kv_write and attention_paged. */
static void self_attention(bart_ws *ws, const bart_layer *ly, int32_t n_tok, int32_t n_seqs,
                           const gl_kv_view *kv, const dec_idx *ix, float scale)
{
    backend *be = ws->m->be;
    int32_t d = ws->m->cfg.d_model;
    const void *in = ws->m->cfg.pre_ln ? ln_y(ws, n_tok, &ly->self_ln_g, &ly->self_ln_b) : ws->x;
    const void *k_new = bart_ws_at(ws, ws->qkv, (size_t)d);
    const void *v_new = bart_ws_at(ws, ws->qkv, 2 * (size_t)d);
    if (!be->ops->linear_kv || !be->ops->linear_kv(be, n_tok, in, d, &ly->self_qkv_w,
                                                   &ly->self_qkv_b, d, ix->slots, kv, ws->qkv)) {
        be->ops->linear(be, n_tok, in, d, &ly->self_qkv_w, &ly->self_qkv_b, GL_ACT_NONE, NULL,
                        ws->qkv);
        if (be->ops->attention_paged_kv &&
            be->ops->attention_paged_kv(be, n_seqs, ws->qkv, 3 * d, ix->off, k_new, v_new, 3 * d,
                                        ix->slots, kv, ix->lens, scale, ws->attn))
            return;
        be->ops->kv_write(be, n_tok, k_new, v_new, 3 * d, ix->slots, kv);
    }
    be->ops->attention_paged(be, n_seqs, ws->qkv, 3 * d, ix->off, kv, ix->lens, true, scale,
                             ws->attn);
}

static void decoder_attn_blocks(bart_ws *ws, const bart_layer *ly, int32_t n_tok, int32_t n_seqs,
                                const dec_views *v, const dec_idx *ix)
{
    bart_model *m = ws->m;
    backend *be = m->be;
    const model_config *c = &m->cfg;
    int32_t d = c->d_model, hd = d / c->decoder_heads;
    float eps = c->layer_norm_eps, scale = 1.0f / sqrtf((float)hd);
    self_attention(ws, ly, n_tok, n_seqs, &v->self, ix, scale);
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
 * padded to row widths stride >= self_max_blocks and xstride >= cross_max_blocks. With ids_feed
 * the input ids are not uploaded: the pass reads ws->dfeed, where the previous one left them. */
static glossa_status decode_pack(bart_ws *ws, const bart_dec_batch *b, int32_t n_tok,
                                 int32_t stride, int32_t xstride, int32_t n_run, dec_idx *ix)
{
    int32_t n = n_run;
    int64_t o_ids = 0, o_pos = o_ids + n_tok, o_slots = o_pos + n_tok, o_off = o_slots + n_tok;
    int64_t o_lens = o_off + n + 1, o_xlens = o_lens + n, o_rows = o_xlens + n;
    int64_t o_tab = o_rows + n, o_xtab = o_tab + (int64_t)n * stride;
    int64_t total = o_xtab + (int64_t)n * xstride;
    GLOSSA_TRY(bart_ws_reserve_idx(ws, total));
    GLOSSA_TRY(bart_ws_reserve_feed(ws, n));
    int32_t *h = ws->hidx, nb = b->n_seqs, tb = b->off[nb]; /* the batch's own rows, tokens */
    if (b->ids_feed)
        memset(h + o_ids, 0, (size_t)tb * sizeof *h);
    else
        memcpy(h + o_ids, b->ids, (size_t)tb * sizeof *h);
    GLOSSA_TRY(bart_position_rows(ws->m, &ws->m->dec_pos, h + o_pos, b->positions, tb));
    memcpy(h + o_slots, b->self_slots, (size_t)tb * sizeof *h);
    memcpy(h + o_off, b->off, (size_t)(nb + 1) * sizeof *h);
    memcpy(h + o_lens, b->self_lens, (size_t)nb * sizeof *h);
    memcpy(h + o_xlens, b->cross_lens, (size_t)nb * sizeof *h);
    for (int32_t s = 0; s < nb; s++) h[o_rows + s] = b->off[s + 1] - 1;
    pack_table(h + o_tab, stride, b->self_tables, b->self_max_blocks, nb);
    pack_table(h + o_xtab, xstride, b->cross_tables, b->cross_max_blocks, nb);
    /* padding rows (n_run > nb, one token per sequence): copies of the last sequence, so they
     * compute its values again and write the same K/V to the same slot; their logits rows are
     * never read */
    for (int32_t s = nb; s < n; s++) {
        h[o_ids + s] = h[o_ids + nb - 1];
        h[o_pos + s] = h[o_pos + nb - 1];
        h[o_slots + s] = h[o_slots + nb - 1];
        h[o_off + s + 1] = s + 1;
        h[o_lens + s] = h[o_lens + nb - 1];
        h[o_xlens + s] = h[o_xlens + nb - 1];
        h[o_rows + s] = s;
        memcpy(h + o_tab + (int64_t)s * stride, h + o_tab + (int64_t)(nb - 1) * stride,
               (size_t)stride * sizeof *h);
        memcpy(h + o_xtab + (int64_t)s * xstride, h + o_xtab + (int64_t)(nb - 1) * xstride,
               (size_t)xstride * sizeof *h);
    }
    GLOSSA_TRY(bart_up(ws->m->be, ws->didx, h, (size_t)total));
    int32_t *d = ws->didx;
    bool in_order = true;
    for (int32_t s = 0; s < n && in_order; s++) in_order = h[o_rows + s] == s;
    *ix = (dec_idx){b->ids_feed ? ws->dfeed : d + o_ids,
                    d + o_pos,
                    d + o_slots,
                    d + o_off,
                    d + o_lens,
                    d + o_xlens,
                    d + o_rows,
                    d + o_tab,
                    d + o_xtab,
                    ws->dfeed,
                    stride,
                    xstride,
                    in_order};
    return GLOSSA_STATUS_OK;
}

/* Layer l's self- and cross-attention K/V views of the pass. prior: the pass starts with
 * decode_pack's upload, and its only K/V writes are the self-attention's new positions, the
 * causal tail. */
static dec_views layer_views(const bart_model *m, const bart_kv *kv, const dec_idx *ix, int32_t l)
{
    const model_config *c = &m->cfg;
    int32_t hd = c->d_model / c->decoder_heads;
    return (dec_views){
        {kv->self_k[l], kv->self_v[l], ix->tab, ix->tab_stride, kv->block_size, c->decoder_heads,
         hd, true},
        {kv->cross_k[l], kv->cross_v[l], ix->xtab, ix->xtab_stride, kv->block_size,
         c->decoder_heads, hd, true},
    };
}

/* The decoder layers of a one-token pass in one backend call where it takes it (decoder_stack;
 * pre-LN layers only); false: run them op by op. */
static bool decode_stack(bart_model *m, bart_ws *ws, const bart_kv *kv, const dec_idx *ix)
{
    backend *be = m->be;
    const model_config *c = &m->cfg;
    int32_t n = c->decoder_layers, hd = c->d_model / c->decoder_heads;
    if (!be->ops->decoder_stack || !c->pre_ln || n < 1) return false;
    gl_dec_layer *ls = calloc((size_t)n, sizeof *ls);
    if (!ls) return false;
    for (int32_t l = 0; l < n; l++) {
        const bart_layer *ly = &m->dec[l];
        dec_views v = layer_views(m, kv, ix, l);
        ls[l] = (gl_dec_layer){
            {&ly->self_ln_g, &ly->cross_ln_g, &ly->ffn_ln_g},
            {&ly->self_ln_b, &ly->cross_ln_b, &ly->ffn_ln_b},
            {&ly->self_qkv_w, &ly->self_o_w, &ly->cross_q_w, &ly->cross_o_w, &ly->fc1_w, &ly->fc2_w},
            {&ly->self_qkv_b, &ly->self_o_b, &ly->cross_q_b, &ly->cross_o_b, &ly->fc1_b, &ly->fc2_b},
            v.self,
            v.cross,
        };
    }
    gl_dec_stack st = {n,     ls,      c->activation, c->layer_norm_eps, 1.0f / sqrtf((float)hd),
                       ws->x, ws->qkv, ws->q,         ws->h,             ix->slots,
                       ix->lens, ix->xlens};
    bool ran = be->ops->decoder_stack(be, &st);
    free(ls);
    return ran;
}

/* The pass's ops, from the embeddings to the logits in ws->logits (rows: logits rows); with
 * ids_mode (bart_graph_key) 1 or 2 their argmax into ix->out_ids where the backend fuses it
 * (ws->lm_argmax), with 2 the logits themselves perhaps not written. */
static void decode_ops(bart_model *m, bart_ws *ws, const bart_kv *kv, int32_t n_seqs, int32_t n_tok,
                       bool all_logits, int ids_mode, const dec_idx *ix)
{
    backend *be = m->be;
    const model_config *c = &m->cfg;
    int32_t d = c->d_model;
    bart_embed_ids(ws, n_tok, ix->ids, ix->pos, &m->dec_embed, &m->dec_pos, &m->dec_emb_ln_g,
              &m->dec_emb_ln_b, ws->x);
    bool stacked = n_tok == 1 && n_seqs == 1 && decode_stack(m, ws, kv, ix);
    for (int32_t l = 0; !stacked && l < c->decoder_layers; l++) {
        dec_views v = layer_views(m, kv, ix, l);
        decoder_attn_blocks(ws, &m->dec[l], n_tok, n_seqs, &v, ix);
        decoder_ffn(ws, &m->dec[l], n_tok);
    }
    if (c->final_layer_norm)
        be->ops->layernorm(be, n_tok, ws->x, NULL, &m->dec_final_ln_g, &m->dec_final_ln_b,
                           c->layer_norm_eps, ws->x);
    int32_t rows = all_logits ? n_tok : n_seqs;
    const void *src = ws->x;
    if (!all_logits && !ix->rows_in_order) {
        be->ops->gather_rows(be, n_seqs, d, ws->x, ix->rows, ws->y);
        src = ws->y;
    }
    gl_weight head = m->lm_head; /* logits_ld rows: the storage's pad rows are zero */
    head.rows = m->logits_ld;
    const gl_weight *bias = m->final_logits_bias.data ? &m->final_logits_bias : NULL;
    if (ids_mode > 0 && !all_logits && ws->lm_argmax != 0 && be->ops->linear_argmax) {
        bool ran = be->ops->linear_argmax(be, rows, src, d, &head, bias, m->lm_head.rows,
                                          ws->logits, ids_mode != 2, ix->out_ids);
        ws->lm_argmax = ran ? 1 : 0;
        if (ran) return;
    }
    be->ops->linear(be, rows, src, d, &head, bias, GL_ACT_NONE, NULL, ws->logits);
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
 * compare the logits (and the fused argmax ids); a difference is logged with the pass's shape. */
static glossa_status decode_graph_check(bart_model *m, bart_ws *ws, const bart_kv *kv,
                                        int32_t n_seqs, int ids_mode, const dec_idx *ix)
{
    const int32_t ld = m->logits_ld; /* whole padded rows: the pad columns are zero both times */
    bool ids = ids_mode > 0 && ws->lm_argmax == 1;
    /* the argmax only: the logits' contents are unspecified, compare the ids alone */
    size_t n = ids && ids_mode == 2 ? 0 : (size_t)n_seqs * (size_t)ld;
    float *a = malloc((n ? n : 1) * sizeof *a), *b = malloc((n ? n : 1) * sizeof *b);
    int32_t *ia = malloc((size_t)n_seqs * 2 * sizeof *ia), *ib = ia ? ia + n_seqs : NULL;
    glossa_status st =
        a && b && ia ? GLOSSA_STATUS_OK : glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "graph check");
    size_t ib_bytes = (size_t)n_seqs * sizeof *ia;
    if (st == GLOSSA_STATUS_OK) st = m->be->ops->download_f32(m->be, a, ws->logits, n);
    if (st == GLOSSA_STATUS_OK && ids) st = m->be->ops->download(m->be, ia, ix->out_ids, ib_bytes);
    if (st == GLOSSA_STATUS_OK) {
        decode_ops(m, ws, kv, n_seqs, n_seqs, false, ids_mode, ix);
        st = m->be->ops->download_f32(m->be, b, ws->logits, n);
    }
    if (st == GLOSSA_STATUS_OK && ids) st = m->be->ops->download(m->be, ib, ix->out_ids, ib_bytes);
    if (st == GLOSSA_STATUS_OK) {
        float worst = 0.0f;
        int32_t bad_row = -1, n_bad = 0;
        for (size_t i = 0; i < n; i++) {
            float d = fabsf(a[i] - b[i]);
            if (d > 1e-3f * (1.0f + fabsf(b[i])) && d > worst) {
                worst = d;
                bad_row = (int32_t)(i / (size_t)ld);
            }
        }
        for (int32_t r = 0; r < n_seqs && worst > 0.0f; r++) {
            float d = 0.0f;
            for (int32_t j = 0; j < ld; j++)
                d = fmaxf(d, fabsf(a[(size_t)r * ld + j] - b[(size_t)r * ld + j]));
            n_bad += d > 1e-3f;
        }
        int32_t ids_bad = 0;
        for (int32_t r = 0; ids && r < n_seqs; r++)
            ids_bad += ia[r] != ib[r];
        if (ids_bad > 0 && worst == 0.0f) worst = FLT_MIN; /* counted as a bad pass below */
        static long passes, bad;
        passes++;
        if (worst > 0.0f) {
            bad++;
            GLOSSA_LOG_WARN("graph check: pass %ld (%ld bad): n_seqs %d strides %d/%d: %d rows "
                            "differ, worst %g at row %d; %d argmax ids differ",
                            passes, bad, n_seqs, ix->tab_stride, ix->xtab_stride, n_bad, worst,
                            bad_row, ids_bad);
        }
    }
    free(a);
    free(b);
    free(ia);
    return st;
}

/* Record the pass into a graph when its shape has come before, replay it when recorded; false:
 * run it unrecorded (no graph support, teacher forcing, or recording failed). */
static bool decode_graph(bart_model *m, bart_ws *ws, const bart_kv *kv, int32_t n_seqs,
                         int ids_mode, const dec_idx *ix, glossa_status *st)
{
    backend *be = m->be;
    bart_graph_key key = {n_seqs,   ix->tab_stride,       ix->xtab_stride,
                          ids_mode, ix->ids == ws->dfeed, be->ops->graph_epoch(be),
                          ws->epoch, kv->epoch};
    bool record = false;
    void *g = bart_graphs_get(ws->graphs, &key, &record);
    if (!g && record && be->ops->graph_begin(be) == GLOSSA_STATUS_OK) {
        decode_ops(m, ws, kv, n_seqs, n_seqs, false, ids_mode, ix);
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
    if (*st == GLOSSA_STATUS_OK && ws->graph_check)
        *st = decode_graph_check(m, ws, kv, n_seqs, ids_mode, ix);
    return true;
}

/* Sequences a one-token-each pass runs with GLOSSA_DECODE_BUCKETS=1: 1, 2, 4, 8, then multiples
 * of 8, so that a server's drifting batch size meets a few recorded shapes instead of one per
 * size (vLLM pads its CUDA-graph batches the same way). */
static int32_t decode_bucket(int32_t n)
{
    if (n <= 8) return pow2_at_least(n);
    return n > INT32_MAX - 8 ? n : (n + 7) / 8 * 8;
}

glossa_status bart_decode(bart_model *m, bart_ws *ws, const bart_kv *kv, const bart_dec_batch *b,
                          float *logits)
{
    int32_t n_seqs = b->n_seqs, n_tok = n_seqs > 0 ? b->off[n_seqs] : 0;
    if (n_seqs <= 0 || n_tok <= 0) return GLOSSA_STATUS_OK;
    if (!b->ids_feed) GLOSSA_TRY(bart_check_ids(b->ids, n_tok, m->dec_embed.rows, "decoder"));
    bool one_each = !b->all_logits && n_tok == n_seqs;
    for (int32_t s = 0; one_each && s < n_seqs; s++) one_each = b->off[s + 1] - b->off[s] == 1;
    /* fed: the previous pass computed these rows' argmax (ids in the vocabulary) */
    if (b->ids_feed && (!one_each || !b->want_ids || logits || ws->ids_rows != n_seqs))
        return glossa_error(GLOSSA_STATUS_INTERNAL,
                            "decoder pass fed %d ids of a previous pass of %d rows", n_seqs,
                            ws->ids_rows);
    /* padded rows run only in one-token-each passes; n_tok = n_seqs = n_run from here on */
    int32_t n_run = ws->buckets && one_each ? decode_bucket(n_seqs) : n_seqs;
    bool graphs = ws->graphs && one_each;
    bool pow2 = ws->table_pow2 >= 0 ? ws->table_pow2 == 1 : graphs;
    int32_t stride = pow2 ? pow2_at_least(b->self_max_blocks) : b->self_max_blocks;
    int32_t xstride = pow2 ? pow2_at_least(b->cross_max_blocks) : b->cross_max_blocks;
    int32_t rows = b->all_logits ? n_tok : n_seqs;
    int32_t run_tok = n_tok + (n_run - n_seqs);
    GLOSSA_TRY(bart_ws_reserve_tok(ws, run_tok));
    GLOSSA_TRY(bart_ws_reserve_logits(ws, (int64_t)(rows + n_run - n_seqs) * m->logits_ld));
    dec_idx ix;
    GLOSSA_TRY(decode_pack(ws, b, run_tok, stride, xstride, n_run, &ix));
    glossa_status st = GLOSSA_STATUS_OK;
    int ids_mode = b->want_ids && !b->all_logits && !logits ? (b->ids_only ? 2 : 1) : 0;
    ws->ids_rows = 0;
    ws->logits_gone = false;
    ws->dec_passes++;
    if (!graphs || !decode_graph(m, ws, kv, n_run, ids_mode, &ix, &st))
        decode_ops(m, ws, kv, n_run, run_tok, b->all_logits, ids_mode, &ix);
    GLOSSA_TRY(st);
    /* a replay ran what its recording ran; lm_argmax is a property of the backend */
    if (ids_mode > 0 && ws->lm_argmax == 1) {
        ws->dids = ix.out_ids;
        ws->ids_rows = rows;
        ws->logits_gone = ids_mode == 2;
    }
    if (!logits) return GLOSSA_STATUS_OK; /* kept on the device: bart_logits_* */
    return bart_logits_rows(m, ws, 0, rows, logits);
}

/* INTERNAL when the last pass kept only its argmax (bart_dec_batch.ids_only) */
static glossa_status logits_kept(const bart_ws *ws)
{
    return ws->logits_gone ? glossa_error(GLOSSA_STATUS_INTERNAL,
                                          "the last decoder pass kept only the argmax, no logits")
                           : GLOSSA_STATUS_OK;
}

glossa_status bart_logits_argmax(bart_model *m, bart_ws *ws, int32_t rows, int32_t *ids)
{
    int32_t vocab = m->lm_head.rows;
    if ((int64_t)rows * m->logits_ld > ws->cap_logits)
        return glossa_error(GLOSSA_STATUS_INTERNAL, "argmax over %d rows of kept logits", rows);
    if (rows <= ws->ids_rows) /* computed with the pass */
        return m->be->ops->download(m->be, ids, ws->dids, (size_t)rows * sizeof *ids);
    GLOSSA_TRY(logits_kept(ws));
    return m->be->ops->argmax(m->be, rows, vocab, m->logits_ld, ws->logits, ids);
}

uint64_t bart_dec_passes(const bart_ws *ws)
{
    return ws->dec_passes;
}

bool bart_ids_async(const bart_model *m, const bart_ws *ws, int32_t rows)
{
    const backend_ops *o = m->be->ops;
    return o->download_begin && o->download_end && rows > 0 && rows <= ws->ids_rows &&
           (size_t)rows * sizeof(int32_t) <= GL_ASYNC_DOWNLOAD_MAX && !ws->graph_check;
}

glossa_status bart_ids_begin(bart_model *m, bart_ws *ws, int32_t rows)
{
    if (!bart_ids_async(m, ws, rows))
        return glossa_error(GLOSSA_STATUS_INTERNAL, "no argmax ids of %d rows to copy", rows);
    return m->be->ops->download_begin(m->be, ws->dids, (size_t)rows * sizeof(int32_t));
}

glossa_status bart_ids_end(bart_model *m, int32_t rows, int32_t *ids)
{
    return m->be->ops->download_end(m->be, ids, (size_t)rows * sizeof *ids);
}

glossa_status bart_logits_beam_topk(bart_model *m, bart_ws *ws, int32_t rows, int32_t n_groups,
                                    const gl_beam_group *groups)
{
    int32_t vocab = m->lm_head.rows;
    if ((int64_t)rows * m->logits_ld > ws->cap_logits)
        return glossa_error(GLOSSA_STATUS_INTERNAL, "beam_topk over %d rows of kept logits", rows);
    GLOSSA_TRY(logits_kept(ws));
    return m->be->ops->beam_topk(m->be, rows, vocab, m->logits_ld, ws->logits, n_groups, groups);
}

glossa_status bart_logits_rows(bart_model *m, bart_ws *ws, int32_t row, int32_t n_rows, float *dst)
{
    const int32_t vocab = m->lm_head.rows, ld = m->logits_ld;
    if ((int64_t)(row + n_rows) * ld > ws->cap_logits)
        return glossa_error(GLOSSA_STATUS_INTERNAL, "rows %d..%d of kept logits", row, row + n_rows);
    if (n_rows <= 0) return GLOSSA_STATUS_OK;
    GLOSSA_TRY(logits_kept(ws));
    const void *src = bart_ws_at(ws, ws->logits, (size_t)row * (size_t)ld);
    if (ld == vocab)
        return m->be->ops->download_f32(m->be, dst, src, (size_t)n_rows * (size_t)vocab);
    /* one download of the rows' span into host staging, then the pad columns left behind */
    const size_t span = (size_t)(n_rows - 1) * (size_t)ld + (size_t)vocab;
    if (span > ws->cap_hlogits) {
        float *h = realloc(ws->hlogits, span * sizeof *h);
        if (!h) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "logits staging");
        ws->hlogits = h;
        ws->cap_hlogits = span;
    }
    GLOSSA_TRY(m->be->ops->download_f32(m->be, ws->hlogits, src, span));
    for (int32_t r = 0; r < n_rows; r++)
        memcpy(dst + (size_t)r * (size_t)vocab, ws->hlogits + (size_t)r * (size_t)ld,
               (size_t)vocab * sizeof *dst);
    return GLOSSA_STATUS_OK;
}
