/* The engine's encoder work (see engine.h): jobs whose input fits the iteration's budget are
 * encoded whole, packed into one encoder pass; a longer input runs chunked (model/bart.h,
 * bart_encode_part) over as many iterations as the budget needs. Either way the job's cross
 * blocks were allocated at admission (j->cross, slots in j->xslots). */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "runtime/engine_internal.h"

static glossa_status grow(int32_t **a, int32_t *cap, int64_t n)
{
    if (n <= *cap) return GLOSSA_STATUS_OK;
    if (n > INT32_MAX / 2) return glossa_error(GLOSSA_STATUS_BAD_INPUT, "encoder batch too large");
    int32_t c = *cap ? *cap : 64;
    while (c < n) c *= 2;
    int32_t *p = realloc(*a, (size_t)c * sizeof *p);
    if (!p) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "encoder batch (%d tokens)", c);
    *a = p;
    *cap = c;
    return GLOSSA_STATUS_OK;
}

glossa_status engine_encode_whole(engine *e, engine_job **jobs, int32_t n)
{
    if (n <= 0) return GLOSSA_STATUS_OK;
    engine_bufs *b = &e->b;
    int64_t total = 0;
    for (int32_t i = 0; i < n; i++) total += jobs[i]->r->n_src;
    int32_t cap_ids = b->cap_enc_tok, cap_off = b->cap_enc_seq;
    GLOSSA_TRY(grow(&b->enc_ids, &cap_ids, total));
    int32_t cap_slots = b->cap_enc_tok;
    GLOSSA_TRY(grow(&b->enc_slots, &cap_slots, total));
    b->cap_enc_tok = cap_ids < cap_slots ? cap_ids : cap_slots;
    GLOSSA_TRY(grow(&b->enc_off, &cap_off, (int64_t)n + 1));
    b->cap_enc_seq = cap_off;
    int32_t at = 0;
    for (int32_t i = 0; i < n; i++) {
        const engine_job *j = jobs[i];
        b->enc_off[i] = at;
        memcpy(b->enc_ids + at, j->r->src, (size_t)j->r->n_src * sizeof *b->enc_ids);
        memcpy(b->enc_slots + at, j->xslots, (size_t)j->r->n_src * sizeof *b->enc_slots);
        at += j->r->n_src;
    }
    b->enc_off[n] = at;
    double t0 = engine_now_ms();
    bart_kv kv = engine_kv(e);
    bart_enc_batch eb = {n, b->enc_ids, b->enc_off, b->enc_slots};
    glossa_status s = bart_encode(e->model, e->ws, &kv, &eb);
    double ms = engine_now_ms() - t0;
    e->c.encode_ms += ms;
    e->it.enc_ms += ms;
    e->it.whole_jobs += n;
    e->it.whole_tokens += (int32_t)total;
    if (s != GLOSSA_STATUS_OK) return s;
    for (int32_t i = 0; i < n; i++) {
        jobs[i]->phase = ENGINE_JOB_RUNNING;
        jobs[i]->enc_done = (int64_t)jobs[i]->r->n_src * e->units_per_token;
    }
    e->c.prompt_tokens += total;
    return GLOSSA_STATUS_OK;
}

/* Parts in order: layer by layer, the QKV phase over all rows then the OUT phase over all rows;
 * a part is as many rows as the units left allow. */
glossa_status engine_encode_chunk(engine *e, engine_job *j, int64_t *units)
{
    bart_model *m = e->model;
    int64_t n = j->r->n_src, per_layer = 2 * n, total = n * e->units_per_token;
    if (!j->enc) GLOSSA_TRY(bart_enc_state_new(m, j->r->src, j->r->n_src, &j->enc));
    bool first = j->enc_done == 0;
    double t0 = engine_now_ms();
    bart_kv kv = engine_kv(e);
    while (*units > 0 && j->enc_done < total) {
        int64_t done = j->enc_done;
        int32_t layer = (int32_t)(done / per_layer);
        bart_enc_phase phase = (done % per_layer) < n ? BART_ENC_QKV : BART_ENC_OUT;
        int64_t row = done % n, rows = n - row < *units ? n - row : *units;
        glossa_status s = bart_encode_part(m, e->ws, &kv, j->enc, layer, phase, (int32_t)row,
                                           (int32_t)rows, j->xslots);
        if (s != GLOSSA_STATUS_OK) {
            e->c.encode_ms += engine_now_ms() - t0;
            return s;
        }
        j->enc_done += rows;
        *units -= rows;
        e->c.chunk_parts++;
        e->it.chunk_units += rows;
    }
    e->c.encode_ms += engine_now_ms() - t0;
    e->it.enc_ms += engine_now_ms() - t0;
    if (j->enc_done < total) {
        if (first) e->c.chunked_jobs++;
        return GLOSSA_STATUS_OK;
    }
    bart_enc_state_free(j->enc);
    j->enc = NULL;
    j->phase = ENGINE_JOB_RUNNING;
    e->c.prompt_tokens += n;
    return GLOSSA_STATUS_OK;
}
