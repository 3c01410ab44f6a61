/* POST /v1/completions, OpenAI-compatible generation with the loaded model (for a translation
 * model: the prompt is the encoder input, in the model's default languages unless the glossa
 * extensions "source_lang" / "target_lang" name them).
 *
 * Supported: "prompt" (a string or a list of strings), "max_tokens" (default and limit: the
 * server's --max-new-tokens, else the model's), "temperature" (0, the default: greedy; > 0:
 * sampling), "top_p", "n" (sampling: n independent samples; temperature 0: the n best beam
 * hypotheses), "stop" (up to 4 strings: the text is cut before the first, finish_reason "stop"),
 * "seed", "stream" (server-sent events, one prompt and n = 1), "model" (echoed). "logprobs",
 * "echo", "best_of" and "suffix" are refused unless neutral; other fields are ignored. */
#include "completions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "languages.h"
#include "metrics.h"
#include "stream_text.h"

const char *cmpl_finish_reason(size_t n, int32_t max_tokens)
{
    /* at the limit: "length" even when the last token is EOS (models with forced_eos_token_id
     * end every sequence cut at max_length with it) */
    return n >= (size_t)max_tokens ? "length" : "stop";
}

json_t *cmpl_envelope(const cmpl_meta *m, json_t *choices)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:o}", "id", m->id, "object", "text_completion",
                     "created", (json_int_t)m->created, "model", m->model, "choices", choices);
}

static bool params(srv_call *c, const rp_completion *req, glossa_decode_params *dp,
                   cmpl_meta *meta, rp_error *err)
{
    srv *s = c->s;
    *dp = s->dp;
    int32_t limit = s->dp.max_new_tokens;
    if (req->max_tokens > limit)
        return rp_fail(err, 400, "invalid_request_error", "invalid_value",
                       "\"max_tokens\" is %d; this server generates at most %d tokens "
                       "(--max-new-tokens)",
                       req->max_tokens, limit);
    meta->max_tokens = req->max_tokens > 0 ? req->max_tokens : limit;
    dp->max_new_tokens = meta->max_tokens;
    dp->num_beams = 1;
    dp->num_return_sequences = 1;
    dp->do_sample = req->temperature > 0;
    if (dp->do_sample) {
        dp->temperature = (float)req->temperature;
        dp->top_p = (float)req->top_p;
        dp->top_k = 0;
    } else if (req->n > 1) {
        dp->num_beams = req->n;
        dp->num_return_sequences = req->n;
    }
    uint64_t seq = atomic_fetch_add(&s->next_id, 1);
    dp->seed = req->has_seed ? req->seed : (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ seq;
    snprintf(meta->id, sizeof meta->id, "cmpl-%016llx%08llx",
             (unsigned long long)((uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull),
             (unsigned long long)seq);
    meta->created = (long long)time(NULL);
    snprintf(meta->model, sizeof meta->model, "%s", req->model ? req->model : s->model_name);
    if (req->source_lang[0] && !langs_check(s, req->source_lang, "source_lang", err)) return false;
    if (req->target_lang[0] && !langs_check(s, req->target_lang, "target_lang", err)) return false;
    return true;
}

/* One choice: text of hypothesis k of job j, cut at a stop string. */
static json_t *choice(const srv *s, const rp_completion *req, srv_job *j, size_t k, size_t index,
                      int32_t max_tokens, int64_t *completion_tokens)
{
    glossa_request *r = job_request(j);
    const int32_t *ids = NULL;
    size_t n = 0;
    glossa_text t = {0};
    if (glossa_request_result(r, k, &ids, &n, NULL) != GLOSSA_STATUS_OK ||
        glossa_request_result_text(r, k, &t) != GLOSSA_STATUS_OK) {
        glossa_text_free(&t);
        return NULL;
    }
    *completion_tokens += (int64_t)n;
    const char *reason = cmpl_finish_reason(n, max_tokens);
    size_t len = t.len, pos;
    if (stream_find_stop(t.data, 0, t.len, req->stop, req->stop_len, req->n_stop, &pos)) {
        len = pos;
        reason = "stop";
    }
    json_t *text = srv_json_text(t.data, len);
    glossa_text_free(&t);
    if (!text) return NULL;
    return json_pack("{s:o, s:I, s:n, s:s}", "text", text, "index", (json_int_t)index, "logprobs",
                     "finish_reason", reason);
}

static json_t *reply_body(const srv *s, const rp_completion *req, srv_job **jobs,
                          const cmpl_meta *meta)
{
    json_t *choices = json_array();
    int64_t prompt_tokens = 0, completion_tokens = 0;
    size_t per = req->temperature > 0 ? (size_t)req->n : 1; /* jobs per prompt */
    for (size_t p = 0; choices && p < req->prompts.n; p++) {
        prompt_tokens += job_prompt_tokens(jobs[p * per]);
        for (size_t k = 0; k < (size_t)req->n; k++) {
            srv_job *j = per > 1 ? jobs[p * per + k] : jobs[p];
            json_t *ch = choice(s, req, j, per > 1 ? 0 : k, p * (size_t)req->n + k,
                                meta->max_tokens, &completion_tokens);
            if (!ch) {
                json_decref(choices);
                return NULL;
            }
            json_array_append_new(choices, ch);
        }
    }
    json_t *out = choices ? cmpl_envelope(meta, choices) : NULL;
    json_t *usage = json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)prompt_tokens,
                              "completion_tokens", (json_int_t)completion_tokens, "total_tokens",
                              (json_int_t)(prompt_tokens + completion_tokens));
    if (out && usage) json_object_set_new(out, "usage", usage);
    else json_decref(usage);
    return out;
}

