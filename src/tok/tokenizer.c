/* The glossa_tokenizer structure: creation, the backend-independent lookups, language ids. */
#include "tok/tokenizer.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/status.h"
#include "io/file.h"
#include "tok/family.h"
#include "tok/langs.h"

glossa_tokenizer *tok_tokenizer_new(void)
{
    glossa_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->family = GLOSSA_FAMILY_PLAIN;
    t->special = (glossa_special_ids){-1, -1, -1, -1, -1};
    return t;
}

int32_t tok_token_to_id(const glossa_tokenizer *t, const char *s, size_t len)
{
    switch (t->backend) {
    case TOK_BACKEND_HF: return hf_tokenizer_token_to_id(t->hf, s, len);
    case TOK_BACKEND_PYSPM: return pyspm_token_to_id(t->py, s, len);
    default: return t->spm ? tok_vocab_find(spm_get_vocab(t->spm), s, len) : -1;
    }
}

const char *tok_id_to_token(const glossa_tokenizer *t, int32_t id)
{
    switch (t->backend) {
    case TOK_BACKEND_HF: return hf_tokenizer_id_to_token(t->hf, id);
    case TOK_BACKEND_PYSPM: return pyspm_id_to_token(t->py, id);
    default: {
        if (!t->spm) return NULL;
        const tok_vocab *v = spm_get_vocab(t->spm);
        return id >= 0 && id < v->n ? v->piece[id] : NULL;
    }
    }
}

static int32_t find_str(const glossa_tokenizer *t, const char *s)
{
    return s ? tok_token_to_id(t, s, strlen(s)) : -1;
}

/* A special added token spelled like a language code of the family (mBART-50 "am_ET", NLLB
 * "amh_Ethi") that is not in the family's table. */
static bool extra_lang_shape(const char *s)
{
    size_t b = 0;
    while (s[b] >= 'a' && s[b] <= 'z') b++;
    if (b < 2 || b > 3 || s[b] != '_') return false;
    const char *r = s + b + 1;
    size_t k = 0;
    if (!(r[0] >= 'A' && r[0] <= 'Z')) return false;
    while (r[k] && ((r[k] >= 'A' && r[k] <= 'Z') || (k > 0 && r[k] >= 'a' && r[k] <= 'z'))) k++;
    return !r[k] && (k == 2 || k == 4);
}

/* Special tokens of a tokenizer.json pipeline shaped like language codes and missing from the
 * family table: languages a model adds to its family's set (a fine-tuned mBART-50 with "am_ET",
 * as transformers takes any additional special token as src_lang / tgt_lang). Counts them; with
 * fill, appends their ids and codes after the table's (t->n_langs grows). */
static size_t count_extra_langs(glossa_tokenizer *t, const tok_lang *tab, size_t n, glossa_tokenizer *fill)
{
    if (t->backend != TOK_BACKEND_HF) return 0;
    size_t found = 0;
    int32_t vs = hf_tokenizer_vocab_size(t->hf);
    for (int32_t id = 0; id < vs; id++) {
        if (!hf_tokenizer_is_special(t->hf, id)) continue;
        const char *s = hf_tokenizer_id_to_token(t->hf, id);
        if (!s || strlen(s) >= TOK_LANG_CODE_MAX || !extra_lang_shape(s)) continue;
        bool known = false;
        for (size_t i = 0; i < n && !known; i++) known = !strcmp(tab[i].code, s);
        if (known) continue;
        if (fill) {
            fill->lang_codes[fill->n_langs] = strdup(s);
            if (!fill->lang_codes[fill->n_langs]) return found;
            fill->lang_ids[fill->n_langs++] = id;
        }
        found++;
    }
    return found;
}

static glossa_status finish_langs(glossa_tokenizer *t)
{
    if (t->family == GLOSSA_FAMILY_MARIAN) {
        const char **codes;
        const int32_t *ids;
        size_t n = pyspm_marian_langs(t->py, &codes, &ids);
        t->lang_ids = malloc((n ? n : 1) * sizeof *t->lang_ids);
        t->lang_codes = calloc(n ? n : 1, sizeof *t->lang_codes);
        if (!t->lang_ids || !t->lang_codes) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "languages");
        for (size_t i = 0; i < n; i++) {
            size_t len = strlen(codes[i]); /* ">>fra<<" -> "fra" */
            t->lang_codes[i] = strndup(codes[i] + 2, len - 4);
            if (!t->lang_codes[i]) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "languages");
            t->lang_ids[i] = ids[i];
        }
        t->n_langs = n;
        return GLOSSA_STATUS_OK;
    }
    size_t n;
    const tok_lang *tab = tok_langs_table(t->family, &n);
    if (!tab) return GLOSSA_STATUS_OK;
    size_t n_extra = count_extra_langs(t, tab, n, NULL);
    t->lang_ids = malloc((n + n_extra) * sizeof *t->lang_ids);
    if (!t->lang_ids) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "languages");
    for (size_t i = 0; i < n; i++) {
        char tok[32];
        tok_family_lang_token(t->family, tab[i].code, tok, sizeof tok);
        t->lang_ids[i] = find_str(t, tok);
        if (t->lang_ids[i] < 0)
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s tokenizer has no token for language code %s",
                                tok_family_name(t->family), tok);
    }
    t->n_langs = n;
    if (n_extra) {
        t->lang_codes = calloc(n + n_extra, sizeof *t->lang_codes);
        if (!t->lang_codes) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "languages");
        count_extra_langs(t, tab, n, t);
        if (t->n_langs != n + n_extra) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "languages");
    }
    return GLOSSA_STATUS_OK;
}

