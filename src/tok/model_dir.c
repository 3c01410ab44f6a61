/* Loading a model directory's tokenizer as transformers 5.17 does (AutoTokenizer.from_pretrained):
 * tokenizer_config.json's tokenizer_class (else config.json's model_type and the files present)
 * picks the family; mBART-50 / NLLB use tokenizer.json when present, else the pipeline built from
 * sentencepiece.bpe.model; M2M100 uses sentencepiece.bpe.model + vocab.json; Marian source.spm /
 * target.spm + vocab.json (+ target_vocab.json with separate_vocabs). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/file.h"
#include "tok/family.h"
#include "tok/langs.h"
#include "tok/spm_convert.h"
#include "tok/tokenizer.h"

#define CONFIG_MAX_BYTES ((size_t)64 << 20)
#define PATH_CAP 4096

/* A JSON file of dir, or NULL (*root) when absent. */
static glossa_status load_json_opt(const char *dir, const char *name, json_t **root)
{
    *root = NULL;
    char path[PATH_CAP];
    GLOSSA_TRY(path_join(path, sizeof path, dir, name));
    if (!file_exists(path)) return GLOSSA_STATUS_OK;
    char *data;
    size_t size;
    GLOSSA_TRY(file_read_all(path, CONFIG_MAX_BYTES, &data, &size));
    json_error_t err;
    *root = json_loadb(data, size, 0, &err);
    free(data);
    if (!*root) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: line %d: %s", path, err.line, err.text);
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: not a JSON object", path);
    }
    return GLOSSA_STATUS_OK;
}

