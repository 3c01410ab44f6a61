#include "tok/hf_added.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/status.h"
#include "tok/hf_json.h"
#include "tok/hf_unicode.h"

static glossa_status oom(void) { return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "added tokens"); }

/* ------------------------------------------------------------------------------------------- */
/* The two small maps: content -> id (with the special flag) and id -> token entry             */

static size_t cmap_slot(const hf_added *ad, const char *s, size_t len)
{
    size_t h = (size_t)tok_hash_bytes(s, len) & (ad->cmap_cap - 1);
    while (ad->cmap_key[h] && !(ad->cmap_len[h] == len && memcmp(ad->cmap_key[h], s, len) == 0))
        h = (h + 1) & (ad->cmap_cap - 1);
    return h;
}

int32_t hf_added_find(const hf_added *ad, const char *s, size_t len)
{
    if (!ad->cmap_cap) return -1;
    size_t h = cmap_slot(ad, s, len);
    return ad->cmap_key[h] ? ad->cmap_id[h] : -1;
}

bool hf_added_is_special_content(const hf_added *ad, const char *s, size_t len)
{
    if (!ad->cmap_cap) return false;
    size_t h = cmap_slot(ad, s, len);
    return ad->cmap_key[h] && ad->cmap_special[h];
}

static size_t id_slot(const hf_added *ad, int32_t id)
{
    size_t h = (size_t)tok_hash_bytes((const char *)&id, sizeof id) & (ad->by_id_cap - 1);
    while (ad->by_id_key[h] >= 0 && ad->by_id_key[h] != id) h = (h + 1) & (ad->by_id_cap - 1);
    return h;
}

const hf_added_token *hf_added_by_id(const hf_added *ad, int32_t id)
{
    if (!ad->by_id_cap || id < 0) return NULL;
    size_t h = id_slot(ad, id);
    return ad->by_id_key[h] == id ? &ad->all[ad->by_id_val[h]] : NULL;
}

static bool same_token(const hf_added_token *a, const hf_added_token *b)
{
    return a->len == b->len && memcmp(a->content, b->content, a->len) == 0 &&
           a->special == b->special && a->lstrip == b->lstrip && a->rstrip == b->rstrip &&
           a->normalized == b->normalized && a->single_word == b->single_word;
}

/* ------------------------------------------------------------------------------------------- */
/* Loading: AddedVocabulary::add_tokens over the file's list                                   */

static glossa_status parse_token(const json_t *e, size_t i, hf_added_token *t)
{
    char what[48];
    snprintf(what, sizeof what, "added_tokens[%zu]", i);
    if (!json_is_object(e)) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: not an object", what);
    const char *c;
    size_t len;
    GLOSSA_TRY(hfj_str(e, what, "content", false, &c, &len));
    GLOSSA_TRY(hfj_bool(e, what, "special", false, &t->special));
    GLOSSA_TRY(hfj_bool(e, what, "single_word", false, &t->single_word));
    GLOSSA_TRY(hfj_bool(e, what, "lstrip", false, &t->lstrip));
    GLOSSA_TRY(hfj_bool(e, what, "rstrip", false, &t->rstrip));
    GLOSSA_TRY(hfj_bool(e, what, "normalized", !t->special, &t->normalized));
    long long id;
    GLOSSA_TRY(hfj_int(e, what, "id", -1, 0, HF_MAX_ID, &id)); /* checked; ids are reassigned */
    t->content = malloc(len + 1);
    if (!t->content) return oom();
    memcpy(t->content, c, len);
    t->content[len] = '\0';
    t->len = len;
    return GLOSSA_STATUS_OK;
}

