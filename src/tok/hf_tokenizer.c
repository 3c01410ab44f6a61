/* hf_tokenizer: a tokenizer.json read into the hf_* components, and the encode / decode pipelines
 * of the tokenizers library (TokenizerImpl::encode_single_sequence / decode). */
#include "tok/hf_tokenizer.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "core/utf8.h"
#include "io/file.h"
#include "tok/hf_added.h"
#include "tok/hf_decoder.h"
#include "tok/hf_model.h"
#include "tok/hf_normalizer.h"
#include "tok/hf_post.h"
#include "tok/hf_pretok.h"
#include "tok/hf_unicode.h"

struct hf_tokenizer {
    hf_model model;
    hf_normalizer norm;
    hf_pretok pre;
    hf_post post;
    hf_decoder dec;
    hf_added added;
    int32_t vocab_size;
};

void hf_tokenizer_free(hf_tokenizer *t)
{
    if (!t) return;
    hf_added_free(&t->added);
    hf_decoder_free(&t->dec);
    hf_post_free(&t->post);
    hf_pretok_free(&t->pre);
    hf_normalizer_free(&t->norm);
    hf_model_free(&t->model);
    free(t);
}

static glossa_status load_root(const json_t *root, hf_tokenizer *t)
{
    if (!json_is_object(root)) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "tokenizer.json: not a JSON object");
    const json_t *model = json_object_get(root, "model");
    if (!model) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "tokenizer.json: no \"model\"");
    GLOSSA_TRY(hf_model_load(model, &t->model));
    GLOSSA_TRY(hf_normalizer_load(json_object_get(root, "normalizer"), &t->norm));
    GLOSSA_TRY(hf_pretok_load(json_object_get(root, "pre_tokenizer"), &t->pre));
    GLOSSA_TRY(hf_post_load(json_object_get(root, "post_processor"), &t->post));
    GLOSSA_TRY(hf_decoder_load(json_object_get(root, "decoder"), &t->dec));
    GLOSSA_TRY(hf_added_load(json_object_get(root, "added_tokens"), &t->model, &t->norm, &t->added));
    int32_t vs = t->model.vocab.n;
    if (t->added.max_id >= vs) vs = t->added.max_id + 1;
    for (size_t i = 0; i < t->post.n_prefix; i++)
        if (t->post.prefix[i] >= vs) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "post_processor: id %d is out of the vocabulary", t->post.prefix[i]);
    for (size_t i = 0; i < t->post.n_suffix; i++)
        if (t->post.suffix[i] >= vs) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "post_processor: id %d is out of the vocabulary", t->post.suffix[i]);
    t->vocab_size = vs;
    return GLOSSA_STATUS_OK;
}

glossa_status hf_tokenizer_load_buffer(const char *json, size_t size, hf_tokenizer **out)
{
    if (!out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "hf_tokenizer_load_buffer: out is NULL");
    *out = NULL;
    if (!json && size) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "hf_tokenizer_load_buffer: json is NULL");
    if (size > HF_TOKENIZER_MAX_JSON_BYTES)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "tokenizer.json of %zu bytes is over the limit", size);
    json_error_t err;
    json_t *root = json_loadb(json ? json : "", size, JSON_ALLOW_NUL, &err);
    if (!root)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "tokenizer.json: line %d column %d: %s", err.line,
                            err.column, err.text);
    hf_tokenizer *t = calloc(1, sizeof *t);
    glossa_status st = t ? load_root(root, t) : glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "tokenizer");
    json_decref(root);
    if (st != GLOSSA_STATUS_OK) {
        hf_tokenizer_free(t);
        return st;
    }
    *out = t;
    return GLOSSA_STATUS_OK;
}

glossa_status hf_tokenizer_load_file(const char *path, hf_tokenizer **out)
{
    if (!out || !path) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "hf_tokenizer_load_file: NULL argument");
    *out = NULL;
    char *data;
    size_t size;
    GLOSSA_TRY(file_read_all(path, HF_TOKENIZER_MAX_JSON_BYTES, &data, &size));
    glossa_status st = hf_tokenizer_load_buffer(data, size, out);
    free(data);
    if (st != GLOSSA_STATUS_OK) return glossa_error_prefix(st, "%s: ", path);
    return GLOSSA_STATUS_OK;
}

int32_t hf_tokenizer_vocab_size(const hf_tokenizer *t) { return t ? t->vocab_size : 0; }

int32_t hf_tokenizer_token_to_id(const hf_tokenizer *t, const char *tok, size_t len)
{
    if (!t || (!tok && len)) return -1;
    int32_t id = hf_added_find(&t->added, tok ? tok : "", len);
    return id >= 0 ? id : hf_model_find(&t->model, tok ? tok : "", len);
}

const char *hf_tokenizer_id_to_token(const hf_tokenizer *t, int32_t id)
{
    if (!t) return NULL;
    const hf_added_token *a = hf_added_by_id(&t->added, id);
    if (a) return a->content;
    return hf_model_piece(&t->model, id, NULL);
}

bool hf_tokenizer_is_special(const hf_tokenizer *t, int32_t id)
{
    if (!t) return false;
    const hf_added_token *a = hf_added_by_id(&t->added, id);
    return a && hf_added_is_special_content(&t->added, a->content, a->len);
}

void hf_tokenizer_template(const hf_tokenizer *t, const int32_t **prefix, size_t *n_prefix,
                           const int32_t **suffix, size_t *n_suffix)
{
    *prefix = t->post.prefix;
    *n_prefix = t->post.n_prefix;
    *suffix = t->post.suffix;
    *n_suffix = t->post.n_suffix;
}

