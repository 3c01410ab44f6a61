/* The step-wise generation core: one implementation of requests, sequences, steps, token selection
 * and finishing, driven by glossa_model_run (runtime/generate.c: submit all, step until done) and
 * by the in-flight engine (api/engine_api.c: requests arrive and leave between steps).
 *
 * A job goes waiting -> encoding -> running -> done. One iteration (engine_step):
 *
 *   1. the budget: max_num_tokens minus one token per running sequence (beams count);
 *   2. encoder work of jobs admitted earlier whose input did not fit (chunked context), oldest
 *      first, as far as the budget goes;
 *   3. admission, first-come-first-served (the head of the queue is never overtaken): while the
 *      budget, max_batch_size and the KV policy allow, the head job is admitted: its cross blocks
 *      are allocated and its encoder runs whole (packed with the other whole ones into one
 *      encoder pass) when input + first step fit the budget left, else it starts chunked;
 *   4. one decode step over every running sequence, token selection (in parallel over jobs),
 *      KV reordering for beams, streaming, finishing. A job whose encoder finishes in this
 *      iteration joins when the budget has room for its rows (else it goes first next time and
 *      nothing newer is admitted now). Under max-utilization, when the self blocks of the step
 *      do not fit, the newest running jobs are preempted.
 *
 * Token budget. A decode token costs 1. An encoder token costs 1 too, counted in units of
 * 1 / (2 * encoder_layers): the encoder's work is cut per layer into a QKV phase and an
 * attention-output + FFN phase, and a chunk of r rows of one phase costs r units (one token is
 * 2 L units; a token that takes the whole encoder in one iteration costs exactly 1). See
 * model/bart.h (bart_encode_part) for why the bidirectional encoder can be cut that way.
 *
 * KV policies. The self-attention and cross-attention block pools are sized once
 * (engine_reserve_pools). NO_EVICT admits a job only when num_beams x blocks(max_length) self
 * blocks can be reserved on top of every admitted job's reservation (and its cross blocks are
 * free), so an admitted job always completes. MAX_UTIL admits when the cross blocks and the
 * first step's self blocks fit; when a decode step's blocks do not fit, the newest running jobs
 * are preempted: their blocks are freed and they go back to the front of the queue (in arrival
 * order) to be recomputed from scratch later. Tokens streamed before a preemption are not
 * streamed again (recomputation is deterministic).
 *
 * Threads: an engine is used by one thread at a time; api/engine_api.c adds the thread-safe
 * queue, cancellation and metrics around it.
 *
 * Tracing: with GLOSSA_ENGINE_TRACE=1 (stderr) or =PATH (appended) every iteration writes one
 * line "glossa-iter t=... it=... wait=... act=... adm=... enc_jobs=... enc_tok=... chunk=...
 * dec_jobs=... rows=... maxlen=... enc_ms=... fwd_ms=... sel_ms=... post_ms=... step_ms=...
 * gap_ms=...": the queue and the active jobs at its start, the jobs admitted, the packed encoder
 * pass (jobs, tokens) and chunked encoder units, the decode step (jobs, rows, longest sequence),
 * and the time of each part: encoder, decoder forward, token selection, after-selection work
 * (KV reordering, TOKEN / end events), the whole step, and the time outside the engine since the
 * previous iteration. glossa_model_run's batches trace too (the static-batching baseline).
 */
#ifndef GLOSSA_RUNTIME_ENGINE_H
#define GLOSSA_RUNTIME_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/threadpool.h"
#include "model/bart.h"
#include "runtime/decode.h"
#include "runtime/kv_cache.h"

#define ENGINE_BLOCK_SIZE 16

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
    gen_result *results;   /* filled when the job finishes: p.num_return_sequences entries */
    int32_t n_results;
} gen_request;

void gen_request_clear_results(gen_request *r);

typedef enum engine_policy {
    ENGINE_POLICY_NO_EVICT = 0,
    ENGINE_POLICY_MAX_UTIL = 1,
} engine_policy;

typedef struct engine_config {
    int64_t max_num_tokens; /* encoder + decoder tokens per iteration; <= 0: unlimited */
    int32_t max_batch_size; /* sequences (beams count) admitted at once; <= 0: unlimited */
    engine_policy policy;
    float delay_factor;     /* admissions wait for delay_factor x the last admitting iteration's
                               time since the oldest arrival (unless idle); 0: every iteration */
    bool pipeline;          /* greedy steps queue the next pass ahead (engine_pipeline.c); the
                               environment's GLOSSA_PIPELINE=0 / 1 overrides */
} engine_config;

