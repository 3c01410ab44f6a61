/* config.json / generation_config.json of bart, mbart, m2m_100 (NLLB) and marian, with the
 * defaults of transformers' BartConfig, MBartConfig, M2M100Config, MarianConfig and
 * GenerationConfig (4.x and 5.x agree on all of them). See hf_config.h. */
#include "io/hf_config.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "io/file.h"

#define CFG_MAX_BYTES ((size_t)16 << 20)
#define CFG_MAX_DIM (1 << 20)
#define CFG_MAX_VOCAB (1 << 24)
#define CFG_MAX_ID ((1 << 24) - 1)
#define CFG_MAX_LEN (1 << 30)
#define CFG_PATH_CAP 4096

/* What each model_type hard-codes or defaults to (the *Config class __init__ defaults). */
typedef struct arch_info {
    const char *type;
    model_arch arch;
    int32_t vocab;
    gl_act act;
    bool scale_embedding;
    int32_t pad, bos, eos, decoder_start, forced_eos; /* -1: None */
    bool pre_ln, layernorm_embedding, final_layer_norm;
    model_pos_kind pos;
} arch_info;

static const arch_info g_archs[] = {
    {"bart", MODEL_ARCH_BART, 50265, GL_ACT_GELU, false, 1, 0, 2, 2, 2, false, true, false, MODEL_POS_LEARNED},
    {"mbart", MODEL_ARCH_MBART, 50265, GL_ACT_GELU, false, 1, 0, 2, -1, 2, true, true, true, MODEL_POS_LEARNED},
    {"m2m_100", MODEL_ARCH_M2M100, 128112, GL_ACT_RELU, true, 1, 0, 2, 2, -1, true, false, true,
     MODEL_POS_SINUSOIDAL_FAIRSEQ},
    {"marian", MODEL_ARCH_MARIAN, 58101, GL_ACT_GELU, false, 58100, -1, 0, 58100, 0, false, false, false,
     MODEL_POS_SINUSOIDAL_MARIAN},
};

static const arch_info *arch_lookup(const char *type)
{
    for (size_t i = 0; type && i < sizeof g_archs / sizeof g_archs[0]; i++)
        if (!strcmp(type, g_archs[i].type)) return &g_archs[i];
    return NULL;
}

/* ---- typed getters: absent keys leave *out alone; a wrong type is BAD_MODEL naming the key ---- */

typedef enum null_mode {
    NULL_IS_ERROR,  /* null is a wrong type */
    NULL_IS_UNSET,  /* null sets -1 (None) */
    NULL_IS_ABSENT, /* null keeps the default (from_model_config drops None values) */
} null_mode;

static glossa_status bad_type(const char *src, const char *key, const char *want)
{
    return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: \"%s\" is not %s", src, key, want);
}

static glossa_status j_int(json_t *o, const char *src, const char *key, int64_t lo, int64_t hi, null_mode nm,
                           int32_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!v) return GLOSSA_STATUS_OK;
    if (json_is_null(v)) {
        if (nm == NULL_IS_ERROR) return bad_type(src, key, "an integer");
        if (nm == NULL_IS_UNSET) *out = -1;
        return GLOSSA_STATUS_OK;
    }
    if (!json_is_integer(v)) return bad_type(src, key, "an integer");
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: \"%s\" = %lld is out of range [%lld, %lld]", src, key,
                            (long long)x, (long long)lo, (long long)hi);
    *out = (int32_t)x;
    return GLOSSA_STATUS_OK;
}

static glossa_status j_float(json_t *o, const char *src, const char *key, float *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return GLOSSA_STATUS_OK;
    if (!json_is_number(v)) return bad_type(src, key, "a number");
    double x = json_number_value(v);
    if (x > 1e30 || x < -1e30) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: \"%s\" is out of range", src, key);
    *out = (float)x;
    return GLOSSA_STATUS_OK;
}