glossa_status tok_tokenizer_finish(glossa_tokenizer *t)
{
    glossa_special_ids *s = &t->special;
    switch (t->backend) {
    case TOK_BACKEND_SPM: {
        spm_special sp = spm_get_special(t->spm);
        *s = (glossa_special_ids){sp.bos_id, sp.eos_id, sp.pad_id, sp.unk_id, -1};
        t->vocab_size = spm_get_vocab(t->spm)->n;
        break;
    }
    case TOK_BACKEND_HF:
        *s = (glossa_special_ids){find_str(t, "<s>"), find_str(t, "</s>"), find_str(t, "<pad>"),
                                  find_str(t, "<unk>"), -1};
        t->vocab_size = hf_tokenizer_vocab_size(t->hf);
        break;
    case TOK_BACKEND_PYSPM:
        pyspm_special(t->py, &s->bos, &s->eos, &s->unk, &s->pad);
        t->vocab_size = pyspm_vocab_size(t->py) + (t->family == GLOSSA_FAMILY_M2M100 ? TOK_LANGS_M2M100_N : 0);
        break;
    }
    GLOSSA_TRY(finish_langs(t));
    if (t->family != GLOSSA_FAMILY_PLAIN && s->eos < 0)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s tokenizer has no </s> token", tok_family_name(t->family));
    s->decoder_start = t->family == GLOSSA_FAMILY_MARIAN ? s->pad : t->family == GLOSSA_FAMILY_PLAIN ? -1 : s->eos;
    return GLOSSA_STATUS_OK;
}

glossa_status tok_load_hf_json(glossa_tokenizer *t, const char *path)
{
    char *data;
    size_t size;
    GLOSSA_TRY(file_read_all(path, HF_TOKENIZER_MAX_JSON_BYTES, &data, &size));
    /* the model type decides whether transformers applies clean_up_tokenization */
    json_t *root = json_loadb(data, size, 0, NULL);
    json_t *type = json_object_get(json_object_get(root, "model"), "type");
    t->hf_is_bpe = json_is_string(type) && !strcmp(json_string_value(type), "BPE");
    json_decref(root);
    glossa_status st = hf_tokenizer_load_buffer(data, size, &t->hf);
    free(data);
    if (st != GLOSSA_STATUS_OK) return glossa_error_prefix(st, "%s: ", path);
    t->backend = TOK_BACKEND_HF;
    return GLOSSA_STATUS_OK;
}

static bool marian_match(const glossa_tokenizer *t, const char *code, size_t len, int32_t *id)
{
    for (size_t i = 0; i < t->n_langs; i++)
        if (strlen(t->lang_codes[i]) == len && !strncasecmp(t->lang_codes[i], code, len)) {
            *id = t->lang_ids[i];
            return true;
        }
    return false;
}

/* Marian: ">>fra<<", "fra", or a short code through the NLLB code's base ("fr" -> "fra"). */
static bool marian_lang(const glossa_tokenizer *t, const char *lang, int32_t *id)
{
    size_t len = strlen(lang);
    if (len > 4 && !strncmp(lang, ">>", 2) && !strcmp(lang + len - 2, "<<")) {
        lang += 2;
        len -= 4;
    }
    if (marian_match(t, lang, len, id)) return true;
    size_t b = 0;
    while (b < len && lang[b] != '_' && lang[b] != '-') b++;
    if (b < len && marian_match(t, lang, b, id)) return true;
    const tok_lang_short *e = tok_langs_short_find(lang, b);
    return e && *e->nllb && marian_match(t, e->nllb, 3, id);
}

/* A language the model adds to its family's table (count_extra_langs): its code in any case
 * with '-' for '_' ("am-et"), or its base alone ("am" for "am_ET"). */
static bool extra_lang(const glossa_tokenizer *t, const char *lang, int32_t *id)
{
    if (!t->lang_codes) return false;
    char buf[TOK_LANG_CODE_MAX];
    size_t len = strlen(lang);
    if (len >= sizeof buf) return false;
    for (size_t k = 0; k <= len; k++) buf[k] = lang[k] == '-' ? '_' : lang[k];
    size_t b = strcspn(buf, "_");
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < t->n_langs; i++) {
            const char *c = t->lang_codes[i];
            if (!c) continue;
            bool hit = pass == 0 ? !strcasecmp(c, buf) : b == len && strcspn(c, "_") == b && !strncasecmp(c, buf, b);
            if (hit) {
                *id = t->lang_ids[i];
                return true;
            }
        }
    }
    return false;
}

glossa_status tok_lang_id(const glossa_tokenizer *t, const char *lang, int32_t *id)
{
    *id = -1;
    if (!lang || !*lang) return glossa_error(GLOSSA_STATUS_BAD_INPUT, "empty language code");
    if (t->family == GLOSSA_FAMILY_MARIAN) {
        if (marian_lang(t, lang, id)) return GLOSSA_STATUS_OK;
    } else if (t->lang_ids) {
        int i = tok_langs_find(t->family, lang);
        if (i >= 0) {
            *id = t->lang_ids[i];
            return GLOSSA_STATUS_OK;
        }
        if (extra_lang(t, lang, id)) return GLOSSA_STATUS_OK;
    }
    if (t->family == GLOSSA_FAMILY_PLAIN || !t->n_langs)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "language '%.64s': this %s tokenizer has no language codes",
                            lang, tok_family_name(t->family));
    return glossa_error(GLOSSA_STATUS_BAD_INPUT, "unknown language '%.64s' for the %s tokenizer", lang,
                        tok_family_name(t->family));
}
