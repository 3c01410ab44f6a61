/* Decoding on the host, exactly as HF transformers' generate() does it (transformers 5.x,
 * generation/utils.py and generation/logits_process.py): the logits processors, the sampling
 * warpers, and the beam-search bookkeeping of one request. The model produces one row of logits
 * per running sequence; these functions turn it into the next token(s).
 *
 * Sequences here are HF's decoder `input_ids`: they start with the decoder start token, so
 * seq_len counts it (HF's cur_len).
 */
#ifndef GLOSSA_RUNTIME_DECODE_H
#define GLOSSA_RUNTIME_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "glossa.h"

#define DECODE_MAX_EOS 8
#define DECODE_MAX_BAD_WORDS 16

/* Resolved per-request decoding settings (public glossa_decode_params merged with the model's
 * generation_config and the request's target language). */
typedef struct decode_params {
    int32_t max_length;           /* total decoder length incl. the start token (HF max_length;
                                     max_new_tokens resolves to max_new_tokens + 1) */
    int32_t min_length;           /* HF min_length (total, incl. start token); 0: none */
    int32_t min_new_tokens;       /* 0: none */
    int32_t num_beams;            /* 1: greedy or sampling */
    int32_t num_return_sequences; /* <= num_beams */
    float length_penalty;
    int32_t early_stopping;       /* 0 false, 1 true, 2 never */
    bool do_sample;
    float temperature;
    int32_t top_k;                /* 0: off */
    float top_p;                  /* 1.0: off */
    uint64_t seed;
    float repetition_penalty;     /* 1.0: off */
    int32_t no_repeat_ngram_size; /* 0: off */
    int32_t forced_bos_token_id;  /* -1: none (else forced at cur_len == 1) */
    int32_t forced_eos_token_id;  /* -1: none (else forced at cur_len == max_length - 1) */
    int32_t eos_ids[DECODE_MAX_EOS];
    int32_t n_eos;
    int32_t bad_words[DECODE_MAX_BAD_WORDS]; /* single-token bad words, banned always */
    int32_t n_bad_words;
    int32_t pad_token_id;
    bool ignore_eos;              /* benchmarks: EOS never ends a sequence, nor is it masked */
} decode_params;

/* Apply HF's logits processors, in HF's order, to one row of `vocab` scores for a sequence
 * seq[0..seq_len) (repetition penalty, no-repeat n-gram, bad words, min length / min new tokens,
 * forced BOS, forced EOS). For greedy and sampling the row holds raw logits; for beam search it
 * holds log-softmax scores (HF processes log-probs there). In place; banned entries get -inf. */
void decode_process_logits(float *row, int32_t vocab, const int32_t *seq, int32_t seq_len,
                           const decode_params *p);

/* The sampling warpers (temperature, top-k, top-p, in HF's order) then a draw from the softmax
 * with the request's RNG state. Returns the token. */
typedef struct decode_rng {
    uint64_t s[4];
} decode_rng;
void decode_rng_seed(decode_rng *r, uint64_t seed);
int32_t decode_sample(float *row, int32_t vocab, const decode_params *p, decode_rng *rng);

/* The decimal a user most likely wrote for f (the shortest %g form that reads back as f), so
 * that 0.6f computes as 0.6 does in Python (length penalty, top-p, temperature). */
double decode_float_decimal(float f);

/* The token HF's ForcedBOS / ForcedEOS processors force at seq_len (forced EOS wins when both
 * apply), or -1 when none applies. */
int32_t decode_forced_token(const decode_params *p, int32_t vocab, int32_t seq_len);

/* Greedy without the logits row: given the argmax of the raw logits (computed on the device),
 * the token decode_process_logits + decode_argmax would pick, when that is decidable without the
 * row (no repetition penalty or n-gram ban; forced tokens; the argmax itself not banned). false:
 * the row is needed. */
bool decode_greedy_shortcut(const decode_params *p, int32_t vocab, int32_t seq_len,
                            int32_t raw_argmax, int32_t *tok);
/* decode_greedy_shortcut succeeds at seq_len whatever the raw argmax: the step needs no row of
 * the logits (a pass may then skip writing them). */
bool decode_greedy_rowless(const decode_params *p, int32_t vocab, int32_t seq_len);

/* Greedy: the argmax (lowest index on ties, like torch.argmax on CPU). */
int32_t decode_argmax(const float *row, int32_t vocab);

/* In place: row = log_softmax(row). */
void decode_log_softmax(float *row, int32_t vocab);

/* ---- beam search of one request (HF _beam_search) ----
 *
 * Usage per step: for each running beam b in 0..num_beams, take its logits row, log_softmax it,
 * decode_process_logits() with beam_search_seq(b), then call beam_search_step() with the rows.
 * The step picks the next num_beams running beams: out_parent[i] is the previous running beam
 * the new beam i extends (the caller reorders its KV cache accordingly) and out_token[i] the
 * token it appends. When beam_search_done() the request is finished; beam_search_result()
 * gives the best num_return_sequences hypotheses (sequences include the start token).
 */
typedef struct beam_search beam_search;

glossa_status beam_search_new(const decode_params *p, int32_t vocab, int32_t decoder_start_id,
                              beam_search **out);
void beam_search_free(beam_search *bs);

int32_t beam_search_num_beams(const beam_search *bs);
/* The running sequence of beam b (start token first) and its length. */
const int32_t *beam_search_seq(const beam_search *bs, int32_t b, int32_t *len);
/* One step. rows: (num_beams, vocab) processed log-probs of the running beams. At the first
 * step (seq_len 1) all beams are identical and only beam 0 counts (HF initialises the other
 * beams' scores to -1e9). */
glossa_status beam_search_step(beam_search *bs, const float *rows, int32_t *out_parent,
                               int32_t *out_token);
bool beam_search_done(const beam_search *bs);
/* The device path of one step (the common case; see beam_search.c "Device path"): when this
 * step's processors need no host row, fill g for the backend's beam_topk op (all but row0, which
 * the caller sets: the first logits row of the beams) and return true; g points into bs (its
 * running scores, ban list and candidate buffer) until the step. false: use beam_search_step
 * with the processed rows. */
struct gl_beam_group;
bool beam_search_device_group(beam_search *bs, struct gl_beam_group *g);
/* Whether the last beam_search_device_group handed out a group not yet stepped. */
bool beam_search_device_pending(const beam_search *bs);
/* The step, from the candidates the op wrote to the group's out. */
glossa_status beam_search_step_device(beam_search *bs, int32_t *out_parent, int32_t *out_token);
/* Finish (the running beams are considered as hypotheses, as HF does at max_length) and return
 * the k-th best hypothesis, k < num_return_sequences: its tokens (start token first, no padding)
 * and its score (sum of log-probs / length ** length_penalty, HF's sequences_scores). */
glossa_status beam_search_result(beam_search *bs, int32_t k, const int32_t **seq, int32_t *len,
                                 float *score);

#endif
