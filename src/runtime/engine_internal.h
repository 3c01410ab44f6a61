/* Shared by the engine's files (engine.c: lifecycle, admission and policies, the iteration;
 * engine_encode.c: whole and chunked encoder work; engine_decode.c: the decode step). */
#ifndef GLOSSA_RUNTIME_ENGINE_INTERNAL_H
#define GLOSSA_RUNTIME_ENGINE_INTERNAL_H

#include "runtime/engine.h"

static inline bart_kv engine_kv(const engine *e)
{
    bart_kv kv = {e->self.k, e->self.v, e->cross.k, e->cross.v, ENGINE_BLOCK_SIZE,
                  kv_pool_epochs(&e->self, &e->cross)};
    return kv;
}

/* engine_decode.c */
/* The decoding state of an admitted job (sequences, beam search, RNG). */
glossa_status engine_job_state_init(engine *e, engine_job *j);
/* Release every block of j and free its decoding and encoder state (j stays linked). */
void engine_job_state_free(engine *e, engine_job *j);
/* Self blocks j's next decode step allocates (new blocks and copy-on-write copies). */
int32_t engine_job_step_blocks(const engine *e, const engine_job *j);
/* One decode step over the jobs (all RUNNING): forward, selection, commit, TOKEN events,
 * finishing (end events). On a failed forward every job of the step ends with the status. */
glossa_status engine_decode_step(engine *e, engine_job **jobs, int32_t n);

/* The pass description of a step over the jobs' rows (in job order) in e->b, each row's K/V slot
 * taken. ahead: the pass of the step after this one, queued before this step's tokens are known
 * (engine_pipeline.c): positions one further, input ids fed from this pass's argmax, no
 * copy-on-write; on failure its slots are given back. */
glossa_status engine_step_batch(engine *e, engine_job **jobs, int32_t n, bool ahead,
                                bart_dec_batch *out, int32_t *rows_out);

/* engine_pipeline.c: a greedy step's next pass queued before its ids are read */
/* Whether this step's pass (rows rows, jobs in row order) lets the next be queued now. */
bool engine_ahead_eligible(const engine *e, engine_job *const *jobs, int32_t n, int32_t rows);
/* Queue the next step's pass over the jobs (their next slots taken); nothing queued when the pool
 * is full. */
glossa_status engine_ahead_launch(engine *e, engine_job **jobs, int32_t n);
/* Whether the queued pass serves this step: every job in it, in its row order. */
bool engine_ahead_matches(const engine *e, engine_job *const *jobs, int32_t n);
/* Make the queued pass this step's (sets row0; its other jobs give their slot back); its rows. */
int32_t engine_ahead_take(engine *e, engine_job **jobs, int32_t n);
/* Drop the queued pass unused (its jobs give their slots back). */
void engine_ahead_drop(engine *e);
/* j's state is going away: out of the queued pass. */
void engine_ahead_forget(engine *e, engine_job *j);

/* engine_encode.c */
/* Encode whole jobs (cross blocks allocated, xslots filled) in one packed pass; RUNNING after. */
glossa_status engine_encode_whole(engine *e, engine_job **jobs, int32_t n);
/* Advance j's chunked encoder by at most *units (reduced by what was used); RUNNING when its
 * encoder is complete. */
glossa_status engine_encode_chunk(engine *e, engine_job *j, int64_t *units);

/* engine.c */
/* Unlink j, free its state, count it, and send the end event. */
void engine_job_end(engine *e, engine_job *j, glossa_status status);

#endif
