/* Running requests to completion on one model: the encoder pass of every request, then decode
 * steps over all running sequences (greedy, sampling and beam search mixed in one batch, each
 * request with its own target language and settings) until all are finished. The in-flight
 * scheduler (later) drives the same pieces step by step. */
#ifndef GLOSSA_RUNTIME_GENERATE_H
#define GLOSSA_RUNTIME_GENERATE_H

#include <stdint.h>

#include "core/threadpool.h"
#include "model/bart.h"
#include "runtime/decode.h"
#include "runtime/kv_cache.h"

#define GEN_BLOCK_SIZE 16

typedef struct gen_stats {
    double total_ms, encode_ms, first_token_ms, decode_ms;
    int32_t decode_steps;
    int64_t generated_tokens;
} gen_stats;

typedef struct gen_engine {
    bart_model *model;
    bart_ws *ws;
    kv_pool self, cross;   /* self-attention and cross-attention block pools */
    kv_copies cow;
    float *logits;         /* host (rows, vocab) */
    size_t logits_cap;
    gen_stats stats;       /* of the last gen_run */
    threadpool *pool;      /* host-side token selection across requests; NULL: one thread */
} gen_engine;

typedef struct gen_result {
    int32_t *ids;          /* generated tokens (the decoder start token excluded) */
    int32_t n;
    float score;
} gen_result;

typedef struct gen_request {
    const int32_t *src;    /* encoder input ids (owned by the caller) */
    int32_t n_src;
    decode_params p;
    int32_t decoder_start;
    bool output_scores;    /* greedy / sampling: sum the chosen tokens' log-probs (costs a
                              log-sum-exp over the vocabulary per step); beams always score */
    gen_result *results;   /* filled by gen_run: p.num_return_sequences entries */
    int32_t n_results;
} gen_request;

glossa_status gen_engine_init(gen_engine *e, bart_model *m);
void gen_engine_free(gen_engine *e);

/* Run all requests to completion in one batch. Results are replaced. */
glossa_status gen_run(gen_engine *e, gen_request *const *reqs, int32_t n);
void gen_request_clear_results(gen_request *r);

/* Teacher-forced logits of every decoder position (see api/model_internal.h). */
glossa_status gen_teacher_forced(gen_engine *e, const int32_t *src, int32_t n_src,
                                 const int32_t *dec, int32_t n_dec, float *logits);

#endif
