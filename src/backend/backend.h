/* The backend op table (DESIGN.md): every compute backend (cpu/, later cuda/) fills one
 * backend_ops table; the model code (src/model/) calls only these ops, so the same layer code runs
 * on every backend, and tests/backend runs each op of a backend against the CPU twin.
 *
 * Memory model
 *   - Activations are device buffers in the backend's activation dtype (`act_dtype`: F32 on the
 *     CPU; F16/BF16 on CUDA). Pointers are `void *`; sizes are element counts.
 *   - Index arrays (token ids, positions, offsets, block tables, slot mappings) are device buffers
 *     of int32 filled with upload().
 *   - Weights are gl_weight handles made once at load by weight_from_host(), which converts from
 *     the checkpoint dtype (F32/F16/BF16) to the backend's weight format.
 *   - Row-major everywhere. A Linear weight is (out_features, in_features), as in PyTorch.
 *
 * Errors: alloc / upload / weight_from_host can fail and return a status. Compute ops cannot fail:
 * the caller (model code) has validated shapes, and every index is in range by construction.
 * Ops on a device backend are asynchronous and ordered on the backend's stream; sync() waits.
 *
 * Threads: a backend object is used by one thread at a time (the inference loop). The CPU backend
 * parallelises each op internally over n_threads.
 */
#ifndef GLOSSA_BACKEND_BACKEND_H
#define GLOSSA_BACKEND_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "glossa.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gl_dtype {
    GL_DTYPE_F32 = 0,
    GL_DTYPE_F16 = 1,
    GL_DTYPE_BF16 = 2,
} gl_dtype;

size_t gl_dtype_size(gl_dtype t);
const char *gl_dtype_name(gl_dtype t);

typedef enum gl_act {
    GL_ACT_NONE = 0,
    GL_ACT_GELU = 1,      /* exact: 0.5 x (1 + erf(x / sqrt 2)) ("gelu") */
    GL_ACT_GELU_TANH = 2, /* tanh approximation ("gelu_new", "gelu_pytorch_tanh", "gelu_fast") */
    GL_ACT_RELU = 3,
    GL_ACT_SILU = 4,      /* x sigmoid(x) ("swish", "silu") */
} gl_act;

/* A weight matrix or vector on the device. Vectors (biases, layer-norm gamma/beta) have rows = 1. */
typedef struct gl_weight {
    void *data;     /* device memory in `dtype` */
    int32_t rows;   /* out_features */
    int32_t cols;   /* in_features */
    gl_dtype dtype; /* the backend's storage format (CPU: F32) */
} gl_weight;

/* Paged K/V storage of one attention layer (vLLM-style). Token t of sequence s lives in block
 * block_tables[s * max_blocks_per_seq + t / block_size], row t % block_size. A contiguous cache
 * is the special case of one block per sequence of block_size = max length. */
typedef struct gl_kv_view {
    void *k;                      /* (n_blocks, block_size, n_heads, head_dim), act dtype */
    void *v;                      /* (n_blocks, block_size, n_heads, head_dim), act dtype */
    const int32_t *block_tables;  /* device: (n_seqs, max_blocks_per_seq) */
    int32_t max_blocks_per_seq;
    int32_t block_size;
    int32_t n_heads;
    int32_t head_dim;
    /* true: every cached position a call reads, except the last nq positions of each sequence of a
     * causal attention_paged call, was written before the pass began (before its first upload),
     * so a device backend may fetch them before the kernels of the pass that precede it finish */
    bool prior;
} gl_kv_view;