static glossa_status j_bool(json_t *o, const char *src, const char *key, null_mode nm, bool *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || (json_is_null(v) && nm != NULL_IS_ERROR)) return GLOSSA_STATUS_OK;
    /* Python's True == 1 and False == 0: transformers takes 0 and 1 for booleans */
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) {
        *out = json_integer_value(v) == 1;
        return GLOSSA_STATUS_OK;
    }
    if (!json_is_boolean(v)) return bad_type(src, key, "true or false");
    *out = json_is_true(v);
    return GLOSSA_STATUS_OK;
}

/* A string value (NULL when absent or null). */
static glossa_status j_str(json_t *o, const char *src, const char *key, const char **out)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v)) return GLOSSA_STATUS_OK;
    if (!json_is_string(v)) return bad_type(src, key, "a string");
    *out = json_string_value(v);
    return GLOSSA_STATUS_OK;
}

/* eos_token_id / forced_eos_token_id: an int or a list of ints (null: None). */
static glossa_status j_id_list(json_t *o, const char *src, const char *key, int32_t *ids, int32_t cap, int32_t *n,
                               bool *present)
{
    json_t *v = json_object_get(o, key);
    *present = v != NULL;
    if (!v) return GLOSSA_STATUS_OK;
    *n = 0;
    if (json_is_null(v)) return GLOSSA_STATUS_OK;
    if (json_is_integer(v)) {
        GLOSSA_TRY(j_int(o, src, key, 0, CFG_MAX_ID, NULL_IS_ERROR, &ids[0]));
        *n = 1;
        return GLOSSA_STATUS_OK;
    }
    if (!json_is_array(v)) return bad_type(src, key, "an integer or a list of integers");
    if (json_array_size(v) > (size_t)cap)
        return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "%s: \"%s\" has %zu ids (at most %d)", src, key,
                            json_array_size(v), (int)cap);
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *x = json_array_get(v, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > CFG_MAX_ID)
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: \"%s\"[%zu] is not a token id", src, key, i);
        ids[(*n)++] = (int32_t)json_integer_value(x);
    }
    return GLOSSA_STATUS_OK;
}

static glossa_status parse_root(const char *json, size_t len, const char *src, json_t **root)
{
    json_error_t err;
    *root = json_loadb(json ? json : "", json ? len : 0, 0, &err);
    if (!*root) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: line %d: %s", src, err.line, err.text);
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: not a JSON object", src);
    }
    return GLOSSA_STATUS_OK;
}

/* ---- config.json ---- */

static glossa_status parse_activation(json_t *o, gl_act *out)
{
    const char *a;
    GLOSSA_TRY(j_str(o, "config.json", "activation_function", &a));
    if (!a) {
        if (json_object_get(o, "activation_function")) return bad_type("config.json", "activation_function", "a string");
        return GLOSSA_STATUS_OK;
    }
    static const struct {
        const char *name;
        gl_act act;
    } acts[] = {
        {"gelu", GL_ACT_GELU},           {"gelu_python", GL_ACT_GELU},      {"relu", GL_ACT_RELU},
        {"swish", GL_ACT_SILU},          {"silu", GL_ACT_SILU},             {"gelu_new", GL_ACT_GELU_TANH},
        {"gelu_pytorch_tanh", GL_ACT_GELU_TANH}, {"gelu_fast", GL_ACT_GELU_TANH},
    };
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        if (!strcmp(a, acts[i].name)) {
            *out = acts[i].act;
            return GLOSSA_STATUS_OK;
        }
    }
    return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "config.json: activation_function \"%.64s\" is not supported", a);
}

/* A size: canonical key, else its attribute_map alias (hidden_size, num_attention_heads,
 * num_hidden_layers); positive and at most hi. */
static glossa_status size_key(json_t *o, const char *key, const char *alias, int64_t hi, int32_t *out)
{
    const char *k = key;
    if (!json_object_get(o, key) && alias && json_object_get(o, alias)) k = alias;
    return j_int(o, "config.json", k, 1, hi, NULL_IS_ERROR, out);
}

