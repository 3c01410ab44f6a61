/* POST /translate, LibreTranslate-compatible:
 *   {"q": "text" | ["t1", ...], "source": "en" | "auto", "target": "de", "format": "text",
 *    "alternatives": N, "api_key": "..."}
 *   -> {"translatedText": "..." | [...], "detectedLanguage": {"language", "confidence"} (auto;
 *       a list for a list), "alternatives": [...] (N > 0; a list of lists for a list)}
 * and the shape {"text", "source_lang", "target_lang"} -> {"result": "..." | [...]}.
 * Codes: short ISO codes (de) or the model's own (de_DE, deu_Latn), any case, '-' or '_'.
 * detectedLanguage.confidence is in percent (0-100) as LibreTranslate has it; "und" with 0 when
 * the text has nothing to detect (the model's default source language is used then).
 * alternatives: up to N other beam hypotheses, distinct from the translation and each other. */
#include <stdlib.h>
#include <string.h>

#include "languages.h"
#include "submit.h"

typedef struct tr_item {
    srv_job *job;
    char src[RP_LANG_MAX]; /* the source code used ("" : the model's default) */
    const char *detected;  /* "auto": the identifier's answer ("und" when nothing to detect) */
    float confidence;
} tr_item;

static bool detect(const srv *s, const char *text, size_t len, size_t index, tr_item *it,
                   rp_error *err)
{
    if (!s->langid)
        return rp_fail(err, 400, "invalid_request_error", "detection_unavailable",
                       "language detection is not available; pass \"source\"");
    const char *lang = NULL;
    float conf = 0;
    if (glossa_langid_detect(s->langid, text, len, &lang, &conf) != GLOSSA_STATUS_OK || !lang) {
        it->detected = "und"; /* no letters: the model's default source language */
        it->confidence = 0;
        return true;
    }
    it->detected = lang;
    it->confidence = conf;
    if (!langs_check(s, lang, "source", err))
        return rp_fail(err, 400, "invalid_request_error", "unknown_language",
                       "text %zu: the detected language '%s' is not supported by this model; pass "
                       "\"source\" (GET /languages lists the supported codes)",
                       index, lang);
    if (s->n_langs) snprintf(it->src, sizeof it->src, "%s", lang);
    return true;
}

static glossa_decode_params decode_params(const srv *s, const rp_translate *t)
{
    glossa_decode_params dp = s->dp;
    dp.num_return_sequences = 1;
    if (t->alternatives > 0) {
        if (dp.num_beams < t->alternatives + 1) dp.num_beams = t->alternatives + 1;
        dp.num_return_sequences = t->alternatives + 1;
    }
    return dp;
}

/* Languages, tokenization and requests for every text. */
static bool prepare(srv_call *c, const rp_translate *t, tr_item *items, srv_job **jobs,
                    rp_error *err)
{
    srv *s = c->s;
    bool libre = t->shape == RP_SHAPE_LIBRETRANSLATE;
    const char *f_text = libre ? "q" : "text";
    if (!langs_check(s, t->target, libre ? "target" : "target_lang", err)) return false;
    if (!t->auto_source && !langs_check(s, t->source, libre ? "source" : "source_lang", err))
        return false;
    glossa_decode_params dp = decode_params(s, t);
    const char *tgt = s->n_langs ? t->target : NULL;
    for (size_t i = 0; i < t->texts.n; i++) {
        tr_item *it = &items[i];
        if (t->auto_source) {
            if (!detect(s, t->texts.v[i], t->texts.len[i], i, it, err)) return false;
        } else if (s->n_langs) {
            snprintf(it->src, sizeof it->src, "%s", t->source);
        }
        if (!submit_make_job(s, t->texts.v[i], t->texts.len[i], it->src[0] ? it->src : NULL, tgt,
                             &dp, f_text, t->texts.is_list ? i : SIZE_MAX, &jobs[i], err))
            return false;
        it->job = jobs[i];
    }
    return true;
}