static bool make_jobs(srv_call *c, const rp_completion *req, const glossa_decode_params *dp,
                      srv_job **jobs, size_t per, rp_error *err)
{
    const char *src = req->source_lang[0] ? req->source_lang : NULL;
    const char *tgt = req->target_lang[0] ? req->target_lang : NULL;
    for (size_t p = 0; p < req->prompts.n; p++) {
        for (size_t k = 0; k < per; k++) {
            glossa_decode_params d = *dp;
            d.seed = dp->seed + k;
            if (!submit_make_job(c->s, req->prompts.v[p], req->prompts.len[p], src, tgt, &d,
                                 "prompt", req->prompts.is_list ? p : SIZE_MAX,
                                 &jobs[p * per + k], err))
                return false;
        }
    }
    return true;
}

void completions_handle(srv_call *c)
{
    rp_completion req;
    rp_error err;
    if (!rp_parse_completion(c->body, c->body_len, &c->s->cfg.limits, &req, &err)) {
        call_reply_error(c, &err);
        return;
    }
    glossa_decode_params dp;
    cmpl_meta meta;
    size_t per = req.temperature > 0 ? (size_t)req.n : 1;
    size_t n = req.prompts.n * per;
    srv_job **jobs = calloc(n, sizeof *jobs);
    bool gone = false, ok = jobs != NULL;
    if (!ok) rp_fail(&err, 503, "server_error", "out_of_memory", "out of memory");
    ok = ok && params(c, &req, &dp, &meta, &err);
    ok = ok && make_jobs(c, &req, &dp, jobs, per, &err);
    if (ok && req.stream) job_want_tokens(jobs[0]);
    ok = ok && submit_all(jobs, n, &err);
    if (ok && req.stream) {
        cmpl_stream_start(c, jobs[0], &req, &meta); /* takes the job and req over */
        free(jobs);
        return;
    }
    ok = ok && submit_wait_all(c, jobs, n, &gone, &err);
    ok = ok && submit_check_status(jobs, n, &err);
    if (ok) {
        json_t *body = reply_body(c->s, &req, jobs, &meta);
        if (body) call_reply_json(c, 200, body);
        else rp_fail(&err, 503, "server_error", "out_of_memory", "out of memory");
        ok = body != NULL;
    }
    if (!ok && !gone) call_reply_error(c, &err);
    submit_release_all(jobs, n);
    free(jobs);
    rp_completion_free(&req);
}