static glossa_status parse_sizes(json_t *o, model_config *c)
{
    GLOSSA_TRY(size_key(o, "d_model", "hidden_size", CFG_MAX_DIM, &c->d_model));
    GLOSSA_TRY(size_key(o, "encoder_layers", "num_hidden_layers", CFG_MAX_DIM, &c->encoder_layers));
    GLOSSA_TRY(size_key(o, "decoder_layers", NULL, CFG_MAX_DIM, &c->decoder_layers));
    GLOSSA_TRY(size_key(o, "encoder_attention_heads", "num_attention_heads", CFG_MAX_DIM, &c->encoder_heads));
    GLOSSA_TRY(size_key(o, "decoder_attention_heads", NULL, CFG_MAX_DIM, &c->decoder_heads));
    GLOSSA_TRY(size_key(o, "encoder_ffn_dim", NULL, CFG_MAX_DIM, &c->encoder_ffn));
    GLOSSA_TRY(size_key(o, "decoder_ffn_dim", NULL, CFG_MAX_DIM, &c->decoder_ffn));
    GLOSSA_TRY(size_key(o, "vocab_size", NULL, CFG_MAX_VOCAB, &c->vocab_size));
    GLOSSA_TRY(size_key(o, "max_position_embeddings", NULL, CFG_MAX_DIM, &c->max_position_embeddings));
    c->decoder_vocab_size = 0;
    if (c->arch == MODEL_ARCH_MARIAN) {
        /* `decoder_vocab_size or vocab_size`: null and 0 mean "same"; with shared embeddings
         * MarianMTModel sizes lm_head by vocab_size and never reads decoder_vocab_size */
        GLOSSA_TRY(j_bool(o, "config.json", "share_encoder_decoder_embeddings", NULL_IS_ERROR,
                          &c->share_encoder_decoder_embeddings));
        GLOSSA_TRY(j_int(o, "config.json", "decoder_vocab_size", 0, CFG_MAX_VOCAB, NULL_IS_ABSENT, &c->decoder_vocab_size));
        if (c->share_encoder_decoder_embeddings) c->decoder_vocab_size = 0;
    }
    if (c->decoder_vocab_size == 0) c->decoder_vocab_size = c->vocab_size;
    if (c->d_model % c->encoder_heads)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "config.json: d_model %d is not divisible by encoder_attention_heads %d",
                            c->d_model, c->encoder_heads);
    if (c->d_model % c->decoder_heads)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "config.json: d_model %d is not divisible by decoder_attention_heads %d",
                            c->d_model, c->decoder_heads);
    return GLOSSA_STATUS_OK;
}

static glossa_status check_id(const char *key, int32_t id, int32_t vocab)
{
    if (id >= vocab)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "config.json: %s %d is not below the vocabulary size %d", key, id, vocab);
    return GLOSSA_STATUS_OK;
}

static glossa_status parse_ids(json_t *o, const arch_info *ai, model_config *c)
{
    c->pad_token_id = ai->pad;
    c->bos_token_id = ai->bos;
    c->eos_token_id = ai->eos;
    c->decoder_start_token_id = ai->decoder_start;
    GLOSSA_TRY(j_int(o, "config.json", "pad_token_id", 0, CFG_MAX_ID, NULL_IS_UNSET, &c->pad_token_id));
    GLOSSA_TRY(j_int(o, "config.json", "bos_token_id", 0, CFG_MAX_ID, NULL_IS_UNSET, &c->bos_token_id));
    GLOSSA_TRY(j_int(o, "config.json", "decoder_start_token_id", 0, CFG_MAX_ID, NULL_IS_UNSET, &c->decoder_start_token_id));
    int32_t eos[MODEL_MAX_EOS], n_eos = 0;
    bool present;
    GLOSSA_TRY(j_id_list(o, "config.json", "eos_token_id", eos, MODEL_MAX_EOS, &n_eos, &present));
    if (present) c->eos_token_id = n_eos ? eos[0] : -1;
    GLOSSA_TRY(check_id("pad_token_id", c->pad_token_id, c->vocab_size));
    GLOSSA_TRY(check_id("bos_token_id", c->bos_token_id, c->decoder_vocab_size));
    GLOSSA_TRY(check_id("eos_token_id", c->eos_token_id, c->decoder_vocab_size));
    GLOSSA_TRY(check_id("decoder_start_token_id", c->decoder_start_token_id, c->decoder_vocab_size));
    if (c->arch == MODEL_ARCH_M2M100 && c->pad_token_id < 0)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "config.json: m2m_100 needs pad_token_id (positions start at pad + 1)");
    return GLOSSA_STATUS_OK;
}

