#include "tok/hf_model.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "tok/hf_json.h"

static glossa_status oom(const char *what)
{
    return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "model: %s", what);
}

/* Byte fallback needs every <0xHH> piece in the shared encoders; the library uses the byte pieces
 * only when all bytes of an unknown piece have one, which is the same when all 256 exist and the
 * same as no fallback when none does. */
static bool byte_fallback_usable(const tok_vocab *v, bool wanted, const char *what)
{
    if (!wanted) return false;
    int32_t ids[256];
    if (tok_byte_ids_find(v, 0, ids)) return true;
    int found = 0;
    for (int i = 0; i < 256; i++) found += ids[i] >= 0;
    if (found)
        glossa_log(GLOSSA_LOG_LEVEL_WARN,
                   "%s: byte_fallback with only %d of the 256 <0xHH> pieces; unknown text becomes unk",
                   what, found);
    return false;
}

static glossa_status load_unigram(const json_t *j, hf_model *m)
{
    const char *what = "model.Unigram";
    const json_t *arr;
    GLOSSA_TRY(hfj_array(j, what, "vocab", false, &arr));
    size_t n = json_array_size(arr);
    if (n > HF_MAX_ID) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: %zu pieces is absurd", what, n);
    long long unk;
    GLOSSA_TRY(hfj_int(j, what, "unk_id", -1, 0, (long long)n - 1, &unk));
    if (json_is_integer(json_object_get(j, "unk_id")) && n == 0)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: empty vocabulary with an unk_id", what);
    bool bf;
    GLOSSA_TRY(hfj_bool(j, what, "byte_fallback", false, &bf));
    GLOSSA_TRY(tok_vocab_init(&m->vocab, (int32_t)n));
    m->present = malloc(n ? n : 1);
    double *scores = malloc((n ? n : 1) * sizeof *scores);
    if (!m->present || !scores) {
        free(scores);
        return oom("vocabulary");
    }
    memset(m->present, 1, n);
    m->n_pieces = (int32_t)n;
    glossa_status st = GLOSSA_STATUS_OK;
    for (size_t i = 0; i < n && st == GLOSSA_STATUS_OK; i++) {
        const json_t *e = json_array_get(arr, i);
        double score;
        if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_string(json_array_get(e, 0)) ||
            !hfj_number(json_array_get(e, 1), &score)) {
            st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: vocab[%zu] is not [piece, score]", what, i);
            break;
        }
        const json_t *p = json_array_get(e, 0);
        scores[i] = score;
        st = tok_vocab_set(&m->vocab, (int32_t)i, json_string_value(p), json_string_length(p),
                           (float)score, TOK_PIECE_NORMAL);
    }
    if (st == GLOSSA_STATUS_OK) st = tok_vocab_build_index(&m->vocab, 1);
    m->unk_id = (int32_t)unk;
    m->unigram_no_unk = unk < 0;
    if (st == GLOSSA_STATUS_OK && n > 0) {
        unigram_options o = unigram_default_options();
        o.unk_id = unk >= 0 ? (int32_t)unk : 0;
        o.byte_fallback = byte_fallback_usable(&m->vocab, bf, what);
        o.fuse_unk = true;
        o.spm_piece_types = false;
        o.scores_f64 = scores;
        st = unigram_init(&m->uni, &m->vocab, &o);
        m->built = st == GLOSSA_STATUS_OK;
    }
    free(scores);
    return st;
}

/* "a b" or ["a", "b"] */
static glossa_status merge_pair(const json_t *e, size_t i, const char **a, size_t *al,
                                const char **b, size_t *bl)
{
    if (json_is_string(e)) {
        const char *s = json_string_value(e);
        size_t n = json_string_length(e);
        const char *sp = memchr(s, ' ', n);
        if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s)))
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "model.BPE: merges[%zu] is not \"a b\"", i);
        *a = s;
        *al = (size_t)(sp - s);
        *b = sp + 1;
        *bl = n - *al - 1;
        return GLOSSA_STATUS_OK;
    }
    if (json_is_array(e) && json_array_size(e) == 2 && json_is_string(json_array_get(e, 0)) &&
        json_is_string(json_array_get(e, 1))) {
        *a = json_string_value(json_array_get(e, 0));
        *al = json_string_length(json_array_get(e, 0));
        *b = json_string_value(json_array_get(e, 1));
        *bl = json_string_length(json_array_get(e, 1));
        return GLOSSA_STATUS_OK;
    }
    return glossa_error(GLOSSA_STATUS_BAD_MODEL, "model.BPE: merges[%zu] is not a pair", i);
}