static glossa_status build_trie(hf_added *ad, bool normalized, const hf_normalizer *nz)
{
    const char **keys = calloc(ad->n ? ad->n : 1, sizeof *keys);
    uint32_t *lens = calloc(ad->n ? ad->n : 1, sizeof *lens);
    int32_t *vals = calloc(ad->n ? ad->n : 1, sizeof *vals);
    arena a;
    arena_init(&a, 16 * 1024);
    glossa_status st = keys && lens && vals ? GLOSSA_STATUS_OK : oom();
    size_t k = 0;
    for (size_t i = 0; i < ad->n && st == GLOSSA_STATUS_OK; i++) {
        const hf_added_token *t = &ad->tok[i];
        if (t->normalized != normalized) continue;
        const char *s = t->content;
        size_t len = t->len;
        if (normalized && nz->n) {
            hf_nstr ns;
            st = hf_normalize(nz, s, len, 0, &a, &ns);
            if (st != GLOSSA_STATUS_OK) break;
            s = ns.s;
            len = ns.len;
        }
        if (len == 0 || len >= UINT32_MAX) continue;
        keys[k] = s;
        lens[k] = (uint32_t)len;
        vals[k] = (int32_t)i;
        k++;
    }
    if (st == GLOSSA_STATUS_OK && k > 0) {
        st = tok_trie_build(normalized ? &ad->norm : &ad->raw, k, keys, lens, vals);
        if (st == GLOSSA_STATUS_OK) *(normalized ? &ad->has_norm : &ad->has_raw) = true;
    }
    arena_free(&a);
    free(keys);
    free(lens);
    free(vals);
    return st;
}

static void cmap_put(hf_added *ad, const hf_added_token *t, int32_t id, bool special)
{
    size_t h = cmap_slot(ad, t->content, t->len);
    if (!ad->cmap_key[h]) {
        ad->cmap_key[h] = t->content;
        ad->cmap_len[h] = t->len;
        ad->cmap_id[h] = -1;
    }
    if (id >= 0) ad->cmap_id[h] = id;
    if (special) ad->cmap_special[h] = true;
}

static glossa_status load_tokens(const json_t *arr, const hf_model *m, hf_added *ad)
{
    size_t n = json_array_size(arr);
    if (n > HF_MAX_ID) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "added_tokens: %zu entries is absurd", n);
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    ad->all = calloc(n ? n : 1, sizeof *ad->all);
    ad->tok = calloc(n ? n : 1, sizeof *ad->tok);
    ad->cmap_cap = ad->by_id_cap = cap;
    ad->cmap_key = calloc(cap, sizeof *ad->cmap_key);
    ad->cmap_len = calloc(cap, sizeof *ad->cmap_len);
    ad->cmap_id = calloc(cap, sizeof *ad->cmap_id);
    ad->cmap_special = calloc(cap, sizeof *ad->cmap_special);
    ad->by_id_key = malloc(cap * sizeof *ad->by_id_key);
    ad->by_id_val = calloc(cap, sizeof *ad->by_id_val);
    if (!ad->all || !ad->tok || !ad->cmap_key || !ad->cmap_len || !ad->cmap_id ||
        !ad->cmap_special || !ad->by_id_key || !ad->by_id_val)
        return oom();
    memset(ad->by_id_key, 0xFF, cap * sizeof *ad->by_id_key);
    for (size_t i = 0; i < n; i++) {
        GLOSSA_TRY(parse_token(json_array_get(arr, i), i, &ad->all[i]));
        ad->n_all++;
    }
    /* The special ones first, once per content: they form the special set. */
    for (size_t i = 0; i < n; i++) {
        hf_added_token *t = &ad->all[i];
        if (!t->special || t->len == 0 || hf_added_is_special_content(ad, t->content, t->len)) continue;
        cmap_put(ad, t, -1, true);
        ad->tok[ad->n++] = *t;
    }
    /* Then every token gets its id: the one it already has (added before, or in the model), else
     * the next one after the model's vocabulary and the added ids. */
    for (size_t i = 0; i < n; i++) {
        hf_added_token *t = &ad->all[i];
        if (t->len == 0) continue;
        int32_t id = hf_added_find(ad, t->content, t->len);
        if (id >= 0) {
            const hf_added_token *cur = hf_added_by_id(ad, id);
            if (cur && same_token(cur, t)) continue;
        } else {
            id = hf_model_find(m, t->content, t->len);
        }
        if (id < 0) {
            int32_t vs = m->n_pieces;
            id = ad->max_id < 0 ? vs : (ad->max_id >= vs || vs == 0) ? ad->max_id + 1 : vs;
            if (id > HF_MAX_ID) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "added_tokens: id out of range");
        }
        cmap_put(ad, t, id, false);
        t->id = id;
        if (id > ad->max_id) ad->max_id = id;
        size_t h = id_slot(ad, id);
        ad->by_id_key[h] = id;
        ad->by_id_val[h] = (int32_t)i;
        if (!hf_added_is_special_content(ad, t->content, t->len)) ad->tok[ad->n++] = *t;
    }
    for (size_t i = 0; i < ad->n; i++) ad->tok[i].id = hf_added_find(ad, ad->tok[i].content, ad->tok[i].len);
    return GLOSSA_STATUS_OK;
}