static glossa_status parse_dtype(json_t *o, model_config *c)
{
    const char *key = json_object_get(o, "dtype") && !json_is_null(json_object_get(o, "dtype")) ? "dtype" : "torch_dtype";
    const char *d;
    GLOSSA_TRY(j_str(o, "config.json", key, &d));
    c->dtype[0] = '\0';
    if (!d) return GLOSSA_STATUS_OK;
    if (strlen(d) >= sizeof c->dtype)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "config.json: \"%s\" \"%.32s\" is not a dtype name", key, d);
    strcpy(c->dtype, d);
    return GLOSSA_STATUS_OK;
}

static glossa_status config_from_json(json_t *o, model_config *c)
{
    const char *mt;
    GLOSSA_TRY(j_str(o, "config.json", "model_type", &mt));
    if (!mt) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "config.json: \"model_type\" is missing");
    const arch_info *ai = arch_lookup(mt);
    if (!ai)
        return glossa_error(GLOSSA_STATUS_UNSUPPORTED,
                            "config.json: model_type \"%.64s\" is not supported (bart, mbart, m2m_100, marian)", mt);
    memset(c, 0, sizeof *c);
    c->arch = ai->arch;
    snprintf(c->model_type, sizeof c->model_type, "%s", ai->type);
    c->d_model = 1024;
    c->encoder_layers = c->decoder_layers = 12;
    c->encoder_heads = c->decoder_heads = 16;
    c->encoder_ffn = c->decoder_ffn = 4096;
    c->vocab_size = ai->vocab;
    c->max_position_embeddings = 1024;
    c->activation = ai->act;
    c->scale_embedding = ai->scale_embedding;
    c->tie_word_embeddings = true;
    c->share_encoder_decoder_embeddings = true;
    c->layer_norm_eps = 1e-5f;
    c->pre_ln = ai->pre_ln;
    c->layernorm_embedding = ai->layernorm_embedding;
    c->final_layer_norm = ai->final_layer_norm;
    c->pos_kind = ai->pos;
    GLOSSA_TRY(parse_sizes(o, c));
    GLOSSA_TRY(parse_activation(o, &c->activation));
    GLOSSA_TRY(j_bool(o, "config.json", "scale_embedding", NULL_IS_ERROR, &c->scale_embedding));
    GLOSSA_TRY(j_bool(o, "config.json", "tie_word_embeddings", NULL_IS_ERROR, &c->tie_word_embeddings));
    GLOSSA_TRY(parse_ids(o, ai, c));
    GLOSSA_TRY(parse_dtype(o, c));
    switch (c->pos_kind) {
    case MODEL_POS_LEARNED: c->pos_offset = 2; break;
    case MODEL_POS_SINUSOIDAL_FAIRSEQ: c->pos_offset = c->pad_token_id + 1; break;
    case MODEL_POS_SINUSOIDAL_MARIAN: c->pos_offset = 0; break;
    }
    return GLOSSA_STATUS_OK;
}

glossa_status hf_config_parse(const char *json, size_t len, model_config *out)
{
    if (!out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "hf_config_parse: NULL output");
    json_t *root;
    GLOSSA_TRY(parse_root(json, len, "config.json", &root));
    model_config c;
    glossa_status st = config_from_json(root, &c);
    json_decref(root);
    if (st == GLOSSA_STATUS_OK) *out = c;
    return st;
}

/* ---- generation settings ---- */