/* ------------------------------------------------------------------------------------------- */
/* Encoding                                                                                     */

typedef struct enc {
    const hf_tokenizer *t;
    tok_ws *ws;
    idvec *out;
    const char *text;    /* the (valid UTF-8) input */
    const hf_nstr *norm; /* the normalized piece being split on normalized tokens */
} enc;

static glossa_status on_piece(void *ctx, const char *s, size_t len)
{
    enc *e = ctx;
    return hf_model_encode(&e->t->model, s, len, e->ws, e->out);
}

static glossa_status on_normalized(void *ctx, int32_t id, size_t b, size_t end)
{
    enc *e = ctx;
    if (id >= 0) return idvec_push(e->out, id);
    return hf_pretokenize(&e->t->pre, e->norm->s + b, e->norm->al + b, end - b, &e->ws->lattice,
                          on_piece, e);
}

static glossa_status on_raw(void *ctx, int32_t id, size_t b, size_t end)
{
    enc *e = ctx;
    if (id >= 0) return idvec_push(e->out, id);
    hf_nstr ns;
    GLOSSA_TRY(hf_normalize(&e->t->norm, e->text + b, end - b, (uint32_t)b, &e->ws->lattice, &ns));
    const hf_nstr *saved = e->norm;
    e->norm = &ns;
    glossa_status st = hf_added_split(&e->t->added, true, ns.s, ns.len, on_normalized, e);
    e->norm = saved;
    return st;
}

/* Reset the scratch arena so that it keeps one chunk as large as the last call needed: steady
 * state encoding then allocates nothing. */
static void arena_settle(arena *a)
{
    size_t before = a->total;
    arena_reset(a);
    if (a->total < before && arena_alloc(a, before)) arena_reset(a);
}

/* Input as Python's bytes.decode("utf-8", "replace") gives it. */
static glossa_status sanitize(const char *text, size_t len, arena *a, const char **out,
                              size_t *out_len)
{
    *out = text;
    *out_len = len;
    if (utf8_valid(text, len)) return GLOSSA_STATUS_OK;
    char *s = arena_alloc(a, len * 3 + 1);
    if (!s) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "input of %zu bytes", len);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t bad, l = hfu_utf8_step(text + i, len - i, &bad);
        if (l) {
            memcpy(s + o, text + i, l);
            o += l;
            i += l;
        } else {
            memcpy(s + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += bad;
        }
    }
    *out = s;
    *out_len = o;
    return GLOSSA_STATUS_OK;
}

glossa_status hf_tokenizer_encode(const hf_tokenizer *t, const char *text, size_t len,
                                  bool add_special_tokens, tok_ws *ws, idvec *out)
{
    if (!t || !ws || !out || (!text && len))
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "hf_tokenizer_encode: NULL argument");
    if (len > (size_t)UINT32_MAX / 4)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "input of %zu bytes is too long", len);
    out->len = 0;
    arena_settle(&ws->lattice);
    const char *s = "";
    if (len) GLOSSA_TRY(sanitize(text, len, &ws->lattice, &s, &len));
    if (add_special_tokens) {
        GLOSSA_TRY(idvec_reserve(out, t->post.n_prefix));
        for (size_t i = 0; i < t->post.n_prefix; i++) out->data[out->len++] = t->post.prefix[i];
    }
    enc e = {t, ws, out, s, NULL};
    if (len) GLOSSA_TRY(hf_added_split(&t->added, false, s, len, on_raw, &e));
    if (add_special_tokens) {
        GLOSSA_TRY(idvec_reserve(out, t->post.n_suffix));
        for (size_t i = 0; i < t->post.n_suffix; i++) out->data[out->len++] = t->post.suffix[i];
    }
    return GLOSSA_STATUS_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Decoding                                                                                     */

glossa_status hf_tokenizer_decode(const hf_tokenizer *t, const int32_t *ids, size_t n,
                                  bool skip_special, strbuf *out)
{
    if (!t || !out || (!ids && n))
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "hf_tokenizer_decode: NULL argument");
    out->len = 0;
    GLOSSA_TRY(strbuf_reserve(out, 0));
    out->data[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= t->vocab_size)
            return glossa_error(GLOSSA_STATUS_BAD_INPUT, "token id %d is out of range [0, %d)", ids[i],
                                t->vocab_size);
    arena a;
    arena_init(&a, 16 * 1024);
    hf_dtok *toks = arena_alloc(&a, (n ? n : 1) * sizeof *toks);
    glossa_status st = toks ? GLOSSA_STATUS_OK : glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "decode");
    size_t k = 0;
    for (size_t i = 0; i < n && st == GLOSSA_STATUS_OK; i++) {
        const hf_added_token *ad = hf_added_by_id(&t->added, ids[i]);
        const char *s;
        size_t len;
        if (ad) {
            s = ad->content;
            len = ad->len;
        } else {
            s = hf_model_piece(&t->model, ids[i], &len);
            if (!s) continue; /* an id without a token: the library skips it */
        }
        if (skip_special && hf_added_is_special_content(&t->added, s, len)) continue;
        toks[k++] = (hf_dtok){s, len};
    }
    if (st == GLOSSA_STATUS_OK) st = hf_decode_tokens(&t->dec, toks, k, &a, out);
    arena_free(&a);
    return st;
}
