/* sentencepiece.bpe.model -> the tokenizer.json transformers 5 builds for mBART-50 / NLLB. */
#include "tok/spm_convert.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "core/utf8.h"
#include "io/file.h"
#include "tok/langs.h"
#include "tok/spm_model.h"

#define SPACE_SYMBOL "\xE2\x96\x81"

static char *base64(const unsigned char *d, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
    if (!out) return NULL;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63], *o++ = tab[(v >> 6) & 63], *o++ = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0);
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

/* json_t helpers that return NULL on allocation failure (jansson steals the references). */
static int put(json_t *obj, const char *key, json_t *val) { return val ? json_object_set_new(obj, key, val) : -1; }
static int push(json_t *arr, json_t *val) { return val ? json_array_append_new(arr, val) : -1; }

static json_t *metaspace(void)
{
    json_t *m = json_object();
    if (!m || put(m, "type", json_string("Metaspace")) || put(m, "replacement", json_string(SPACE_SYMBOL)) ||
        put(m, "prepend_scheme", json_string("always")) || put(m, "split", json_true())) {
        json_decref(m);
        return NULL;
    }
    return m;
}

static json_t *normalizer(const spm_model *m)
{
    json_t *seq = json_object(), *list = json_array(), *rep = json_object(), *pat = json_object();
    int bad = !seq || !list || !rep || !pat;
    if (!bad && m->normalizer.charsmap_len) {
        char *b64 = base64(m->normalizer.charsmap, m->normalizer.charsmap_len);
        json_t *pc = json_object();
        bad = !b64 || !pc || put(pc, "type", json_string("Precompiled")) ||
              put(pc, "precompiled_charsmap", json_string(b64)) || push(list, pc);
        if (bad && pc && !b64) json_decref(pc);
        free(b64);
    }
    if (!bad) {
        bad = put(pat, "Regex", json_string(" {2,}")) || put(rep, "type", json_string("Replace")) ||
              put(rep, "pattern", pat);
        pat = NULL;
        bad = bad || put(rep, "content", json_string(" ")) || push(list, rep);
        rep = NULL;
    }
    if (!bad) {
        bad = put(seq, "type", json_string("Sequence")) || put(seq, "normalizers", list);
        list = NULL;
    }
    json_decref(pat);
    json_decref(rep);
    json_decref(list);
    if (bad) {
        json_decref(seq);
        return NULL;
    }
    return seq;
}

static int add_token(json_t *arr, int32_t id, const char *content, bool mask)
{
    json_t *t = json_object();
    if (!t || put(t, "id", json_integer(id)) || put(t, "content", json_string(content)) ||
        put(t, "single_word", json_false()) || put(t, "lstrip", json_boolean(mask)) ||
        put(t, "rstrip", json_false()) || put(t, "normalized", json_boolean(mask)) ||
        put(t, "special", json_true())) {
        json_decref(t);
        return -1;
    }
    return push(arr, t);
}

static const char *const FAIRSEQ_SPECIAL[4] = {"<s>", "<pad>", "</s>", "<unk>"};

/* Unigram: specials, pieces[3:], language codes, <mask>. */
static json_t *unigram_model(const spm_model *m, const tok_lang *langs, size_t n_langs)
{
    json_t *model = json_object(), *vocab = json_array();
    int bad = !model || !vocab;
    for (int i = 0; !bad && i < 4; i++)
        bad = push(vocab, json_pack("[sf]", FAIRSEQ_SPECIAL[i], 0.0));
    for (int32_t i = 3; !bad && i < m->vocab.n; i++)
        bad = push(vocab, json_pack("[s%f]", m->vocab.piece[i], (size_t)m->vocab.piece_len[i],
                                    (double)m->vocab.score[i]));
    for (size_t i = 0; !bad && i < n_langs; i++) bad = push(vocab, json_pack("[sf]", langs[i].code, 0.0));
    bad = bad || push(vocab, json_pack("[sf]", "<mask>", 0.0));
    if (!bad) {
        bad = put(model, "type", json_string("Unigram")) || put(model, "unk_id", json_integer(3)) ||
              put(model, "vocab", vocab);
        vocab = NULL;
        bad = bad || put(model, "byte_fallback", json_false());
    }
    json_decref(vocab);
    if (bad) {
        json_decref(model);
        return NULL;
    }
    return model;
}

/* generate_merges(vocab) over the proto's pieces (vocab: piece -> first id). */
static int bpe_merges(const spm_model *m, json_t *merges)
{
    const tok_vocab *v = &m->vocab;
    for (int32_t i = 0; i < v->n; i++) {
        const char *s = v->piece[i];
        size_t len = v->piece_len[i];
        if (tok_vocab_find(v, s, len) != i) continue; /* a duplicate piece */
        size_t k = 0;
        while (k < len) {
            size_t cl;
            utf8_decode(s + k, len - k, &cl);
            k += cl ? cl : 1;
            if (k >= len) break;
            if (tok_vocab_find(v, s, k) >= 0 && tok_vocab_find(v, s + k, len - k) >= 0)
                if (push(merges, json_pack("[s%s%]", s, k, s + k, len - k))) return -1;
        }
    }
    return 0;
}