/* ---- beam search's candidate selection (the beam_topk op) ----
 *
 * One group is one beam-search request of a decode step: its num_beams running beams are
 * consecutive logits rows. Per row the op computes HF's step on the raw logits x (act dtype, read
 * as fp32, i.e. logits.float()):
 *   lp  = log_softmax(x) in fp32: (x - max) - (float)log(sum exp(x - max)) (every entry NaN when
 *         the row holds NaN or +inf or is all -inf, as torch gives),
 *   then the processors that need no host state: lp[ban[i]] = -inf; with forced >= 0 every entry
 *         becomes -inf except lp[forced] = 0 (ForcedBOS / ForcedEOS, applied last, as HF does),
 *   acc = lp + scores[beam] (fp32),
 * and per group returns the k best acc over all its beams (HF's torch.topk over the flattened
 * (num_beams * n) scores) in one total order: larger acc first, NaN above every number (as
 * torch.topk), +0 == -0, and equal values by the lower flat index beam * n + token first
 * (beam_search.c, "Ties").
 *
 * The CPU op computes the sum with expf in a double accumulator, as runtime/decode_logits.c's
 * decode_log_softmax does, so its candidates are bit-identical to the host path's. The CUDA op
 * sums with CUDA's expf in fp32 within groups of 8 terms and in double above (cuda_beam.cu);
 * (float)log(sum) can differ from the CPU's in the last bit for some rows, which shifts all of
 * that row's acc values by that ulp of lse: equal candidate sets except where two acc values were
 * within it. */
#define GL_BEAM_MAX_K 128  /* candidates per group */
#define GL_BEAM_MAX_BAN 32 /* banned tokens per group */

typedef struct gl_beam_cand {
    float score;   /* acc: log-prob of the token plus the beam's running score */
    int32_t token; /* in [0, n) */
    int32_t beam;  /* in [0, n_beams) */
} gl_beam_cand;

typedef struct gl_beam_group {
    int32_t row0;          /* the beams are rows row0 .. row0 + n_beams - 1 of x */
    int32_t n_beams;       /* >= 1 */
    int32_t k;             /* 1 .. GL_BEAM_MAX_K, and k <= n_beams * n */
    int32_t forced;        /* a token in [0, n) forced at this step; anything else: none */
    int32_t n_ban;         /* 0 .. GL_BEAM_MAX_BAN */
    const int32_t *ban;    /* host (n_ban) tokens set to -inf; entries outside [0, n) ignored */
    const float *scores;   /* host (n_beams) running beam scores */
    gl_beam_cand *out;     /* host (k): the result, best first */
} gl_beam_group;

/* INVALID_ARGUMENT unless every group meets the limits above (shared by the backends). */
glossa_status gl_beam_groups_check(int32_t m, int32_t n, int32_t ld, int32_t n_groups,
                                   const gl_beam_group *groups);

/* ---- the decoder_stack op: every pre-LN decoder layer of a one-token pass in one call ----
 * Per layer, on the residual row x (d = x's width):
 *   qkv = LN(x; ln[0]) qkv_w^T + qkv_b, its K and V columns also to `self` at slots[0];
 *   a = attention of qkv's Q over `self` (lens[0] keys, the new one included);
 *   x += a o_w^T + o_b;  q = LN(x; ln[1]) cq_w^T + cq_b;  a = attention of q over `cross` (xlens[0]);
 *   x += a co_w^T + co_b;  h = act(LN(x; ln[2]) fc1_w^T + fc1_b);  x += h fc2_w^T + fc2_b
 * i.e. exactly the ops bart_decode.c calls for a pre-LN layer, with the same roundings to the act
 * dtype between them (sums may differ in order: fp32). */
typedef struct gl_dec_layer {
    const gl_weight *ln_g[3], *ln_b[3];          /* self, cross, FFN layer norms */
    const gl_weight *w[6], *bias[6];             /* qkv (3d, d), o, cq, co (d, d), fc1 (ffn, d),
                                                    fc2 (d, ffn); bias may be NULL */
    gl_kv_view self, cross;                      /* this layer's pools; tables shared by all */
} gl_dec_layer;

typedef struct gl_dec_stack {
    int32_t n_layers;
    const gl_dec_layer *layers;
    gl_act act;
    float eps, scale;
    void *x;                     /* (1, d) in and out */
    void *qkv, *q, *h;           /* scratch rows: 3d, d, ffn */
    const int32_t *slots, *lens, *xlens; /* device, one entry each */
} gl_dec_stack;

typedef struct backend backend;

