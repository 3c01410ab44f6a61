/* Public model and request API (include/glossa.h) over io/, model/ and runtime/. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/model_internal.h"
#include "core/log.h"
#include "core/status.h"
#include "glossa.h"
#include "io/hf_config.h"
#include "io/safetensors.h"
#include "model/bart.h"
#include "runtime/generate.h"

glossa_model_params glossa_model_default_params(void)
{
    glossa_model_params p;
    memset(&p, 0, sizeof p);
    p.device = GLOSSA_DEVICE_CPU;
    return p;
}

typedef struct progress_ctx {
    const glossa_model_params *p;
} progress_ctx;

static void on_progress(float f, void *user)
{
    const progress_ctx *c = user;
    if (c->p->progress) c->p->progress(f, c->p->progress_user_data);
}

static glossa_status create_backend(const glossa_model_params *p, backend **be)
{
    if (p->device == GLOSSA_DEVICE_CUDA)
        return backend_cuda_create(p->gpu, p->bf16 ? GL_DTYPE_BF16 : GL_DTYPE_F16, be);
    if (p->device != GLOSSA_DEVICE_CPU)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "unknown device %d", (int)p->device);
    return backend_cpu_create(p->n_threads, be);
}

/* Device memory in use now (bytes), or false where the backend cannot tell (CPU). */
static bool device_used(backend *be, int64_t *out)
{
    size_t free_b = 0, total_b = 0;
    if (!be->ops->mem_info || be->ops->mem_info(be, &free_b, &total_b) != GLOSSA_STATUS_OK)
        return false;
    *out = (int64_t)(total_b - free_b);
    return true;
}

static glossa_status load_tokenizer(glossa_model *m, const char *dir)
{
    glossa_status st = glossa_tokenizer_load_dir(dir, &m->tok);
    if (st == GLOSSA_STATUS_NOT_FOUND) {
        GLOSSA_LOG_WARN("%s; the model takes token ids only", glossa_last_error());
        m->tok = NULL;
        return GLOSSA_STATUS_OK;
    }
    if (st != GLOSSA_STATUS_OK) return st;
    int32_t tv = glossa_tokenizer_vocab_size(m->tok);
    if (tv > m->cfg.vocab_size)
        GLOSSA_LOG_WARN("%s: the tokenizer has %d ids, the model's vocab_size is %d", dir, tv,
                        m->cfg.vocab_size);
    return GLOSSA_STATUS_OK;
}

glossa_status glossa_model_load(const char *dir, const glossa_model_params *params,
                                glossa_model **out)
{
    if (!dir || !out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    *out = NULL;
    glossa_model_params defaults = glossa_model_default_params();
    if (!params) params = &defaults;
    glossa_model *m = calloc(1, sizeof *m);
    if (!m) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "model");
    st_set *st = NULL;
    glossa_status s = hf_config_load_dir(dir, &m->cfg, &m->gen);
    if (s == GLOSSA_STATUS_OK) s = st_set_open_dir(dir, &st);
    if (s == GLOSSA_STATUS_OK) s = create_backend(params, &m->be);
    if (s == GLOSSA_STATUS_OK && !device_used(m->be, &m->dev_base_used)) m->dev_base_used = 0;
    if (s == GLOSSA_STATUS_OK) {
        progress_ctx pc = {params};
        s = bart_load(m->be, &m->cfg, st, on_progress, &pc, &m->bart);
    }
    st_set_free(st);
    if (s == GLOSSA_STATUS_OK) s = gen_engine_init(&m->eng, m->bart);
    if (s == GLOSSA_STATUS_OK) s = load_tokenizer(m, dir);
    if (s != GLOSSA_STATUS_OK) {
        glossa_error_prefix(s, "%s: ", dir);
        glossa_model_free(m);
        return s;
    }
    *out = m;
    return GLOSSA_STATUS_OK;
}

void glossa_model_free(glossa_model *m)
{
    if (!m) return;
    gen_engine_free(&m->eng);
    bart_free(m->bart);
    backend_destroy(m->be);
    glossa_tokenizer_free(m->tok);
    free(m);
}