static void gen_defaults(generation_config *g)
{
    memset(g, 0, sizeof *g);
    g->max_length = 20;
    g->max_new_tokens = -1;
    g->min_length = 0;
    g->min_new_tokens = -1;
    g->num_beams = 1;
    g->num_return_sequences = 1;
    g->length_penalty = 1.0f;
    g->temperature = 1.0f;
    g->top_k = 50;
    g->top_p = 1.0f;
    g->repetition_penalty = 1.0f;
    g->decoder_start_token_id = g->bos_token_id = g->pad_token_id = -1;
    g->forced_bos_token_id = g->forced_eos_token_id = -1;
}

/* The model class's defaults, as from_model_config sees them through the config object. */
static void gen_class_defaults(const arch_info *ai, generation_config *g)
{
    g->pad_token_id = ai->pad;
    g->bos_token_id = ai->bos;
    g->decoder_start_token_id = ai->decoder_start;
    g->forced_eos_token_id = ai->forced_eos;
    g->n_eos = 0;
    if (ai->eos >= 0) g->eos_token_ids[g->n_eos++] = ai->eos;
}

static glossa_status gen_early_stopping(json_t *o, const char *src, generation_config *g)
{
    json_t *v = json_object_get(o, "early_stopping");
    if (!v || json_is_null(v)) return GLOSSA_STATUS_OK;
    if (json_is_boolean(v)) g->early_stopping = json_is_true(v);
    else if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) /* 1 == True */
        g->early_stopping = (int32_t)json_integer_value(v);
    else if (json_is_string(v) && !strcmp(json_string_value(v), "never")) g->early_stopping = 2;
    else return bad_type(src, "early_stopping", "true, false or \"never\"");
    return GLOSSA_STATUS_OK;
}

/* bad_words_ids: a list of lists of ids; the single-token entries are kept. */
static glossa_status gen_bad_words(json_t *o, const char *src, generation_config *g)
{
    json_t *v = json_object_get(o, "bad_words_ids");
    if (!v) return GLOSSA_STATUS_OK;
    g->n_bad_words = 0;
    if (json_is_null(v)) return GLOSSA_STATUS_OK;
    if (!json_is_array(v)) return bad_type(src, "bad_words_ids", "a list of lists of token ids");
    size_t skipped = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *w = json_array_get(v, i);
        if (!json_is_array(w)) return bad_type(src, "bad_words_ids", "a list of lists of token ids");
        for (size_t j = 0; j < json_array_size(w); j++) {
            json_t *x = json_array_get(w, j);
            if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > CFG_MAX_ID)
                return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: \"bad_words_ids\"[%zu][%zu] is not a token id", src, i, j);
        }
        if (json_array_size(w) != 1) {
            skipped++;
            continue;
        }
        if (g->n_bad_words == MODEL_MAX_BAD_WORDS)
            return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "%s: more than %d single-token bad_words_ids", src,
                                MODEL_MAX_BAD_WORDS);
        g->bad_words_ids[g->n_bad_words++] = (int32_t)json_integer_value(json_array_get(w, 0));
    }
    if (skipped) GLOSSA_LOG_WARN("%s: %zu multi-token bad_words_ids entries are ignored", src, skipped);
    return GLOSSA_STATUS_OK;
}

static glossa_status gen_ids(json_t *o, const char *src, generation_config *g)
{
    GLOSSA_TRY(j_int(o, src, "decoder_start_token_id", 0, CFG_MAX_ID, NULL_IS_UNSET, &g->decoder_start_token_id));
    GLOSSA_TRY(j_int(o, src, "bos_token_id", 0, CFG_MAX_ID, NULL_IS_UNSET, &g->bos_token_id));
    GLOSSA_TRY(j_int(o, src, "pad_token_id", 0, CFG_MAX_ID, NULL_IS_UNSET, &g->pad_token_id));
    GLOSSA_TRY(j_int(o, src, "forced_bos_token_id", 0, CFG_MAX_ID, NULL_IS_UNSET, &g->forced_bos_token_id));
    int32_t ids[MODEL_MAX_EOS], n = 0;
    bool present;
    GLOSSA_TRY(j_id_list(o, src, "eos_token_id", g->eos_token_ids, MODEL_MAX_EOS, &g->n_eos, &present));
    GLOSSA_TRY(j_id_list(o, src, "forced_eos_token_id", ids, MODEL_MAX_EOS, &n, &present));
    if (present) {
        if (n > 1) GLOSSA_LOG_WARN("%s: forced_eos_token_id has %d ids; glossa forces the first", src, (int)n);
        g->forced_eos_token_id = n ? ids[0] : -1;
    }
    return gen_bad_words(o, src, g);
}

