/* Public tokenizer API (first version: bare sentencepiece models only; families, load_dir and
 * load_json are added on top by the families work). */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "glossa.h"
#include "tok/spm.h"
#include "tok/ws.h"

struct glossa_tokenizer {
    spm_processor *spm;
};

void glossa_tokens_free(glossa_tokens *t)
{
    if (!t) return;
    free(t->ids);
    tok_ws_free(t->scratch);
    memset(t, 0, sizeof *t);
}

void glossa_text_free(glossa_text *t)
{
    if (!t) return;
    free(t->data);
    memset(t, 0, sizeof *t);
}

glossa_encode_params glossa_encode_default_params(void)
{
    glossa_encode_params p = {NULL, NULL, true};
    return p;
}

glossa_status glossa_tokenizer_load_spm(const char *path, glossa_tokenizer **out)
{
    if (!path || !out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    *out = NULL;
    glossa_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "tokenizer");
    glossa_status st = spm_load_file(path, &t->spm);
    if (st != GLOSSA_STATUS_OK) {
        free(t);
        return st;
    }
    *out = t;
    return GLOSSA_STATUS_OK;
}

void glossa_tokenizer_free(glossa_tokenizer *t)
{
    if (!t) return;
    spm_free(t->spm);
    free(t);
}

static glossa_status ensure_ws(glossa_tokens *out)
{
    if (!out->scratch) out->scratch = tok_ws_new();
    if (!out->scratch) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "tokenizer workspace");
    return GLOSSA_STATUS_OK;
}

glossa_status glossa_tokenizer_encode(const glossa_tokenizer *t, const char *text, size_t len,
                                      const glossa_encode_params *params, glossa_tokens *out)
{
    if (!t || (!text && len) || !out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    GLOSSA_TRY(ensure_ws(out));
    idvec v = {out->ids, 0, out->cap};
    glossa_status st = spm_encode(t->spm, text ? text : "", len, out->scratch, &v);
    out->ids = v.data;
    out->cap = v.cap;
    out->n = st == GLOSSA_STATUS_OK ? v.len : 0;
    return st;
}

glossa_status glossa_tokenizer_encode_pieces(const glossa_tokenizer *t, const char *text,
                                             size_t len, glossa_text *out)
{
    if (!t || (!text && len) || !out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    tok_ws *ws = tok_ws_new();
    if (!ws) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "tokenizer workspace");
    strbuf b = {out->data, 0, out->cap};
    glossa_status st = spm_encode_pieces(t->spm, text ? text : "", len, ws, &b);
    tok_ws_free(ws);
    out->data = b.data;
    out->cap = b.cap;
    out->len = b.len;
    return st;
}

glossa_status glossa_tokenizer_decode(const glossa_tokenizer *t, const int32_t *ids, size_t n,
                                      bool skip_special, glossa_text *out)
{
    (void)skip_special;
    if (!t || (!ids && n) || !out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    strbuf b = {out->data, 0, out->cap};
    glossa_status st = strbuf_reserve(&b, 0);
    if (st == GLOSSA_STATUS_OK) st = spm_decode(t->spm, ids, n, &b);
    out->data = b.data;
    out->cap = b.cap;
    out->len = b.len;
    return st;
}

int32_t glossa_tokenizer_vocab_size(const glossa_tokenizer *t)
{
    return t ? spm_get_vocab(t->spm)->n : 0;
}

/* Not yet wired: the families work replaces these. */
glossa_status glossa_tokenizer_load_json(const char *path, glossa_tokenizer **out)
{
    (void)out;
    return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "%s: tokenizer.json loading is not wired yet", path);
}

glossa_status glossa_tokenizer_load_dir(const char *dir, glossa_tokenizer **out)
{
    (void)out;
    return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "%s: model directories are not wired yet", dir);
}

glossa_status glossa_tokenizer_encode_target(const glossa_tokenizer *t, const char *text,
                                             size_t len, const glossa_encode_params *params,
                                             glossa_tokens *out)
{
    return glossa_tokenizer_encode(t, text, len, params, out);
}