/* Merges as id pairs; a pair listed twice keeps its last rank (the library's HashMap collect). */
static glossa_status load_merges(const json_t *arr, const tok_vocab *v, int32_t **out, size_t *n_out)
{
    size_t n = json_array_size(arr);
    *out = NULL;
    *n_out = 0;
    if (n == 0) return GLOSSA_STATUS_OK;
    if (n > HF_MAX_ID) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "model.BPE: %zu merges is absurd", n);
    int32_t *pairs = malloc(n * 2 * sizeof *pairs);
    size_t cap = 16;
    while (cap < n * 2) cap *= 2;
    uint64_t *keys = calloc(cap, sizeof *keys);
    uint32_t *last = malloc(cap * sizeof *last);
    glossa_status st = GLOSSA_STATUS_OK;
    if (!pairs || !keys || !last) st = oom("merges");
    for (size_t i = 0; i < n && st == GLOSSA_STATUS_OK; i++) {
        const char *a = NULL, *b = NULL;
        size_t al = 0, bl = 0;
        st = merge_pair(json_array_get(arr, i), i, &a, &al, &b, &bl);
        if (st != GLOSSA_STATUS_OK) break;
        int32_t ia = tok_vocab_find(v, a, al), ib = tok_vocab_find(v, b, bl);
        if (ia < 0 || ib < 0) {
            st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "model.BPE: merges[%zu] \"%.*s\" is not in the vocab",
                              i, (int)(ia < 0 ? al : bl), ia < 0 ? a : b);
            break;
        }
        pairs[2 * i] = ia;
        pairs[2 * i + 1] = ib;
        uint64_t key = ((uint64_t)(uint32_t)ia << 32 | (uint32_t)ib) + 1;
        size_t h = (size_t)(tok_hash_bytes((const char *)&key, sizeof key) & (cap - 1));
        while (keys[h] && keys[h] != key) h = (h + 1) & (cap - 1);
        keys[h] = key;
        last[h] = (uint32_t)i;
    }
    size_t o = 0;
    for (size_t i = 0; i < n && st == GLOSSA_STATUS_OK; i++) {
        uint64_t key = ((uint64_t)(uint32_t)pairs[2 * i] << 32 | (uint32_t)pairs[2 * i + 1]) + 1;
        size_t h = (size_t)(tok_hash_bytes((const char *)&key, sizeof key) & (cap - 1));
        while (keys[h] != key) h = (h + 1) & (cap - 1);
        if (last[h] != i) continue;
        pairs[2 * o] = pairs[2 * i];
        pairs[2 * o + 1] = pairs[2 * i + 1];
        o++;
    }
    free(keys);
    free(last);
    if (st != GLOSSA_STATUS_OK) {
        free(pairs);
        return st;
    }
    *out = pairs;
    *n_out = o;
    return GLOSSA_STATUS_OK;
}

static glossa_status load_bpe(const json_t *j, hf_model *m)
{
    const char *what = "model.BPE";
    const json_t *vocab = json_object_get(j, "vocab");
    if (!json_is_object(vocab)) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: \"vocab\" is not an object", what);
    const char *key;
    const json_t *val;
    long long max_id = -1;
    json_object_foreach((json_t *)vocab, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) > HF_MAX_ID)
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: id of \"%s\" is not an integer in [0, %d]",
                                what, key, HF_MAX_ID);
        if (json_integer_value(val) > max_id) max_id = json_integer_value(val);
    }
    int32_t n = (int32_t)(max_id + 1);
    GLOSSA_TRY(tok_vocab_init(&m->vocab, n));
    m->present = calloc(n ? (size_t)n : 1, 1);
    if (!m->present) return oom("vocabulary");
    json_object_foreach((json_t *)vocab, key, val) {
        int32_t id = (int32_t)json_integer_value(val);
        GLOSSA_TRY(tok_vocab_set(&m->vocab, id, key, strlen(key), 0.0f, TOK_PIECE_NORMAL));
        m->n_pieces += !m->present[id];
        m->present[id] = 1;
    }
    for (int32_t i = 0; i < n; i++)
        if (!m->present[i]) m->vocab.type[i] = TOK_PIECE_UNUSED;
    GLOSSA_TRY(tok_vocab_build_index(&m->vocab, 1));
    const char *s;
    size_t sl;
    GLOSSA_TRY(hfj_str(j, what, "continuing_subword_prefix", true, &s, &sl));
    if (s && sl) return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "%s: continuing_subword_prefix is not supported", what);
    GLOSSA_TRY(hfj_str(j, what, "end_of_word_suffix", true, &s, &sl));
    if (s && sl) return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "%s: end_of_word_suffix is not supported", what);
    const json_t *dropout = json_object_get(j, "dropout");
    double d;
    if (dropout && !json_is_null(dropout) && !hfj_number(dropout, &d))
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: dropout is not a number", what);
    GLOSSA_TRY(hfj_str(j, what, "unk_token", true, &s, &sl));
    m->unk_id = s ? tok_vocab_find(&m->vocab, s, sl) : -1;
    if (m->unk_id >= 0 && !m->present[m->unk_id]) m->unk_id = -1;
    if (s && m->unk_id < 0)
        glossa_log(GLOSSA_LOG_LEVEL_WARN, "%s: unk_token \"%s\" is not in the vocab; unknown text is dropped",
                   what, s);
    bpe_options o = bpe_default_options();
    o.mode = BPE_MODE_HF;
    o.unk_id = m->unk_id;
    bool bf;
    GLOSSA_TRY(hfj_bool(j, what, "fuse_unk", false, &o.fuse_unk));
    GLOSSA_TRY(hfj_bool(j, what, "byte_fallback", false, &bf));
    GLOSSA_TRY(hfj_bool(j, what, "ignore_merges", false, &o.ignore_merges));
    o.byte_fallback = byte_fallback_usable(&m->vocab, bf, what);
    const json_t *merges;
    GLOSSA_TRY(hfj_array(j, what, "merges", true, &merges));
    int32_t *pairs = NULL;
    size_t np = 0;
    if (merges) GLOSSA_TRY(load_merges(merges, &m->vocab, &pairs, &np));
    o.merges = pairs;
    o.n_merges = np;
    glossa_status st = bpe_init(&m->bpe, &m->vocab, &o);
    free(pairs);
    if (st != GLOSSA_STATUS_OK) return glossa_error_prefix(st, "%s: ", what);
    m->built = true;
    return GLOSSA_STATUS_OK;
}