/* Apply the generation keys present in o (config.json or generation_config.json). */
static glossa_status gen_apply(json_t *o, const char *src, generation_config *g)
{
    GLOSSA_TRY(j_int(o, src, "max_length", 0, CFG_MAX_LEN, NULL_IS_ABSENT, &g->max_length));
    GLOSSA_TRY(j_int(o, src, "max_new_tokens", 1, CFG_MAX_LEN, NULL_IS_UNSET, &g->max_new_tokens));
    GLOSSA_TRY(j_int(o, src, "min_length", 0, CFG_MAX_LEN, NULL_IS_ABSENT, &g->min_length));
    GLOSSA_TRY(j_int(o, src, "min_new_tokens", 0, CFG_MAX_LEN, NULL_IS_UNSET, &g->min_new_tokens));
    GLOSSA_TRY(j_int(o, src, "num_beams", 1, 1 << 16, NULL_IS_ABSENT, &g->num_beams));
    GLOSSA_TRY(j_int(o, src, "num_return_sequences", 1, 1 << 16, NULL_IS_ABSENT, &g->num_return_sequences));
    GLOSSA_TRY(j_int(o, src, "top_k", 0, CFG_MAX_VOCAB, NULL_IS_ABSENT, &g->top_k));
    GLOSSA_TRY(j_int(o, src, "no_repeat_ngram_size", 0, CFG_MAX_LEN, NULL_IS_ABSENT, &g->no_repeat_ngram_size));
    GLOSSA_TRY(j_float(o, src, "length_penalty", &g->length_penalty));
    GLOSSA_TRY(j_float(o, src, "temperature", &g->temperature));
    GLOSSA_TRY(j_float(o, src, "top_p", &g->top_p));
    GLOSSA_TRY(j_float(o, src, "repetition_penalty", &g->repetition_penalty));
    GLOSSA_TRY(j_bool(o, src, "do_sample", NULL_IS_ABSENT, &g->do_sample));
    GLOSSA_TRY(gen_early_stopping(o, src, g));
    return gen_ids(o, src, g);
}

static glossa_status gen_validate(generation_config *g)
{
    if (g->repetition_penalty <= 0.0f)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "generation config: repetition_penalty %g is not positive",
                            (double)g->repetition_penalty);
    if (g->do_sample && g->temperature <= 0.0f)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "generation config: temperature %g is not positive with do_sample",
                            (double)g->temperature);
    if (g->do_sample && (g->top_p < 0.0f || g->top_p > 1.0f))
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "generation config: top_p %g is not in [0, 1]", (double)g->top_p);
    /* generate(): the decoder starts from bos when decoder_start_token_id is unset */
    if (g->decoder_start_token_id < 0) g->decoder_start_token_id = g->bos_token_id;
    return GLOSSA_STATUS_OK;
}

/* config.json's layer: the model class's defaults, then its keys (4.x kept generation keys there). */
static glossa_status gen_from_config(json_t *cfg, generation_config *g)
{
    json_t *mt = json_object_get(cfg, "model_type");
    const arch_info *ai = arch_lookup(json_is_string(mt) ? json_string_value(mt) : NULL);
    if (ai) gen_class_defaults(ai, g);
    int32_t forced_bos_before = g->forced_bos_token_id;
    GLOSSA_TRY(gen_apply(cfg, "config.json", g));
    /* BartConfig: old CNN checkpoints say force_bos_token_to_be_generated instead */
    bool force_bos = false;
    GLOSSA_TRY(j_bool(cfg, "config.json", "force_bos_token_to_be_generated", NULL_IS_ABSENT, &force_bos));
    if (ai && ai->arch == MODEL_ARCH_BART && force_bos && forced_bos_before < 0 &&
        !json_object_get(cfg, "forced_bos_token_id"))
        g->forced_bos_token_id = g->bos_token_id;
    return GLOSSA_STATUS_OK;
}