/* A special token of tokenizer_config.json: a string or an AddedToken object {"content": ...}. */
static const char *cfg_token(json_t *cfg, const char *key, const char *def)
{
    json_t *v = json_object_get(cfg, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_is_string(v) ? json_string_value(v) : def;
}

static bool cfg_bool(json_t *cfg, const char *key, bool def)
{
    json_t *v = json_object_get(cfg, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

static void cfg_lang(json_t *cfg, const char *key, char *out)
{
    json_t *v = json_object_get(cfg, key);
    out[0] = '\0';
    if (json_is_string(v) && strlen(json_string_value(v)) < TOK_LANG_CODE_MAX) strcpy(out, json_string_value(v));
}

static bool has_file(const char *dir, const char *name, char *path)
{
    return path_join(path, PATH_CAP, dir, name) == GLOSSA_STATUS_OK && file_exists(path);
}

static glossa_tokenizer_family detect(const char *dir, json_t *tc, json_t *mc)
{
    glossa_tokenizer_family f;
    if (tok_family_from_class(json_string_value(json_object_get(tc, "tokenizer_class")), &f)) return f;
    const char *mt = json_string_value(json_object_get(mc, "model_type"));
    char path[PATH_CAP];
    if ((mt && !strcmp(mt, "marian")) || has_file(dir, "source.spm", path)) return GLOSSA_FAMILY_MARIAN;
    if (mt && !strcmp(mt, "m2m_100") && !has_file(dir, "tokenizer.json", path)) {
        if (has_file(dir, "vocab.json", path)) return GLOSSA_FAMILY_M2M100;
        if (has_file(dir, "sentencepiece.bpe.model", path)) return GLOSSA_FAMILY_NLLB;
    }
    return GLOSSA_FAMILY_PLAIN; /* refined from the vocabulary in load_plain */
}

static glossa_status load_fairseq(glossa_tokenizer *t, const char *dir)
{
    char path[PATH_CAP];
    if (has_file(dir, "tokenizer.json", path)) return tok_load_hf_json(t, path);
    if (!has_file(dir, "sentencepiece.bpe.model", path))
        return glossa_error(GLOSSA_STATUS_NOT_FOUND, "%s: %s model directory has neither tokenizer.json nor sentencepiece.bpe.model",
                            dir, tok_family_name(t->family));
    char *json;
    size_t len;
    GLOSSA_TRY(spm_convert_family(t->family, path, &json, &len, &t->hf_is_bpe));
    glossa_status st = hf_tokenizer_load_buffer(json, len, &t->hf);
    free(json);
    if (st != GLOSSA_STATUS_OK) return glossa_error_prefix(st, "%s (converted): ", path);
    t->backend = TOK_BACKEND_HF;
    return GLOSSA_STATUS_OK;
}

static glossa_status load_pyspm(glossa_tokenizer *t, const char *dir, json_t *tc)
{
    char spm[PATH_CAP], tgt[PATH_CAP], vocab[PATH_CAP], tvocab[PATH_CAP];
    pyspm_config c = {.family = t->family,
                      .eos = cfg_token(tc, "eos_token", "</s>"),
                      .unk = cfg_token(tc, "unk_token", "<unk>"),
                      .pad = cfg_token(tc, "pad_token", "<pad>")};
    bool marian = t->family == GLOSSA_FAMILY_MARIAN;
    const char *need[3] = {marian ? "source.spm" : "sentencepiece.bpe.model", marian ? "target.spm" : NULL, "vocab.json"};
    char *paths[3] = {spm, tgt, vocab};
    for (int i = 0; i < 3; i++)
        if (need[i] && !has_file(dir, need[i], paths[i]))
            return glossa_error(GLOSSA_STATUS_NOT_FOUND, "%s: %s tokenizer needs %s", dir, tok_family_name(t->family), need[i]);
    c.spm = spm;
    c.vocab = vocab;
    if (marian) {
        c.tgt_spm = tgt;
        if (cfg_bool(tc, "separate_vocabs", false)) {
            if (!has_file(dir, "target_vocab.json", tvocab))
                return glossa_error(GLOSSA_STATUS_NOT_FOUND, "%s: separate_vocabs without target_vocab.json", dir);
            c.tgt_vocab = tvocab;
        }
    } else {
        c.bos = cfg_token(tc, "bos_token", "<s>");
    }
    GLOSSA_TRY(pyspm_load(&c, &t->py));
    t->backend = TOK_BACKEND_PYSPM;
    return GLOSSA_STATUS_OK;
}

static glossa_status load_plain(glossa_tokenizer *t, const char *dir)
{
    char path[PATH_CAP];
    if (has_file(dir, "tokenizer.json", path)) {
        GLOSSA_TRY(tok_load_hf_json(t, path));
        /* a family whose tokenizer_config does not say so: known by its language tokens */
        if (hf_tokenizer_token_to_id(t->hf, "zul_Latn", 8) >= 0 && hf_tokenizer_token_to_id(t->hf, "eng_Latn", 8) >= 0)
            t->family = GLOSSA_FAMILY_NLLB;
        else if (hf_tokenizer_token_to_id(t->hf, "sl_SI", 5) >= 0 && hf_tokenizer_token_to_id(t->hf, "en_XX", 5) >= 0)
            t->family = GLOSSA_FAMILY_MBART50;
        return GLOSSA_STATUS_OK;
    }
    static const char *const names[] = {"sentencepiece.bpe.model", "spiece.model", "tokenizer.model"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (has_file(dir, names[i], path)) {
            GLOSSA_TRY(spm_load_file(path, &t->spm));
            t->backend = TOK_BACKEND_SPM;
            return GLOSSA_STATUS_OK;
        }
    }
    return glossa_error(GLOSSA_STATUS_NOT_FOUND, "%s: no tokenizer files (tokenizer.json, sentencepiece model, vocab.json)", dir);
}

static glossa_status load_dir_into(glossa_tokenizer *t, const char *dir, json_t *tc, json_t *mc)
{
    t->family = detect(dir, tc, mc);
    switch (t->family) {
    case GLOSSA_FAMILY_MBART50:
    case GLOSSA_FAMILY_NLLB: GLOSSA_TRY(load_fairseq(t, dir)); break;
    case GLOSSA_FAMILY_M2M100:
    case GLOSSA_FAMILY_MARIAN: GLOSSA_TRY(load_pyspm(t, dir, tc)); break;
    default: GLOSSA_TRY(load_plain(t, dir)); break;
    }
    cfg_lang(tc, "src_lang", t->src_lang);
    cfg_lang(tc, "tgt_lang", t->tgt_lang);
    t->legacy_behaviour = cfg_bool(tc, "legacy_behaviour", false);
    t->clean_up_spaces = cfg_bool(tc, "clean_up_tokenization_spaces", false);
    GLOSSA_TRY(tok_tokenizer_finish(t));
    json_t *ds = json_object_get(mc, "decoder_start_token_id");
    if (json_is_integer(ds) && json_integer_value(ds) >= 0 && json_integer_value(ds) < INT32_MAX)
        t->special.decoder_start = (int32_t)json_integer_value(ds);
    return GLOSSA_STATUS_OK;
}

glossa_status tok_load_dir(const char *dir, glossa_tokenizer **out)
{
    *out = NULL;
    json_t *tc = NULL, *mc = NULL;
    GLOSSA_TRY(load_json_opt(dir, "tokenizer_config.json", &tc));
    glossa_status st = load_json_opt(dir, "config.json", &mc);
    glossa_tokenizer *t = st == GLOSSA_STATUS_OK ? tok_tokenizer_new() : NULL;
    if (st == GLOSSA_STATUS_OK && !t) st = glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "tokenizer");
    if (st == GLOSSA_STATUS_OK) st = load_dir_into(t, dir, tc, mc);
    json_decref(tc);
    json_decref(mc);
    if (st != GLOSSA_STATUS_OK) {
        glossa_tokenizer_free(t);
        return st;
    }
    *out = t;
    return GLOSSA_STATUS_OK;
}
