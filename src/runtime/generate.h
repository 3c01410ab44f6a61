/* Running requests to completion on one model (glossa_model_run): a thin driver over the
 * step-wise core (runtime/engine.h): every request is submitted, the pools are grown to hold them
 * all, and the engine steps without a token budget until all are finished. So the run is one
 * encoder pass over all inputs, then decode steps over all running sequences (greedy, sampling
 * and beam search mixed in one batch, each request with its own target language and settings),
 * exactly what the in-flight engine does with a budget. */
#ifndef GLOSSA_RUNTIME_GENERATE_H
#define GLOSSA_RUNTIME_GENERATE_H

#include <stdint.h>

#include "core/threadpool.h"
#include "model/bart.h"
#include "runtime/decode.h"
#include "runtime/engine.h"
#include "runtime/kv_cache.h"

typedef struct gen_stats {
    double total_ms, encode_ms, first_token_ms, decode_ms;
    int32_t decode_steps;
    int64_t generated_tokens;
} gen_stats;

typedef struct gen_engine {
    bart_model *model;
    bart_ws *ws;           /* activations, shared with the model's in-flight engines */
    threadpool *pool;      /* host-side token selection across requests; NULL: one thread */
    engine core;           /* no budget, no batch limit; pools grown (while idle) per run */
    gen_stats stats;       /* of the last gen_run */
} gen_engine;

glossa_status gen_engine_init(gen_engine *e, bart_model *m);
void gen_engine_free(gen_engine *e);

/* Run all requests to completion in one batch. Results are replaced; on failure every request's
 * results are cleared. */
glossa_status gen_run(gen_engine *e, gen_request *const *reqs, int32_t n);

/* Teacher-forced logits of every decoder position (see api/model_internal.h). */
glossa_status gen_teacher_forced(gen_engine *e, const int32_t *src, int32_t n_src,
                                 const int32_t *dec, int32_t n_dec, float *logits);

#endif