glossa_status hf_generation_config_parse(const char *gen_json, size_t gen_len, const char *config_json,
                                         size_t config_len, generation_config *out)
{
    if (!out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "hf_generation_config_parse: NULL output");
    generation_config g;
    gen_defaults(&g);
    glossa_status st = GLOSSA_STATUS_OK;
    /* As transformers: a generation_config.json, when present, is the whole generation config
     * (GenerationConfig.from_pretrained, over GenerationConfig's defaults); config.json's keys and
     * the model class's defaults count only without it (GenerationConfig.from_model_config). */
    if (config_json && !gen_json) {
        json_t *cfg;
        GLOSSA_TRY(parse_root(config_json, config_len, "config.json", &cfg));
        st = gen_from_config(cfg, &g);
        json_decref(cfg);
    }
    if (st == GLOSSA_STATUS_OK && gen_json) {
        json_t *gen;
        GLOSSA_TRY(parse_root(gen_json, gen_len, "generation_config.json", &gen));
        st = gen_apply(gen, "generation_config.json", &g);
        json_decref(gen);
    }
    if (st == GLOSSA_STATUS_OK) st = gen_validate(&g);
    if (st == GLOSSA_STATUS_OK) *out = g;
    return st;
}

/* ---- model directories ---- */

static glossa_status gen_check_ids(const generation_config *g, const model_config *c)
{
    const int32_t ids[] = {g->decoder_start_token_id, g->bos_token_id, g->forced_bos_token_id, g->forced_eos_token_id};
    static const char *const names[] = {"decoder_start_token_id", "bos_token_id", "forced_bos_token_id",
                                        "forced_eos_token_id"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i] >= c->decoder_vocab_size)
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "generation config: %s %d is not below the vocabulary size %d",
                                names[i], ids[i], c->decoder_vocab_size);
    for (int32_t i = 0; i < g->n_eos; i++)
        if (g->eos_token_ids[i] >= c->decoder_vocab_size)
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "generation config: eos_token_id %d is not below the vocabulary size %d",
                                g->eos_token_ids[i], c->decoder_vocab_size);
    return GLOSSA_STATUS_OK;
}

glossa_status hf_config_load_dir(const char *dir, model_config *cfg, generation_config *gen)
{
    if (!dir || !cfg || !gen) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "hf_config_load_dir: NULL argument");
    char path[CFG_PATH_CAP];
    GLOSSA_TRY(path_join(path, sizeof path, dir, "config.json"));
    if (!file_exists(path)) return glossa_error(GLOSSA_STATUS_NOT_FOUND, "%s: no config.json", dir);
    char *cfg_text = NULL, *gen_text = NULL;
    size_t cfg_len = 0, gen_len = 0;
    GLOSSA_TRY(file_read_all(path, CFG_MAX_BYTES, &cfg_text, &cfg_len));
    glossa_status st = hf_config_parse(cfg_text, cfg_len, cfg);
    if (st != GLOSSA_STATUS_OK) glossa_error_prefix(st, "%s: ", dir);
    if (st == GLOSSA_STATUS_OK) st = path_join(path, sizeof path, dir, "generation_config.json");
    if (st == GLOSSA_STATUS_OK && file_exists(path)) st = file_read_all(path, CFG_MAX_BYTES, &gen_text, &gen_len);
    if (st == GLOSSA_STATUS_OK) {
        st = hf_generation_config_parse(gen_text, gen_len, cfg_text, cfg_len, gen);
        if (st == GLOSSA_STATUS_OK) st = gen_check_ids(gen, cfg);
        if (st != GLOSSA_STATUS_OK) glossa_error_prefix(st, "%s: ", dir);
    }
    free(cfg_text);
    free(gen_text);
    return st;
}
