/* Public tokenizer API (include/glossa.h) over the families and backends of tok/tokenizer.h. */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "glossa.h"
#include "tok/family.h"
#include "tok/langs.h"
#include "tok/pytext.h"
#include "tok/tokenizer.h"
#include "tok/ws.h"

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
    glossa_tokenizer *t = tok_tokenizer_new();
    if (!t) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "tokenizer");
    glossa_status st = spm_load_file(path, &t->spm);
    t->backend = TOK_BACKEND_SPM;
    if (st == GLOSSA_STATUS_OK) st = tok_tokenizer_finish(t);
    if (st != GLOSSA_STATUS_OK) {
        glossa_tokenizer_free(t);
        return st;
    }
    *out = t;
    return GLOSSA_STATUS_OK;
}

glossa_status glossa_tokenizer_load_json(const char *path, glossa_tokenizer **out)
{
    if (!path || !out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    *out = NULL;
    glossa_tokenizer *t = tok_tokenizer_new();
    if (!t) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "tokenizer");
    glossa_status st = tok_load_hf_json(t, path);
    if (st == GLOSSA_STATUS_OK) st = tok_tokenizer_finish(t);
    if (st != GLOSSA_STATUS_OK) {
        glossa_tokenizer_free(t);
        return st;
    }
    *out = t;
    return GLOSSA_STATUS_OK;
}

glossa_status glossa_tokenizer_load_dir(const char *dir, glossa_tokenizer **out)
{
    if (!dir || !out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    return tok_load_dir(dir, out);
}

void glossa_tokenizer_free(glossa_tokenizer *t)
{
    if (!t) return;
    spm_free(t->spm);
    hf_tokenizer_free(t->hf);
    pyspm_free(t->py);
    if (t->lang_codes)
        for (size_t i = 0; i < t->n_langs; i++) free(t->lang_codes[i]);
    free(t->lang_codes);
    free(t->lang_ids);
    free(t);
}

glossa_tokenizer_family glossa_tokenizer_get_family(const glossa_tokenizer *t)
{
    return t ? t->family : GLOSSA_FAMILY_PLAIN;
}

int32_t glossa_tokenizer_vocab_size(const glossa_tokenizer *t) { return t ? t->vocab_size : 0; }

glossa_special_ids glossa_tokenizer_special_ids(const glossa_tokenizer *t)
{
    glossa_special_ids none = {-1, -1, -1, -1, -1};
    return t ? t->special : none;
}

static glossa_status ensure_ws(glossa_tokens *out)
{
    if (!out->scratch) out->scratch = tok_ws_new();
    if (!out->scratch) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "tokenizer workspace");
    return GLOSSA_STATUS_OK;
}

/* The language a request names (params, else tokenizer_config's, else the family default). */
static const char *request_lang(const glossa_tokenizer *t, const glossa_encode_params *p, bool target)
{
    const char *l = target ? p->tgt_lang : p->src_lang;
    if (l && *l) return l;
    if (target && t->tgt_lang[0]) return t->tgt_lang;
    if (target && p->src_lang && *p->src_lang) return p->src_lang; /* transformers: tgt_lang = src_lang */
    if (t->src_lang[0]) return t->src_lang;
    return tok_family_default_src(t->family);
}

/* Text to ids without the family template. */
static glossa_status encode_body(const glossa_tokenizer *t, const char *text, size_t len, bool target,
                                 bool plain_special, tok_ws *ws, idvec *v)
{
    switch (t->backend) {
    case TOK_BACKEND_SPM: return spm_encode(t->spm, text, len, ws, v);
    case TOK_BACKEND_HF: return hf_tokenizer_encode(t->hf, text, len, plain_special, ws, v);
    default: return pyspm_encode(t->py, text, len, target, ws, v);
    }
}