glossa_status hf_added_load(const void *json, const hf_model *m, const hf_normalizer *nz,
                            hf_added *ad)
{
    memset(ad, 0, sizeof *ad);
    ad->max_id = -1;
    const json_t *arr = json;
    if (!arr || json_is_null(arr)) return GLOSSA_STATUS_OK;
    if (!json_is_array(arr)) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "added_tokens is not an array");
    glossa_status st = load_tokens(arr, m, ad);
    if (st == GLOSSA_STATUS_OK) st = build_trie(ad, false, nz);
    if (st == GLOSSA_STATUS_OK) st = build_trie(ad, true, nz);
    if (st != GLOSSA_STATUS_OK) hf_added_free(ad);
    return st;
}

void hf_added_free(hf_added *ad)
{
    for (size_t i = 0; i < ad->n_all; i++) free(ad->all[i].content);
    free(ad->all);
    free(ad->tok);
    free(ad->cmap_key);
    free(ad->cmap_len);
    free(ad->cmap_id);
    free(ad->cmap_special);
    free(ad->by_id_key);
    free(ad->by_id_val);
    if (ad->has_raw) tok_trie_free(&ad->raw);
    if (ad->has_norm) tok_trie_free(&ad->norm);
    memset(ad, 0, sizeof *ad);
    ad->max_id = -1;
}

/* ------------------------------------------------------------------------------------------- */
/* Splitting                                                                                    */

static bool last_is_word(const char *s, size_t end)
{
    if (end == 0) return false;
    size_t p = end - 1, l;
    while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
    return hfu_is_word(hfu_decode(s + p, end - p, &l));
}

static bool first_is_word(const char *s, size_t n, size_t b)
{
    size_t l;
    return b < n && hfu_is_word(hfu_decode(s + b, n - b, &l));
}

glossa_status hf_added_split(const hf_added *ad, bool normalized, const char *s, size_t n,
                             hf_added_fn fn, void *ctx)
{
    const tok_trie *t = normalized ? &ad->norm : &ad->raw;
    bool have = normalized ? ad->has_norm : ad->has_raw;
    size_t start_offset = 0;
    for (size_t p = 0; have && p < n;) {
        int32_t entry = -1;
        size_t len = tok_trie_longest(t, s + p, n - p, &entry);
        if (len == 0) {
            p++;
            continue;
        }
        size_t start = p, stop = p + len;
        p = stop; /* the matcher goes on after this match, taken or not */
        const hf_added_token *e = &ad->tok[entry];
        int32_t id = e->id;
        const hf_added_token *tok = hf_added_by_id(ad, id);
        if (!tok) tok = e;
        if (tok->single_word && (last_is_word(s, start) || first_is_word(s, n, stop))) continue;
        if (tok->lstrip) {
            size_t b = start, l;
            while (b > 0) {
                size_t q = b - 1;
                while (q > 0 && ((unsigned char)s[q] & 0xC0) == 0x80) q--;
                if (!hfu_is_space(hfu_decode(s + q, b - q, &l))) break;
                b = q;
            }
            start = b > start_offset ? b : start_offset;
        }
        if (tok->rstrip) {
            size_t l;
            while (stop < n && hfu_is_space(hfu_decode(s + stop, n - stop, &l))) stop += l;
        }
        if (start_offset < start) GLOSSA_TRY(fn(ctx, -1, start_offset, start));
        GLOSSA_TRY(fn(ctx, id, start, stop));
        start_offset = stop;
    }
    if (start_offset < n) GLOSSA_TRY(fn(ctx, -1, start_offset, n));
    return GLOSSA_STATUS_OK;
}