glossa_status hf_model_load(const void *json, hf_model *m)
{
    memset(m, 0, sizeof *m);
    m->unk_id = -1;
    const json_t *j = json;
    const char *type = NULL;
    if (json_is_object(j) && !json_object_get(j, "type")) {
        /* Old files leave the type out: the shape tells. */
        type = json_is_object(json_object_get(j, "vocab")) ? "BPE" : "Unigram";
    } else {
        GLOSSA_TRY(hfj_type(j, "model", &type));
    }
    glossa_status st;
    if (strcmp(type, "Unigram") == 0) {
        m->type = HF_MODEL_UNIGRAM;
        st = load_unigram(j, m);
    } else if (strcmp(type, "BPE") == 0) {
        m->type = HF_MODEL_BPE;
        st = load_bpe(j, m);
    } else {
        st = glossa_error(GLOSSA_STATUS_UNSUPPORTED, "model type \"%s\" is not supported", type);
    }
    if (st != GLOSSA_STATUS_OK) hf_model_free(m);
    return st;
}

void hf_model_free(hf_model *m)
{
    if (m->built) {
        if (m->type == HF_MODEL_UNIGRAM) unigram_free(&m->uni);
        else bpe_free(&m->bpe);
    }
    tok_vocab_free(&m->vocab);
    free(m->present);
    memset(m, 0, sizeof *m);
    m->unk_id = -1;
}

glossa_status hf_model_encode(const hf_model *m, const char *s, size_t len, tok_ws *ws, idvec *out)
{
    if (len == 0) return GLOSSA_STATUS_OK;
    if (!m->built)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "the tokenizer's model has an empty vocabulary");
    if (m->type == HF_MODEL_BPE) return bpe_encode(&m->bpe, s, len, ws, out);
    if (!m->unigram_no_unk) return unigram_encode(&m->uni, s, len, ws, out);
    const tok_seg *segs;
    size_t n;
    GLOSSA_TRY(unigram_segment(&m->uni, s, len, ws, &segs, &n));
    GLOSSA_TRY(idvec_reserve(out, n));
    for (size_t i = 0; i < n; i++) {
        const tok_seg *g = &segs[i];
        if (g->id == 0 && (m->vocab.piece_len[0] != g->len || memcmp(m->vocab.piece[0], s + g->begin, g->len) != 0))
            return glossa_error(GLOSSA_STATUS_BAD_INPUT,
                                "unknown text \"%.*s\" and the Unigram model has no unk_id",
                                (int)g->len, s + g->begin);
        out->data[out->len++] = g->id;
    }
    return GLOSSA_STATUS_OK;
}

const char *hf_model_piece(const hf_model *m, int32_t id, size_t *len)
{
    if (id < 0 || id >= m->vocab.n || !m->present[id]) return NULL;
    if (len) *len = m->vocab.piece_len[id];
    return m->vocab.piece[id];
}

int32_t hf_model_find(const hf_model *m, const char *s, size_t len)
{
    int32_t id = tok_vocab_find(&m->vocab, s, len);
    return id >= 0 && m->present[id] ? id : -1;
}