const glossa_tokenizer *glossa_model_tokenizer(const glossa_model *m)
{
    return m ? m->tok : NULL;
}

int32_t glossa_model_vocab_size(const glossa_model *m)
{
    return bart_decoder_vocab(m->bart);
}

glossa_decode_params glossa_model_decode_params(const glossa_model *m)
{
    glossa_decode_params p;
    memset(&p, 0, sizeof p);
    const generation_config *g = &m->gen;
    /* transformers' _prepare_generated_length: max_new_tokens wins; a max_length equal to the
     * default 20 means "20 new tokens" (max_length becomes 20 + the start token); any other
     * max_length counts the start token */
    p.max_new_tokens = g->max_new_tokens > 0 ? g->max_new_tokens
                       : g->max_length == 20  ? 20
                                              : g->max_length - 1;
    p.min_length = g->min_length;
    p.num_beams = g->num_beams;
    p.num_return_sequences = g->num_return_sequences;
    p.length_penalty = g->length_penalty;
    p.early_stopping = g->early_stopping;
    p.do_sample = g->do_sample;
    p.temperature = g->temperature;
    p.top_k = g->top_k;
    p.top_p = g->top_p;
    p.seed = 0;
    p.repetition_penalty = g->repetition_penalty;
    p.no_repeat_ngram_size = g->no_repeat_ngram_size;
    p.ignore_eos = false;
    return p;
}

static glossa_status check_params(const glossa_decode_params *p)
{
    if (p->num_beams < 1 || p->num_beams > 128)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "num_beams %d: must be 1..128", p->num_beams);
    if (p->num_return_sequences < 1 || p->num_return_sequences > p->num_beams)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT,
                            "num_return_sequences %d: must be 1..num_beams (%d)",
                            p->num_return_sequences, p->num_beams);
    if (p->do_sample && p->num_beams > 1)
        return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "sampling with num_beams > 1 (beam sampling)");
    if (p->do_sample && !(p->temperature > 0.0f))
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "temperature must be > 0 when sampling");
    if (p->top_k < 0) return glossa_error(GLOSSA_STATUS_BAD_INPUT, "top_k %d < 0", p->top_k);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "top_p must be in (0, 1]");
    if (!(p->repetition_penalty > 0.0f))
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "repetition_penalty must be > 0");
    if (!isfinite(p->length_penalty))
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "length_penalty must be finite");
    if (p->no_repeat_ngram_size < 0 || p->min_length < 0)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "negative no_repeat_ngram_size or min_length");
    if (p->early_stopping < 0 || p->early_stopping > 2)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "early_stopping %d: 0, 1 or 2", p->early_stopping);
    return GLOSSA_STATUS_OK;
}