static glossa_status encode_side(const glossa_tokenizer *t, const char *text, size_t len,
                                 const glossa_encode_params *params, bool target, glossa_tokens *out)
{
    if (!t || (!text && len) || !out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    glossa_encode_params p = params ? *params : glossa_encode_default_params();
    out->n = 0;
    /* the language token first, so that a bad code fails before any work */
    int32_t lang = -1;
    bool has_template = p.add_special_tokens && t->family != GLOSSA_FAMILY_PLAIN;
    if (has_template && t->family != GLOSSA_FAMILY_MARIAN) {
        GLOSSA_TRY(tok_lang_id(t, request_lang(t, &p, target), &lang));
    } else if (has_template && !target && p.tgt_lang && *p.tgt_lang) {
        GLOSSA_TRY(tok_lang_id(t, p.tgt_lang, &lang)); /* Marian multi-target: >>xx<< first */
    }
    GLOSSA_TRY(ensure_ws(out));
    idvec v = {out->ids, 0, out->cap};
    glossa_status st = encode_body(t, text ? text : "", len, target,
                                   p.add_special_tokens && t->family == GLOSSA_FAMILY_PLAIN, out->scratch, &v);
    if (st == GLOSSA_STATUS_OK && has_template) {
        tok_template tp = tok_family_template(t->family, t->legacy_behaviour, lang, t->special.eos);
        st = idvec_reserve(&v, tp.n_prefix + tp.n_suffix);
        if (st == GLOSSA_STATUS_OK) {
            memmove(v.data + tp.n_prefix, v.data, v.len * sizeof *v.data);
            memcpy(v.data, tp.prefix, tp.n_prefix * sizeof *v.data);
            memcpy(v.data + tp.n_prefix + v.len, tp.suffix, tp.n_suffix * sizeof *v.data);
            v.len += tp.n_prefix + tp.n_suffix;
        }
    }
    out->ids = v.data;
    out->cap = v.cap;
    out->n = st == GLOSSA_STATUS_OK ? v.len : 0;
    return st;
}

glossa_status glossa_tokenizer_encode(const glossa_tokenizer *t, const char *text, size_t len,
                                      const glossa_encode_params *params, glossa_tokens *out)
{
    return encode_side(t, text, len, params, false, out);
}

glossa_status glossa_tokenizer_encode_target(const glossa_tokenizer *t, const char *text,
                                             size_t len, const glossa_encode_params *params,
                                             glossa_tokens *out)
{
    return encode_side(t, text, len, params, true, out);
}

glossa_status glossa_tokenizer_encode_pieces(const glossa_tokenizer *t, const char *text,
                                             size_t len, glossa_text *out)
{
    if (!t || (!text && len) || !out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    tok_ws *ws = tok_ws_new();
    if (!ws) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "tokenizer workspace");
    strbuf b = {out->data, 0, out->cap};
    glossa_status st = strbuf_reserve(&b, 0);
    if (st == GLOSSA_STATUS_OK) strbuf_clear(&b);
    if (st != GLOSSA_STATUS_OK) {
    } else if (t->backend == TOK_BACKEND_SPM) {
        st = spm_encode_pieces(t->spm, text ? text : "", len, ws, &b);
    } else if (t->backend == TOK_BACKEND_PYSPM) {
        st = pyspm_encode_pieces(t->py, text ? text : "", len, ws, &b);
    } else { /* the tokens of the ids */
        idvec v = {0};
        st = hf_tokenizer_encode(t->hf, text ? text : "", len, false, ws, &v);
        for (size_t i = 0; st == GLOSSA_STATUS_OK && i < v.len; i++) {
            const char *s = hf_tokenizer_id_to_token(t->hf, v.data[i]);
            if (i) st = strbuf_appendc(&b, ' ');
            if (st == GLOSSA_STATUS_OK && s) st = strbuf_append(&b, s, strlen(s));
        }
        idvec_free(&v);
    }
    tok_ws_free(ws);
    out->data = b.data;
    out->cap = b.cap;
    out->len = st == GLOSSA_STATUS_OK ? b.len : 0;
    return st;
}

glossa_status glossa_tokenizer_decode(const glossa_tokenizer *t, const int32_t *ids, size_t n,
                                      bool skip_special, glossa_text *out)
{
    if (!t || (!ids && n) || !out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    strbuf b = {out->data, 0, out->cap};
    glossa_status st = strbuf_reserve(&b, 0);
    if (st == GLOSSA_STATUS_OK) {
        strbuf_clear(&b);
        switch (t->backend) {
        case TOK_BACKEND_SPM: st = spm_decode(t->spm, ids, n, &b); break;
        case TOK_BACKEND_HF: st = hf_tokenizer_decode(t->hf, ids, n, skip_special, &b); break;
        default: st = pyspm_decode(t->py, ids, n, skip_special, &b); break;
        }
    }
    /* transformers' clean_up_tokenization_spaces (skipped for BPE tokenizers.json models) */
    if (st == GLOSSA_STATUS_OK && t->clean_up_spaces && !(t->backend == TOK_BACKEND_HF && t->hf_is_bpe))
        py_clean_up_tokenization(&b);
    out->data = b.data;
    out->cap = b.cap;
    out->len = st == GLOSSA_STATUS_OK ? b.len : 0;
    if (st != GLOSSA_STATUS_OK && b.data) b.data[0] = '\0';
    return st;
}

const char *glossa_tokenizer_id_to_piece(const glossa_tokenizer *t, int32_t id)
{
    return t ? tok_id_to_token(t, id) : NULL;
}

int32_t glossa_tokenizer_piece_to_id(const glossa_tokenizer *t, const char *piece)
{
    return t && piece ? tok_token_to_id(t, piece, strlen(piece)) : -1;
}

glossa_status glossa_tokenizer_lang_id(const glossa_tokenizer *t, const char *lang, int32_t *id_out)
{
    if (!t || !lang || !id_out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    return tok_lang_id(t, lang, id_out);
}

glossa_status glossa_tokenizer_forced_bos_id(const glossa_tokenizer *t, const char *tgt_lang,
                                             int32_t *id_out)
{
    if (!t || !id_out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    *id_out = -1;
    if (t->family == GLOSSA_FAMILY_PLAIN || t->family == GLOSSA_FAMILY_MARIAN) return GLOSSA_STATUS_OK;
    glossa_encode_params p = glossa_encode_default_params();
    p.tgt_lang = tgt_lang;
    return tok_lang_id(t, request_lang(t, &p, true), id_out);
}

size_t glossa_tokenizer_lang_count(const glossa_tokenizer *t) { return t ? t->n_langs : 0; }

glossa_status glossa_tokenizer_lang_at(const glossa_tokenizer *t, size_t i, const char **code,
                                       const char **name)
{
    if (!t) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    if (i >= t->n_langs)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "language index %zu of %zu", i, t->n_langs);
    if (t->family == GLOSSA_FAMILY_MARIAN || (t->lang_codes && t->lang_codes[i])) {
        /* Marian's >>xx<< tokens, or a language the model adds to its family's table */
        if (code) *code = t->lang_codes[i];
        if (name) {
            const char *c = t->lang_codes[i];
            const tok_lang_short *e = tok_langs_short_find(c, strcspn(c, "_"));
            *name = e ? e->name : "";
        }
        return GLOSSA_STATUS_OK;
    }
    size_t n;
    const tok_lang *tab = tok_langs_table(t->family, &n);
    if (code) *code = tab[i].code;
    if (name) *name = tab[i].name;
    return GLOSSA_STATUS_OK;
}
