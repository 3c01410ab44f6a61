/* Pipelined greedy decoding (engine_internal.h): the device runs decode pass after decode pass
 * while the host reads each pass's tokens, as TensorRT-LLM's overlap scheduler and vLLM's async
 * scheduling do.
 *
 * Without it a step is: queue the pass, wait for its argmax ids, select, stream, finish, build
 * the next pass; the device idles from the end of one pass to the start of the next (the ids'
 * copy, the host's turn, the upload, the graph launch: 15-60 us a step on an H100). Here, when
 * every job of the step is greedy and its token is the raw device argmax (no processor can move
 * it, nothing forced at this length: decode_greedy_rowless) and none ends for sure on this token
 * (max_length), the step queues the copy of its ids, then the NEXT step's pass, which takes its
 * input ids straight from this pass's argmax on the device (bart_dec_batch.ids_feed; its K/V
 * slots are taken now, its positions one further), and only then waits for the ids. The next
 * step finds its pass already queued (engine_ahead_matches) and does the same again.
 *
 * A job that ends on this step's token (EOS) or is cancelled or preempted before the next step
 * leaves its row of the queued pass unused (its slot went with its blocks); the others use it.
 * The queued pass is dropped (slots given back, the device's work wasted) only when the next
 * step's jobs are not all in it in its row order; the engine admits no job while a pass is
 * queued and queues none while jobs wait, so that happens only on outside cancellations, or
 * when another decoder pass ran on the workspace in between.
 * On for batch runs (glossa_model_run), off by default in the in-flight engine (engine_config.
 * pipeline: with arrivals all the time a queued pass delays admissions a step, and an H100 server
 * sweep measured p50 44 vs 42 ms at 512 req/s); GLOSSA_PIPELINE=0 / 1 overrides either. */
#include <stdlib.h>

#include "core/status.h"
#include "runtime/decode.h"
#include "runtime/engine_internal.h"

bool engine_ahead_eligible(const engine *e, engine_job *const *jobs, int32_t n, int32_t rows)
{
    if (e->pipeline_off || !e->device_logits || e->n_waiting > 0 || rows != n || n <= 0)
        return false;
    for (const engine_job *j = e->act_head; j; j = j->next)
        if (j->phase != ENGINE_JOB_RUNNING) return false; /* an encoder would join the next step */
    int32_t vocab = bart_decoder_vocab(e->model);
    for (int32_t i = 0; i < n; i++) {
        const engine_job *j = jobs[i];
        const decode_params *p = &j->r->p;
        /* this step's token must be the raw argmax (it feeds the next pass): not forced now */
        if (j->bs || j->n_beams != 1 || j->row0 != i || j->r->output_scores ||
            j->len + 1 >= p->max_length || decode_forced_token(p, vocab, j->len) >= 0 ||
            !decode_greedy_rowless(p, vocab, j->len) ||
            !decode_greedy_rowless(p, vocab, j->len + 1))
            return false;
    }
    return bart_ids_async(e->model, e->ws, rows);
}

glossa_status engine_ahead_launch(engine *e, engine_job **jobs, int32_t n)
{
    if (n > e->cap_ahead) {
        engine_job **a = realloc(e->ahead, (size_t)n * sizeof *a);
        if (!a) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "queued pass");
        e->ahead = a;
        e->cap_ahead = n;
    }
    bart_dec_batch b;
    int32_t rows;
    /* a full pool (or no room for the step's arrays): no pass ahead, the next step runs as usual */
    if (engine_step_batch(e, jobs, n, true, &b, &rows) != GLOSSA_STATUS_OK) return GLOSSA_STATUS_OK;
    b.want_ids = b.ids_only = true;
    for (int32_t i = 0; i < n; i++) {
        e->ahead[i] = jobs[i];
        jobs[i]->ahead = true;
        jobs[i]->ahead_row = i;
    }
    e->n_ahead = e->live_ahead = n;
    bart_kv kv = engine_kv(e);
    glossa_status st = bart_decode(e->model, e->ws, &kv, &b, NULL);
    if (st != GLOSSA_STATUS_OK) engine_ahead_drop(e);
    e->ahead_pass = bart_dec_passes(e->ws);
    return st;
}

bool engine_ahead_matches(const engine *e, engine_job *const *jobs, int32_t n)
{
    /* (another decoder pass on the workspace since, e.g. glossa_model_run between the engine's
     * steps, replaced its ids: then it is dropped and the step runs its own) */
    if (e->n_ahead == 0 || n <= 0 || bart_dec_passes(e->ws) != e->ahead_pass) return false;
    int32_t last = -1;
    for (int32_t i = 0; i < n; i++) {
        if (!jobs[i]->ahead || jobs[i]->ahead_row <= last) return false;
        last = jobs[i]->ahead_row;
    }
    return true;
}

/* Give back the slots of the queued pass's remaining jobs. */
static void release_ahead(engine *e)
{
    for (int32_t r = 0; r < e->n_ahead; r++) {
        engine_job *j = e->ahead[r];
        if (!j) continue;
        kv_seq_pop(&e->self, &j->seqs[0]);
        j->ahead = false;
    }
    e->n_ahead = e->live_ahead = 0;
}

int32_t engine_ahead_take(engine *e, engine_job **jobs, int32_t n)
{
    int32_t rows = e->n_ahead;
    for (int32_t i = 0; i < n; i++) {
        engine_job *j = jobs[i];
        j->row0 = j->ahead_row;
        j->ahead = false;
        e->ahead[j->ahead_row] = NULL;
    }
    release_ahead(e); /* jobs of the pass not in this step (none, as the engine runs) */
    e->c.passes_ahead++;
    return rows;
}

void engine_ahead_drop(engine *e)
{
    if (e->n_ahead == 0) return;
    if (e->live_ahead > 0) e->c.passes_dropped++;
    release_ahead(e);
}

void engine_ahead_forget(engine *e, engine_job *j)
{
    if (!j->ahead) return;
    e->ahead[j->ahead_row] = NULL;
    j->ahead = false;
    if (--e->live_ahead == 0) e->n_ahead = 0; /* nothing of it will be used */
}
