/* The encoder-decoder transformer of BART, mBART, M2M100 / NLLB-200 and Marian, parameterised by
 * model_config (io/hf_config.h), running on any backend through the op table (backend.h).
 *
 * The model is stateless between calls: K/V live in a paged store owned by the caller
 * (runtime/kv_cache.h) and are passed in as per-layer pool buffers plus per-sequence block
 * tables. A batch is packed: no padding is computed anywhere.
 *
 *   bart_encode  runs the encoder over packed source sequences and writes every decoder layer's
 *                cross-attention K/V of each sequence into its cross blocks (computed once per
 *                request).
 *   bart_decode  runs the decoder over packed new tokens of n sequences (one each while
 *                generating; several for teacher forcing), appends their self-attention K/V, and
 *                returns fp32 logits on the host for the last token of each sequence (or all).
 */
#ifndef GLOSSA_MODEL_BART_H
#define GLOSSA_MODEL_BART_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "io/hf_config.h"
#include "io/safetensors.h"

typedef struct bart_layer {
    /* self-attention: q, k, v fused at load into one (3 d, d) weight */
    gl_weight self_qkv_w, self_qkv_b, self_o_w, self_o_b, self_ln_g, self_ln_b;
    /* cross-attention (decoder only): q (d, d); k, v fused (2 d, d) */
    gl_weight cross_q_w, cross_q_b, cross_kv_w, cross_kv_b, cross_o_w, cross_o_b;
    gl_weight cross_ln_g, cross_ln_b;
    gl_weight fc1_w, fc1_b, fc2_w, fc2_b, ffn_ln_g, ffn_ln_b; /* (ffn, d), (d, ffn) */
} bart_layer;

typedef struct bart_model {
    model_config cfg;
    backend *be;
    gl_weight enc_embed;       /* (vocab, d) */
    gl_weight dec_embed;       /* (decoder vocab, d); may share enc_embed's data */
    gl_weight enc_pos, dec_pos; /* (rows, d): learned, or the sinusoidal table */
    gl_weight enc_emb_ln_g, enc_emb_ln_b, dec_emb_ln_g, dec_emb_ln_b; /* layernorm_embedding */
    gl_weight enc_final_ln_g, enc_final_ln_b, dec_final_ln_g, dec_final_ln_b;
    gl_weight lm_head;         /* (decoder vocab, d); may share dec_embed's data */
    gl_weight final_logits_bias; /* (1, decoder vocab); data NULL when absent */
    /* Logits rows are logits_ld apart: the decoder vocab rounded up to GL_WEIGHT_ROW_PAD. The
     * lm_head computes logits_ld columns (its storage's pad rows and the bias's pad entries are
     * zero), so that a row stays 16-byte aligned: mBART-50's 250,054 columns kept cuBLASLt on an
     * sm80 kernel at 33-128 rows, 242 us at 64 rows vs 199 with 250,056 (docs/PERF.md). The pad
     * columns are never read. GLOSSA_LOGITS_PACKED=1: logits_ld = vocab (for A/B timing). */
    int32_t logits_ld;
    bart_layer *enc, *dec;
    float embed_scale;
    int32_t n_owned;           /* weights owned (freed) in owned[] */
    gl_weight *owned;
} bart_model;

/* Progress callback for loading (0..1). */
typedef void (*bart_progress_fn)(float progress, void *user);

/* Load weights from st (HF tensor names, with or without the "model." prefix), check every
 * tensor's presence, shape and dtype (F32/F16/BF16) against cfg, convert to the backend's format,
 * fuse QKV. BAD_MODEL naming the tensor on a missing one or a wrong shape or dtype. */
glossa_status bart_load(backend *be, const model_config *cfg, const st_set *st,
                        bart_progress_fn progress, void *user, bart_model **out);
void bart_free(bart_model *m);

/* Per-layer K/V pool buffers of the caller's paged store (runtime/kv_cache.h). */
typedef struct bart_kv {
    void **self_k, **self_v;   /* (decoder_layers) pools: (n_blocks, block_size, d) each */
    void **cross_k, **cross_v; /* (decoder_layers) */
    int32_t block_size;
    uint64_t epoch; /* changes whenever any of the buffers above moves (kv_pool_epochs) */
} bart_kv;

/* Host-side description of one encoder pass. */
typedef struct bart_enc_batch {
    int32_t n_seqs;
    const int32_t *ids;          /* (n_tokens) packed source ids */
    const int32_t *off;          /* (n_seqs + 1) token offsets */
    const int32_t *cross_slots;  /* (n_tokens) flat cross-pool slot of each source token */
} bart_enc_batch;