/* BPE: specials, then the pieces in order (skipping those already there). *n_vocab gets its size. */
static json_t *bpe_model(const spm_model *m, int32_t *n_vocab)
{
    json_t *model = json_object(), *vocab = json_object(), *merges = json_array();
    int bad = !model || !vocab || !merges;
    int32_t n = 0;
    for (int i = 0; !bad && i < 4; i++) bad = put(vocab, FAIRSEQ_SPECIAL[i], json_integer(n++));
    for (int32_t i = 0; !bad && i < m->vocab.n; i++) {
        char *key = strndup(m->vocab.piece[i], m->vocab.piece_len[i]);
        bad = !key;
        if (!bad && !json_object_get(vocab, key)) bad = put(vocab, key, json_integer(n++));
        free(key);
    }
    bad = bad || bpe_merges(m, merges);
    if (!bad) {
        bad = put(model, "type", json_string("BPE")) || put(model, "dropout", json_null()) ||
              put(model, "unk_token", json_string("<unk>")) ||
              put(model, "continuing_subword_prefix", json_null()) ||
              put(model, "end_of_word_suffix", json_null()) || put(model, "fuse_unk", json_true()) ||
              put(model, "byte_fallback", json_false()) || put(model, "ignore_merges", json_false()) ||
              put(model, "vocab", vocab);
        vocab = NULL;
        bad = bad || put(model, "merges", merges);
        merges = NULL;
    }
    json_decref(vocab);
    json_decref(merges);
    if (bad) {
        json_decref(model);
        return NULL;
    }
    *n_vocab = n;
    return model;
}

static json_t *build(glossa_tokenizer_family family, const spm_model *m)
{
    size_t n_langs;
    const tok_lang *langs = tok_langs_table(family, &n_langs);
    json_t *root = json_object(), *added = json_array();
    json_t *model = NULL;
    int32_t base;
    if (family == GLOSSA_FAMILY_NLLB) {
        model = bpe_model(m, &base);
    } else {
        model = unigram_model(m, langs, n_langs);
        base = m->vocab.n + 1;
    }
    int bad = !root || !added || !model;
    for (int i = 0; !bad && i < 4; i++) bad = add_token(added, i, FAIRSEQ_SPECIAL[i], false);
    for (size_t i = 0; !bad && i < n_langs; i++) bad = add_token(added, base + (int32_t)i, langs[i].code, false);
    bad = bad || add_token(added, base + (int32_t)n_langs, "<mask>", true);
    if (!bad) {
        bad = put(root, "version", json_string("1.0")) || put(root, "truncation", json_null()) ||
              put(root, "padding", json_null()) || put(root, "added_tokens", added);
        added = NULL;
        bad = bad || put(root, "normalizer", normalizer(m)) || put(root, "pre_tokenizer", metaspace()) ||
              put(root, "post_processor", json_null()) || put(root, "decoder", metaspace()) ||
              put(root, "model", model);
        model = NULL;
    }
    json_decref(added);
    json_decref(model);
    if (bad) {
        json_decref(root);
        return NULL;
    }
    return root;
}

glossa_status spm_convert_family(glossa_tokenizer_family family, const char *spm_path,
                                 char **json_out, size_t *len_out, bool *is_bpe)
{
    *json_out = NULL;
    *len_out = 0;
    if (family != GLOSSA_FAMILY_MBART50 && family != GLOSSA_FAMILY_NLLB)
        return glossa_error(GLOSSA_STATUS_INTERNAL, "spm_convert_family: not a fairseq family");
    file_map fm;
    GLOSSA_TRY(file_map_open(spm_path, &fm));
    spm_model m;
    glossa_status st = spm_model_parse(fm.data, fm.size, &m);
    file_map_close(&fm);
    if (st != GLOSSA_STATUS_OK) return glossa_error_prefix(st, "%s: ", spm_path);
    if (m.vocab.n < 4) {
        spm_model_free(&m);
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: %d pieces, a fairseq vocabulary needs <unk> <s> </s> first",
                            spm_path, m.vocab.n);
    }
    st = tok_vocab_build_index(&m.vocab, 0);
    json_t *root = st == GLOSSA_STATUS_OK ? build(family, &m) : NULL;
    spm_model_free(&m);
    if (st != GLOSSA_STATUS_OK) return st;
    if (!root) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "%s: building the tokenizer (or a piece is not UTF-8)", spm_path);
    *json_out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!*json_out) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "%s: tokenizer JSON", spm_path);
    *len_out = strlen(*json_out);
    *is_bpe = family == GLOSSA_FAMILY_NLLB;
    return GLOSSA_STATUS_OK;
}