/* a weight's storage rows are a multiple of this (weight_from_host) */
#define GL_WEIGHT_ROW_PAD 8
static inline int32_t gl_weight_rows_padded(int32_t rows)
{
    return rows > INT32_MAX - (GL_WEIGHT_ROW_PAD - 1)
               ? rows
               : (rows + GL_WEIGHT_ROW_PAD - 1) / GL_WEIGHT_ROW_PAD * GL_WEIGHT_ROW_PAD;
}

typedef struct backend_ops {
    const char *name;
    void (*destroy)(backend *b);

    /* ---- memory ---- */
    glossa_status (*alloc)(backend *b, size_t bytes, void **out); /* OUT_OF_MEMORY on failure */
    void (*free)(backend *b, void *p);
    glossa_status (*upload)(backend *b, void *dst, const void *src, size_t bytes);
    glossa_status (*download)(backend *b, void *dst, const void *src, size_t bytes);
    void (*sync)(backend *b);
    /* n activations (act dtype) at src to n floats at host dst */
    glossa_status (*download_f32)(backend *b, float *dst, const void *src, size_t n);
    /* n floats at host src to n activations (act dtype) at device dst */
    glossa_status (*upload_f32)(backend *b, void *dst, const float *src, size_t n);

    /* ---- weights ---- */
    /* Convert a host tensor of rows x cols elements in src_dtype into a new device weight. Its
     * storage holds GL_WEIGHT_ROW_PAD-rounded rows, the extra ones zero: a weight may be used
     * with rows up to that (the lm_head computes logits rows of an 8-aligned width, so that their
     * stride keeps cuBLASLt's 16-byte aligned Hopper kernels; docs/PERF.md). */
    glossa_status (*weight_from_host)(backend *b, const void *src, gl_dtype src_dtype, int32_t rows,
                                      int32_t cols, gl_weight *out);
    void (*weight_free)(backend *b, gl_weight *w);

    /* ---- compute ---- */
    /* y(m, d) = tok[ids[i]] * scale (+ pos[positions[i]] when pos != NULL), d = tok->cols. */
    void (*embed)(backend *b, int32_t m, const int32_t *ids, const int32_t *positions,
                  const gl_weight *tok, const gl_weight *pos, float scale, void *y);

    /* y(m, n) = act(x(m, k) W(n, k)^T + bias(n)) (+ residual(m, n) when not NULL), n = w->rows,
     * k = w->cols. x rows are x_stride elements apart (x_stride >= k); y and residual are dense.
     * y may alias residual, never x. */
    void (*linear)(backend *b, int32_t m, const void *x, int32_t x_stride, const gl_weight *w,
                   const gl_weight *bias, gl_act act, const void *residual, void *y);

    /* Row-wise layer norm over d = gamma->cols: y = (x - mean) / sqrt(var + eps) * gamma + beta.
     * When r is not NULL, x is first updated in place: x += r (fused residual add), and y is the
     * norm of the sum. y may alias x. */
    void (*layernorm)(backend *b, int32_t m, void *x, const void *r, const gl_weight *gamma,
                      const gl_weight *beta, float eps, void *y);

    /* y(m, d) = x(m, d) + r(m, d). y may alias x or r. */
    void (*add)(backend *b, int64_t n, const void *x, const void *r, void *y);

    /* Attention over packed variable-length sequences, no padding. Sequence s has queries rows
     * [q_off[s], q_off[s+1]) of q and keys/values rows [k_off[s], k_off[s+1]) of k and v.
     * Row r of q holds n_heads * head_dim values at q + r * q_stride (head h at h * head_dim);
     * likewise k, v with kv_stride. out(total_q, n_heads * head_dim) dense.
     * out = softmax(q k^T * scale [causal mask]) v per head. With causal, query i of a sequence of
     * nq queries and nk keys sees keys j <= nk - nq + i. q_off, k_off: device, n_seqs + 1 each. */
    void (*attention)(backend *b, int32_t n_seqs, int32_t n_heads, int32_t head_dim,
                      const void *q, int32_t q_stride, const void *k, const void *v,
                      int32_t kv_stride, const int32_t *q_off, const int32_t *k_off, bool causal,
                      float scale, void *out);

    /* Attention of packed queries against paged K/V: sequence s has queries rows
     * [q_off[s], q_off[s+1]) and kv_lens[s] cached keys/values in kv (its block table row s).
     * Causal as above (nk = kv_lens[s]). q_off, kv_lens: device. */
    void (*attention_paged)(backend *b, int32_t n_seqs, const void *q, int32_t q_stride,
                            const int32_t *q_off, const gl_kv_view *kv, const int32_t *kv_lens,
                            bool causal, float scale, void *out);

    /* Write n tokens' keys and values into the paged store: token t (row t of k and v, rows
     * kv_stride elements apart, n_heads * head_dim values each) goes to flat slot
     * slot_mapping[t] = block * block_size + offset. slot_mapping: device. */
    void (*kv_write)(backend *b, int32_t n, const void *k, const void *v, int32_t kv_stride,
                     const int32_t *slot_mapping, const gl_kv_view *kv);

    /* Copy whole blocks: block dst[i] := block src[i] for K and V (beam-search reordering,
     * copy-on-write) in each of the n_views views (e.g. every layer of one pool: views share
     * block_size, n_heads and head_dim). src, dst: device, n entries; no dst appears twice or
     * also as a src. */
    void (*kv_copy_blocks)(backend *b, int32_t n_views, const gl_kv_view *views, int32_t n,
                           const int32_t *src, const int32_t *dst);

    /* y(m, d) = x(rows[i], d): gather rows (e.g. the last position of each sequence). rows:
     * device. y must not alias x. */
    void (*gather_rows)(backend *b, int32_t m, int32_t d, const void *x, const int32_t *rows,
                        void *y);

    /* Row-wise argmax over the n columns of x(m, n), rows ld >= n elements apart (ties: the
     * lowest index), ids to host out. */
    glossa_status (*argmax)(backend *b, int32_t m, int32_t n, int32_t ld, const void *x,
                            int32_t *out);

    /* Beam search's step selection (see gl_beam_group above) over x(m, n), rows ld >= n
     * elements apart, logits in the act dtype: every group's k best candidates to group->out
     * (host). Groups' rows lie in [0, m) and may leave rows out (greedy jobs of the same step).
     * Device backends wait for the result. */
    glossa_status (*beam_topk)(backend *b, int32_t m, int32_t n, int32_t ld, const void *x,
                               int32_t n_groups, const gl_beam_group *groups);

    /* ---- recorded op sequences (CUDA graphs); NULL on backends without them ----
     * graph_begin starts recording the ops called next (they do not run); graph_end stops and
     * returns a replayable graph in *out, or an error when something could not be recorded (the
     * recording is dropped; nothing ran; the backend stays usable). Recorded ops must not grow
     * scratch memory (run the same shapes once unrecorded first) nor wait for the device.
     * graph_launch runs a graph on the backend's stream, reading whatever the recorded pointers
     * hold then. graph_epoch changes whenever the backend moves internal scratch memory, which
     * invalidates graphs recorded before. */
    glossa_status (*graph_begin)(backend *b);
    glossa_status (*graph_end)(backend *b, void **out);
    glossa_status (*graph_launch)(backend *b, void *graph);
    void (*graph_free)(backend *b, void *graph);
    uint64_t (*graph_epoch)(backend *b);

    /* Device memory free now and in all (bytes); NULL where the backend has no such query (CPU:
     * the pools are sized by bytes). */
    glossa_status (*mem_info)(backend *b, size_t *free_bytes, size_t *total_bytes);

    /* Optional fusion (NULL: none). linear(b, m, x, x_stride, w, bias, GL_ACT_NONE, NULL, y), then
     * kv_write of its columns [kv_col, kv_col + row) as K and the next row columns as V (row =
     * kv->n_heads * kv->head_dim, rows of y n = w->rows apart), i.e. the self-attention's QKV
     * projection and its cache write in one. true when it ran; false, with nothing launched, when
     * the backend does not fuse this call (the caller then runs the two ops). */
    bool (*linear_kv)(backend *b, int32_t m, const void *x, int32_t x_stride, const gl_weight *w,
                      const gl_weight *bias, int32_t kv_col, const int32_t *slot_mapping,
                      const gl_kv_view *kv, void *y);

    /* Optional fusion (NULL: none). kv_write(b, q_off[n_seqs], k_new, v_new, kv_stride,
     * slot_mapping, kv), then attention_paged(b, n_seqs, q, q_stride, q_off, kv, kv_lens, true,
     * scale, out): the self-attention's cache write and its attention in one, the new tokens' K/V
     * read from k_new / v_new (the slots of the tokens must be the cache positions of their
     * sequences' last q_off[s + 1] - q_off[s] keys, as in a decode pass). true when it ran; false,
     * with nothing launched, when the backend does not fuse this call. */
    bool (*attention_paged_kv)(backend *b, int32_t n_seqs, const void *q, int32_t q_stride,
                               const int32_t *q_off, const void *k_new, const void *v_new,
                               int32_t kv_stride, const int32_t *slot_mapping,
                               const gl_kv_view *kv, const int32_t *kv_lens, float scale,
                               void *out);

    /* Optional (NULL: none): the decoder layers of a one-sequence, one-token pass (see
     * gl_dec_stack above) in one call. true when it ran; false, with nothing launched, when the
     * backend does not take this call (the caller runs the layers op by op). */
    bool (*decoder_stack)(backend *b, const gl_dec_stack *st);

    /* Optional fusion (NULL: none): a pass's logits and their row-wise argmax in one call.
     * linear(b, m, x, x_stride, w, bias, GL_ACT_NONE, NULL, y) (y dense, n = w->rows columns),
     * and ids[i] (device, m of them) = argmax(b, m, n_valid, n, y) of that product, without a
     * host wait, so that it can be recorded in a graph with the pass. n_valid <= w->rows (the
     * columns past it, e.g. a vocabulary's row padding, never win). keep_y false: only the ids
     * are wanted, y's contents afterwards are unspecified (a backend may skip writing it). true
     * when it ran; false, with nothing launched, when the backend declines (it then declines
     * every call). */
    bool (*linear_argmax)(backend *b, int32_t m, const void *x, int32_t x_stride,
                          const gl_weight *w, const gl_weight *bias, int32_t n_valid, void *y,
                          bool keep_y, int32_t *ids);

    /* Optional (NULL: none; use download): a small download that does not wait, one at a time.
     * download_begin queues a copy of `bytes` (at most GL_ASYNC_DOWNLOAD_MAX) of device src
     * behind everything queued so far and returns at once; ops queued after it may overwrite src.
     * download_end waits for that copy (and reports a device error) and puts the bytes at dst.
     * Lets the host queue the next pass before it reads the last one's results. */
    glossa_status (*download_begin)(backend *b, const void *src, size_t bytes);
    glossa_status (*download_end)(backend *b, void *dst, size_t bytes);
} backend_ops;

#define GL_ASYNC_DOWNLOAD_MAX ((size_t)64 << 10)

struct backend {
    const backend_ops *ops;
    gl_dtype act_dtype; /* activations and K/V */
    int n_threads;
    void *impl;         /* backend private state */
};

/* The CPU backend (fp32 activations, fp32 weights; GEMM through OpenBLAS). n_threads <= 0: all
 * cores. */
glossa_status backend_cpu_create(int n_threads, backend **out);

/* The CUDA backend (src/backend/cuda/): activations and K/V in act_dtype (F16 or BF16), weights
 * converted to act_dtype at load, fp32 accumulation; cuBLASLt GEMMs. UNSUPPORTED when glossa was
 * built without CUDA, NOT_FOUND when the device does not exist. */
glossa_status backend_cuda_create(int device, gl_dtype act_dtype, backend **out);

/* Number of usable CUDA devices (0 without CUDA support or without a GPU). */
int backend_cuda_device_count(void);

static inline void backend_destroy(backend *b)
{
    if (b) b->ops->destroy(b);
}

#ifdef __cplusplus
}
#endif

#endif