/* Host-side description of one decoder pass. */
typedef struct bart_dec_batch {
    int32_t n_seqs;
    const int32_t *ids;          /* (n_tokens) packed new decoder tokens */
    const int32_t *off;          /* (n_seqs + 1) */
    const int32_t *positions;    /* (n_tokens) decoder positions (0 = the start token) */
    const int32_t *self_slots;   /* (n_tokens) flat self-pool slot for each new token's K/V */
    const int32_t *self_tables;  /* (n_seqs, self_max_blocks) */
    const int32_t *self_lens;    /* (n_seqs) cached length after this pass (past + new) */
    int32_t self_max_blocks;
    const int32_t *cross_tables; /* (n_seqs, cross_max_blocks) */
    const int32_t *cross_lens;   /* (n_seqs) source lengths */
    int32_t cross_max_blocks;
    bool all_logits;             /* logits of every token, else of each sequence's last */
    bool want_ids;               /* (not with all_logits) the rows' argmax is computed with the
                                    pass where the backend fuses it (linear_argmax): then
                                    bart_logits_argmax only fetches it */
    bool ids_only;               /* with want_ids: only the argmax is read after the pass, no
                                    logits row (the backend may skip writing them) */
    bool ids_feed;               /* one token per sequence, want_ids: the input ids are the
                                    previous pass's argmax ids, row for row (the same sequences
                                    in the same order; it ran with want_ids), still on the
                                    device; ids is not read (engine pipelining) */
} bart_dec_batch;

/* Activation workspace, grown on demand (no allocation when a pass fits). */
typedef struct bart_ws bart_ws;
glossa_status bart_ws_new(bart_model *m, bart_ws **out);
void bart_ws_free(bart_ws *ws);

glossa_status bart_encode(bart_model *m, bart_ws *ws, const bart_kv *kv, const bart_enc_batch *b);
/* logits: host (rows, decoder vocab) fp32, rows = n_tokens with all_logits, else n_seqs. */
glossa_status bart_decode(bart_model *m, bart_ws *ws, const bart_kv *kv, const bart_dec_batch *b,
                          float *logits);

/* With logits == NULL, bart_decode keeps the logits on the device (until the next pass); then:
 * the row-wise argmax to host ids (greedy without copying rows), and rows [row, row + n_rows) as
 * fp32 on the host. */
glossa_status bart_logits_argmax(bart_model *m, bart_ws *ws, int32_t rows, int32_t *ids);
/* The argmax ids computed with the last pass (want_ids) without a host wait: bart_ids_begin
 * queues their copy to the host, so that the next pass can be queued (ids_feed) before
 * bart_ids_end waits for them. bart_ids_async: whether this works for `rows` rows of the last
 * pass (the backend has the asynchronous download, the ids were computed with it, and no
 * replay check re-runs passes: GLOSSA_GRAPHS_CHECK). */
bool bart_ids_async(const bart_model *m, const bart_ws *ws, int32_t rows);
/* Decoder passes run on ws so far (which pass the kept logits / ids belong to). */
uint64_t bart_dec_passes(const bart_ws *ws);
glossa_status bart_ids_begin(bart_model *m, bart_ws *ws, int32_t rows);
glossa_status bart_ids_end(bart_model *m, int32_t rows, int32_t *ids);
glossa_status bart_logits_rows(bart_model *m, bart_ws *ws, int32_t row, int32_t n_rows, float *dst);
/* Beam search's selection over the kept logits (rows: the pass's logits rows; backend.h
 * beam_topk): each group's best candidates to its host out. */
glossa_status bart_logits_beam_topk(bart_model *m, bart_ws *ws, int32_t rows, int32_t n_groups,
                                    const gl_beam_group *groups);

/* Chunked encoder of one sequence (chunked context: an input longer than an iteration's token
 * budget is encoded over several calls). The encoder is bidirectional: each layer's attention
 * needs the K/V of every row of that layer. So the state keeps the sequence's hidden states
 * (n, d) and the current layer's Q/K/V (n, 3 d), and the position-wise work is cut by layer and
 * by rows into parts, run in this order (a part may hold any number of rows):
 *
 *   for each encoder layer l: QKV parts covering rows [0, n), then OUT parts covering [0, n)
 *
 * QKV: (layer 0: embed the rows) the rows' Q, K, V. OUT: the rows' queries attend to all keys of
 * the layer, then the output projection and FFN. OUT of the last layer also applies the final
 * layer norm and writes the rows' cross-attention K/V of every decoder layer to their cross slots
 * (cross_slots: the flat slots of all n source tokens; read only there). Every operation is
 * row-wise or sees the whole layer, so the result equals bart_encode's up to the float rounding
 * of different row groupings. The state is device memory of n * 4 * d activations. */
typedef struct bart_enc_state bart_enc_state;

typedef enum bart_enc_phase {
    BART_ENC_QKV = 0,
    BART_ENC_OUT = 1,
} bart_enc_phase;

/* ids are copied (checked: range, positions). */
glossa_status bart_enc_state_new(bart_model *m, const int32_t *ids, int32_t n, bart_enc_state **out);
void bart_enc_state_free(bart_enc_state *s);
glossa_status bart_encode_part(bart_model *m, bart_ws *ws, const bart_kv *kv, bart_enc_state *s,
                               int32_t layer, bart_enc_phase phase, int32_t row0, int32_t n_rows,
                               const int32_t *cross_slots);

int32_t bart_decoder_vocab(const bart_model *m);

#endif