/* The translation and up to n_alt distinct alternatives of one finished request. */
static bool texts_of(const srv *s, srv_job *j, int32_t n_alt, json_t **text, json_t **alts)
{
    glossa_request *r = job_request(j);
    size_t n = glossa_request_result_count(r);
    glossa_text t = {0};
    *text = NULL;
    *alts = json_array();
    for (size_t k = 0; k < n && *alts; k++) {
        if (glossa_request_result_text(r, k, &t) != GLOSSA_STATUS_OK) break;
        json_t *str = json_stringn(t.data, t.len);
        if (!str) str = json_string(""); /* not UTF-8 (never for a valid model): empty */
        if (k == 0) {
            *text = str;
            continue;
        }
        bool dup = json_equal(str, *text);
        for (size_t q = 0; !dup && q < json_array_size(*alts); q++)
            dup = json_equal(str, json_array_get(*alts, q));
        if (dup || json_array_size(*alts) >= (size_t)n_alt) json_decref(str);
        else json_array_append_new(*alts, str);
    }
    glossa_text_free(&t);
    if (!*text) *text = json_string("");
    return *text && *alts;
}

static json_t *reply_body(const srv *s, const rp_translate *t, tr_item *items)
{
    bool list = t->texts.is_list;
    json_t *texts = json_array(), *alts = json_array(), *det = json_array();
    for (size_t i = 0; texts && alts && det && i < t->texts.n; i++) {
        json_t *tx = NULL, *al = NULL;
        texts_of(s, items[i].job, t->alternatives, &tx, &al);
        json_array_append_new(texts, tx ? tx : json_string(""));
        json_array_append_new(alts, al ? al : json_array());
        json_array_append_new(det, json_pack("{s:s, s:f}", "language",
                                             items[i].detected ? items[i].detected : "und",
                                             "confidence",
                                             (double)(int)(items[i].confidence * 1000 + 0.5) / 10));
    }
    json_t *out = json_object();
    if (!out || !texts || !alts || !det) {
        json_decref(texts), json_decref(alts), json_decref(det), json_decref(out);
        return NULL;
    }
    const char *key = t->shape == RP_SHAPE_LIBRETRANSLATE ? "translatedText" : "result";
    json_object_set(out, key, list ? texts : json_array_get(texts, 0));
    if (t->auto_source) json_object_set(out, "detectedLanguage", list ? det : json_array_get(det, 0));
    if (t->alternatives > 0) json_object_set(out, "alternatives", list ? alts : json_array_get(alts, 0));
    json_decref(texts), json_decref(alts), json_decref(det);
    return out;
}

void translate_handle(srv_call *c)
{
    rp_translate t;
    rp_error err;
    if (!rp_parse_translate(c->body, c->body_len, &c->s->cfg.limits, &t, &err)) {
        call_reply_error(c, &err);
        return;
    }
    size_t n = t.texts.n;
    tr_item *items = calloc(n, sizeof *items);
    srv_job **jobs = calloc(n, sizeof *jobs);
    bool gone = false, ok = items && jobs;
    if (!ok) rp_fail(&err, 503, "server_error", "out_of_memory", "out of memory");
    ok = ok && prepare(c, &t, items, jobs, &err);
    ok = ok && submit_all(jobs, n, &err);
    ok = ok && submit_wait_all(c, jobs, n, &gone, &err);
    ok = ok && submit_check_status(jobs, n, &err);
    if (ok) {
        json_t *body = reply_body(c->s, &t, items);
        if (body) call_reply_json(c, 200, body);
        else rp_fail(&err, 503, "server_error", "out_of_memory", "out of memory");
        ok = body != NULL;
    }
    if (!ok && !gone) call_reply_error(c, &err);
    submit_release_all(jobs, n);
    free(jobs);
    free(items);
    rp_translate_free(&t);
}