typedef enum engine_phase {
    ENGINE_JOB_WAITING = 0,
    ENGINE_JOB_ENCODING = 1,
    ENGINE_JOB_RUNNING = 2,
    ENGINE_JOB_DONE = 3,
} engine_phase;

typedef struct engine_job engine_job;

struct engine_job {
    gen_request *r;          /* set by the caller before engine_submit; the rest is the engine's */
    engine_phase phase;
    uint64_t seq_no;         /* arrival order */
    engine_job *prev, *next; /* in the waiting or the active list */
    /* decoding state (allocated at admission, freed at the end or on preemption) */
    kv_seq cross;
    int32_t n_beams;         /* rows this job occupies per step */
    kv_seq *seqs, *tmp;      /* (n_beams) self-attention caches; tmp for beam reordering */
    beam_search *bs;         /* beam search; NULL for greedy / sampling */
    int32_t *tokens;         /* greedy / sampling: the sequence, start token first */
    int32_t len;
    double logprob;
    decode_rng rng;
    float *row_copy;         /* sampling: the processed row before the warpers */
    int32_t *parent, *token; /* beams: the step's selection */
    int32_t row0;            /* first logits row of this step */
    bool shortcut;           /* greedy: this step's token decided from the device argmax */
    int32_t shortcut_tok;
    bool finishing;          /* the step's selection ended the job */
    bool ahead;              /* in the pass queued ahead (engine_pipeline.c): next slot taken */
    int32_t ahead_row;       /* its row there */
    bool prepaid;            /* its first step's rows were charged at admission */
    bool in_step;            /* decodes in this iteration */
    glossa_status status;    /* of the step's selection */
    /* encoder */
    bart_enc_state *enc;     /* chunked encoder state; NULL when encoded whole */
    int32_t *xslots;         /* (n_src) cross slots of the source tokens */
    int64_t enc_done;        /* encoder units done (of n_src * 2 * encoder_layers) */
    int32_t reserved_self;   /* NO_EVICT: self blocks reserved */
    /* accounting (kept across preemptions) */
    int32_t emitted;         /* tokens already streamed */
    int32_t steps;           /* decode steps of the current attempt */
    int32_t preemptions;
    double t_submit, t_admit, t_first; /* ms (engine_now_ms); 0: not yet */
};

typedef struct engine_events {
    void *ctx;
    /* Greedy / sampling: n new tokens of j, appended in this iteration. NULL: no streaming. */
    void (*token)(void *ctx, engine_job *j, const int32_t *ids, int32_t n);
    /* j ended (out of the engine, its blocks freed): OK with results stored in j->r, or the
     * failure (CANCELLED for engine_cancel). The engine does not touch j afterwards. */
    void (*end)(void *ctx, engine_job *j, glossa_status status);
} engine_events;

typedef struct engine_counters {
    int64_t preemptions;
    int64_t prompt_tokens;    /* encoder tokens processed (recomputations count again) */
    int64_t generated_tokens; /* tokens appended to running sequences (all beams) */
    int64_t iterations;       /* iterations that did any work */
    int32_t decode_steps;
    double encode_ms, decode_ms;
    /* the token budget, in units (engine.units_per_token per token) */
    int64_t last_iter_units, max_iter_units;
    int64_t chunk_parts;      /* chunked encoder parts run */
    int64_t chunked_jobs;     /* jobs whose encoder was split across iterations */
    int64_t admit_iterations; /* iterations that admitted requests */
    int64_t passes_ahead;     /* decode passes queued a step ahead and used (pipelining) */
    int64_t passes_dropped;   /* ... and dropped unused (the next step's jobs differed) */
} engine_counters;

/* What one iteration did (GLOSSA_ENGINE_TRACE writes it, one line per iteration). */
typedef struct engine_iter_stats {
    int32_t waiting, active;   /* at the start of the iteration */
    int32_t admitted;          /* jobs admitted in it */
    int32_t whole_jobs, whole_tokens; /* the packed encoder pass */
    int64_t chunk_units;       /* chunked encoder work */
    int32_t dec_jobs, dec_rows, max_self_len;
    double enc_ms, fwd_ms, sel_ms, post_ms, step_ms;
    double gap_ms;             /* since the previous iteration ended (outside the engine) */
} engine_iter_stats;