/* The request's decode_params: the public params over the model's generation_config. */
static glossa_status resolve(const glossa_model *m, const glossa_decode_params *pp,
                             int32_t forced_bos, gen_request *g)
{
    glossa_decode_params dflt = glossa_model_decode_params(m);
    if (!pp) pp = &dflt;
    GLOSSA_TRY(check_params(pp));
    const generation_config *gc = &m->gen;
    const model_config *c = &m->cfg;
    decode_params *p = &g->p;
    memset(p, 0, sizeof *p);
    int32_t max_new = pp->max_new_tokens > 0 ? pp->max_new_tokens : dflt.max_new_tokens;
    if (max_new < 1) max_new = 1;
    int64_t max_len = (int64_t)max_new + 1;
    if (max_len > c->max_position_embeddings) {
        GLOSSA_LOG_DEBUG("max length %lld capped at max_position_embeddings %d", (long long)max_len,
                         c->max_position_embeddings);
        max_len = c->max_position_embeddings;
    }
    p->max_length = (int32_t)max_len;
    p->min_length = pp->min_length;
    p->min_new_tokens = gc->min_new_tokens > 0 ? gc->min_new_tokens : 0;
    p->num_beams = pp->num_beams;
    p->num_return_sequences = pp->num_return_sequences;
    p->length_penalty = pp->length_penalty;
    p->early_stopping = pp->early_stopping;
    p->do_sample = pp->do_sample;
    p->temperature = pp->temperature;
    p->top_k = pp->top_k;
    p->top_p = pp->top_p;
    p->seed = pp->seed;
    p->repetition_penalty = pp->repetition_penalty;
    p->no_repeat_ngram_size = pp->no_repeat_ngram_size;
    p->forced_bos_token_id = forced_bos >= 0 ? forced_bos : gc->forced_bos_token_id;
    p->forced_eos_token_id = gc->forced_eos_token_id;
    if (gc->n_eos > 0) {
        p->n_eos = gc->n_eos < DECODE_MAX_EOS ? gc->n_eos : DECODE_MAX_EOS;
        memcpy(p->eos_ids, gc->eos_token_ids, (size_t)p->n_eos * sizeof *p->eos_ids);
    } else if (c->eos_token_id >= 0) {
        p->n_eos = 1;
        p->eos_ids[0] = c->eos_token_id;
    }
    p->n_bad_words = gc->n_bad_words < DECODE_MAX_BAD_WORDS ? gc->n_bad_words : DECODE_MAX_BAD_WORDS;
    memcpy(p->bad_words, gc->bad_words_ids, (size_t)p->n_bad_words * sizeof *p->bad_words);
    p->pad_token_id = gc->pad_token_id >= 0 ? gc->pad_token_id : c->pad_token_id;
    p->ignore_eos = pp->ignore_eos;
    int32_t start = gc->decoder_start_token_id >= 0 ? gc->decoder_start_token_id
                    : c->decoder_start_token_id >= 0 ? c->decoder_start_token_id
                                                      : c->bos_token_id;
    if (start < 0 || start >= bart_decoder_vocab(m->bart))
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "no valid decoder_start_token_id (%d)", start);
    g->decoder_start = start;
    g->output_scores = pp->output_scores;
    int32_t vocab = bart_decoder_vocab(m->bart);
    if (p->forced_bos_token_id >= vocab)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "forced BOS id %d beyond the vocabulary (%d)",
                            p->forced_bos_token_id, vocab);
    return GLOSSA_STATUS_OK;
}

glossa_status glossa_request_create_ids(const glossa_model *m, const int32_t *ids, size_t n,
                                        int32_t forced_bos_id, const glossa_decode_params *params,
                                        glossa_request **out)
{
    if (!m || !out || (!ids && n)) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    *out = NULL;
    if (n == 0) return glossa_error(GLOSSA_STATUS_BAD_INPUT, "empty input");
    if (n > (size_t)m->cfg.max_position_embeddings)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT,
                            "input of %zu tokens is longer than the model's %d positions", n,
                            m->cfg.max_position_embeddings);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size)
            return glossa_error(GLOSSA_STATUS_BAD_INPUT, "input id %d out of range [0, %d)", ids[i],
                                m->cfg.vocab_size);
    glossa_request *r = calloc(1, sizeof *r);
    if (!r) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "request");
    r->src = malloc(n * sizeof *r->src);
    glossa_status s = r->src ? resolve(m, params, forced_bos_id, &r->g)
                             : glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "request");
    if (s != GLOSSA_STATUS_OK) {
        glossa_request_free(r);
        return s;
    }
    memcpy(r->src, ids, n * sizeof *ids);
    r->tok = m->tok;
    r->model = m;
    r->g.src = r->src;
    r->g.n_src = (int32_t)n;
    *out = r;
    return GLOSSA_STATUS_OK;
}

glossa_status glossa_request_create(const glossa_model *m, const char *text, size_t len,
                                    const char *src_lang, const char *tgt_lang,
                                    const glossa_decode_params *params, glossa_request **out)
{
    if (!m || !out || (!text && len)) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    *out = NULL;
    if (!m->tok)
        return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "the model directory has no tokenizer: "
                                                       "create requests from token ids");
    glossa_encode_params ep = glossa_encode_default_params();
    ep.src_lang = src_lang;
    ep.tgt_lang = tgt_lang;
    glossa_tokens toks = {0};
    int32_t bos = -1;
    glossa_status s = glossa_tokenizer_encode(m->tok, text ? text : "", len, &ep, &toks);
    if (s == GLOSSA_STATUS_OK) s = glossa_tokenizer_forced_bos_id(m->tok, tgt_lang, &bos);
    if (s == GLOSSA_STATUS_OK) s = glossa_request_create_ids(m, toks.ids, toks.n, bos, params, out);
    glossa_tokens_free(&toks);
    return s;
}