/* Step arrays, sized for the largest step so far. */
typedef struct engine_bufs {
    int32_t *ids, *off, *pos, *slots, *lens, *xlens, *tab, *xtab;
    int32_t cap_rows, cap_tab, cap_xtab;
    int32_t *enc_ids, *enc_off, *enc_slots; /* the whole-encoder group */
    int32_t cap_enc_tok, cap_enc_seq;
    engine_job **jobs;                      /* the decode set / the whole group */
    int32_t cap_jobs;
} engine_bufs;

typedef struct engine {
    bart_model *model;
    bart_ws *ws;             /* borrowed */
    threadpool *pool;        /* borrowed: token selection across jobs; NULL: one thread */
    engine_config cfg;
    engine_events ev;
    kv_pool self, cross;     /* self-attention and cross-attention block pools */
    kv_copies cow;
    float *logits;           /* host (rows, vocab) */
    size_t logits_cap;
    bool device_logits;      /* logits stay on the device (not the CPU backend): greedy rows
                                take the device argmax, only rows that need processing move */
    bool ids_only_off;       /* GLOSSA_IDS_ONLY=0: no pass keeps only its argmax */
    bool pipeline_off;       /* no pass queued ahead (engine_config.pipeline, GLOSSA_PIPELINE) */
    engine_job **ahead;      /* (cap_ahead) the pass queued ahead: its jobs by row, NULL for */
    int32_t n_ahead;         /*   those ended since; n_ahead 0: none queued */
    int32_t cap_ahead, live_ahead; /* live_ahead: its rows whose job is still there */
    uint64_t ahead_pass;           /* bart_dec_passes() right after it was queued */
    int32_t *argmax;         /* (cap_argmax) device argmax per row */
    int32_t cap_argmax;
    engine_bufs b;
    engine_job *wait_head, *wait_tail; /* by seq_no */
    engine_job *act_head, *act_tail;   /* encoding and running, by seq_no */
    int32_t n_waiting, n_active;
    int32_t rows_admitted;   /* beams of the active jobs */
    int64_t reserved_self;   /* NO_EVICT reservations */
    uint64_t next_seq;
    int64_t units_per_token; /* 2 * encoder_layers */
    engine_counters c;
    engine_iter_stats it;    /* the last iteration */
    FILE *trace;             /* GLOSSA_ENGINE_TRACE=1 (stderr) or =PATH: one line per iteration */
    double trace_prev_end;
    double last_admit_ms;   /* the last iteration that admitted: its time (admit_due) */
} engine;

double engine_now_ms(void);

/* An engine over m with empty pools (engine_reserve_pools gives them blocks). */
void engine_init(engine *e, bart_model *m, bart_ws *ws, threadpool *pool, const engine_config *cfg,
                 const engine_events *ev);
/* Jobs still inside are dropped without events (end them first: engine_cancel_all). */
void engine_free(engine *e);
/* (Re)size the pools; only while no job is active. */
glossa_status engine_reserve_pools(engine *e, int32_t self_blocks, int32_t cross_blocks);
/* Blocks a job needs at most (self: num_beams x max_length; cross: the input). */
void engine_job_blocks(const engine *e, const gen_request *r, int32_t *self, int32_t *cross);
/* BAD_INPUT when r can never run in this engine (its KV does not fit the pools, or its beams the
 * batch). Reads only the configuration: safe from any thread once the pools are sized. */
glossa_status engine_check(const engine *e, const gen_request *r);

/* Queue j (j->r set, the rest zeroed); clears r's results. */
void engine_submit(engine *e, engine_job *j);
/* End j now with status (its blocks freed, the end event sent). */
void engine_cancel(engine *e, engine_job *j, glossa_status status);
void engine_cancel_all(engine *e, glossa_status status);
/* One iteration. A failing forward pass ends the jobs it carried (end events with the status)
 * and returns the status; the engine stays usable. */
glossa_status engine_step(engine *e);
/* Jobs waiting or active. */
int32_t engine_pending(const engine *e);
int32_t engine_kv_blocks_used(const engine *e);

#endif