void glossa_request_free(glossa_request *r)
{
    if (!r) return;
    gen_request_clear_results(&r->g);
    free(r->src);
    free(r);
}

glossa_status glossa_model_run(glossa_model *m, glossa_request *const *reqs, size_t n)
{
    if (!m || (!reqs && n)) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    if (n == 0) return GLOSSA_STATUS_OK;
    if (n > INT32_MAX) return glossa_error(GLOSSA_STATUS_BAD_INPUT, "too many requests");
    gen_request **g = malloc(n * sizeof *g);
    if (!g) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "batch");
    glossa_status s = GLOSSA_STATUS_OK;
    for (size_t i = 0; i < n; i++) {
        if (!reqs[i]) s = glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "request %zu is NULL", i);
        else g[i] = &reqs[i]->g;
    }
    if (s == GLOSSA_STATUS_OK) s = gen_run(&m->eng, g, (int32_t)n);
    free(g);
    return s;
}

size_t glossa_request_result_count(const glossa_request *r)
{
    return r ? (size_t)r->g.n_results : 0;
}

glossa_status glossa_request_result(const glossa_request *r, size_t i, const int32_t **ids,
                                    size_t *n, float *score)
{
    if (!r) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL request");
    if (i >= (size_t)r->g.n_results)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "result %zu of %d", i, r->g.n_results);
    const gen_result *res = &r->g.results[i];
    if (ids) *ids = res->ids;
    if (n) *n = (size_t)res->n;
    if (score) *score = res->score;
    return GLOSSA_STATUS_OK;
}

glossa_status glossa_request_result_text(const glossa_request *r, size_t i, glossa_text *out)
{
    const int32_t *ids = NULL;
    size_t n = 0;
    GLOSSA_TRY(glossa_request_result(r, i, &ids, &n, NULL));
    if (!out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    if (!r->tok)
        return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "the model directory has no tokenizer");
    return glossa_tokenizer_decode(r->tok, ids, n, true, out);
}

glossa_status glossa_model_last_run_stats(const glossa_model *m, glossa_run_stats *out)
{
    if (!m || !out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    const gen_stats *g = &m->eng.stats;
    out->total_ms = g->total_ms;
    out->encode_ms = g->encode_ms;
    out->first_token_ms = g->first_token_ms;
    out->decode_ms = g->decode_ms;
    out->decode_steps = g->decode_steps;
    out->generated_tokens = g->generated_tokens;
    out->kv_bytes_per_token = kv_pool_bytes_per_token(&m->eng.core.self);
    out->device_bytes = out->kv_pool_bytes = 0;
    int64_t used = 0;
    if (device_used(m->be, &used)) {
        out->device_bytes = used - m->dev_base_used;
        const kv_pool *pools[2] = {&m->eng.core.self, &m->eng.core.cross};
        for (int i = 0; i < 2; i++)
            if (pools[i]->n_blocks > 0)
                out->kv_pool_bytes += (int64_t)kv_pool_bytes_per_token(pools[i]) *
                                      pools[i]->n_blocks * pools[i]->block_size;
    }
    return GLOSSA_STATUS_OK;
}

glossa_status glossa_model_teacher_forced(glossa_model *m, const int32_t *src, size_t n_src,
                                          const int32_t *dec, size_t n_dec, float *logits)
{
    if (!m || !src || !dec || !logits)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    if (n_src > (size_t)m->cfg.max_position_embeddings ||
        n_dec > (size_t)m->cfg.max_position_embeddings)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "input longer than the model's positions");
    return gen_teacher_forced(&m->eng, src, (int32_t)n_src, dec, (int32_t)n_dec, logits);
}
