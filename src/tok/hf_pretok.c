#include "tok/hf_pretok.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "tok/hf_json.h"
#include "tok/hf_unicode.h"

#define HF_MAX_PRETOK_STEPS 256

/* ------------------------------------------------------------------------------------------- */
/* Splitting (NormalizedString::split)                                                          */

typedef struct span {
    size_t b, e;
    bool m; /* is a match (before the behavior) / to remove */
} span;

typedef struct spans {
    span *v;
    size_t n, cap;
    arena *a;
} spans;

static glossa_status spans_push(spans *sp, size_t b, size_t e, bool m)
{
    if (sp->n == sp->cap) {
        size_t nc = sp->cap ? sp->cap * 2 : 32;
        span *v = arena_alloc(sp->a, nc * sizeof *v);
        if (!v) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "pre-tokenizer splits");
        if (sp->n) memcpy(v, sp->v, sp->n * sizeof *v);
        sp->v = v;
        sp->cap = nc;
    }
    sp->v[sp->n++] = (span){b, e, m};
    return GLOSSA_STATUS_OK;
}

/* Matches of a character predicate: every matching character is a match of its own. */
static glossa_status find_chars(const char *s, size_t n, const char *rep, size_t rep_len,
                                spans *out)
{
    size_t prev = 0;
    for (size_t i = 0; i < n;) {
        size_t l;
        bool hit;
        if (rep) {
            l = hfu_char_len((unsigned char)s[i]);
            hit = l == rep_len && memcmp(s + i, rep, l) == 0;
        } else {
            hit = hfu_is_space(hfu_decode(s + i, n - i, &l));
        }
        if (hit) {
            if (prev < i) GLOSSA_TRY(spans_push(out, prev, i, false));
            GLOSSA_TRY(spans_push(out, i, i + l, true));
            prev = i + l;
        }
        i += l;
    }
    if (prev < n) GLOSSA_TRY(spans_push(out, prev, n, false));
    return GLOSSA_STATUS_OK;
}

static glossa_status find_pattern(const hf_pattern *p, const char *s, size_t n, arena *a,
                                  spans *out)
{
    if (n == 0) return spans_push(out, 0, 0, false);
    hf_match_iter it;
    hf_pattern_iter(&it, p, s, n, a);
    size_t prev = 0, ms, me;
    glossa_status err = GLOSSA_STATUS_OK;
    while (hf_match_next(&it, &ms, &me, &err)) {
        if (prev != ms) GLOSSA_TRY(spans_push(out, prev, ms, false));
        GLOSSA_TRY(spans_push(out, ms, me, true));
        prev = me;
    }
    if (err != GLOSSA_STATUS_OK) return err;
    if (prev != n) GLOSSA_TRY(spans_push(out, prev, n, false));
    return GLOSSA_STATUS_OK;
}

/* Apply a delimiter behavior in place: afterwards v[i].m means "drop this span". */
static void apply_behavior(spans *sp, hf_split_behavior b)
{
    size_t o = 0;
    bool prev = false;
    switch (b) {
    case HF_SPLIT_REMOVED:
        return;
    case HF_SPLIT_ISOLATED:
        for (size_t i = 0; i < sp->n; i++) sp->v[i].m = false;
        return;
    case HF_SPLIT_CONTIGUOUS:
    case HF_SPLIT_MERGED_WITH_PREVIOUS:
        for (size_t i = 0; i < sp->n; i++) {
            bool m = sp->v[i].m;
            bool merge = b == HF_SPLIT_CONTIGUOUS ? m == prev : (m && !prev);
            if (merge && o > 0) {
                sp->v[o - 1].e = sp->v[i].e;
            } else {
                sp->v[o] = sp->v[i];
                sp->v[o++].m = false;
            }
            prev = m;
        }
        sp->n = o;
        return;
    case HF_SPLIT_MERGED_WITH_NEXT: {
        /* Right to left; the result is built at the end of the array, then moved down. */
        size_t w = sp->n;
        for (size_t i = sp->n; i-- > 0;) {
            span cur = sp->v[i];
            if (cur.m && !prev && w < sp->n) {
                sp->v[w].b = cur.b;
            } else {
                sp->v[--w] = cur;
                sp->v[w].m = false;
            }
            prev = cur.m;
        }
        memmove(sp->v, sp->v + w, (sp->n - w) * sizeof *sp->v);
        sp->n -= w;
        return;
    }
    }
}

/* ------------------------------------------------------------------------------------------- */
/* The walk                                                                                     */

typedef struct walk {
    const hf_pretok *p;
    arena *a;
    hf_piece_fn fn;
    void *ctx;
} walk;

static glossa_status visit(walk *w, size_t k, const char *s, const uint32_t *al, size_t len);

static glossa_status visit_spans(walk *w, size_t k, const spans *sp, const char *s,
                                 const uint32_t *al)
{
    for (size_t i = 0; i < sp->n; i++) {
        if (sp->v[i].m || sp->v[i].e <= sp->v[i].b) continue;
        GLOSSA_TRY(visit(w, k + 1, s + sp->v[i].b, al + sp->v[i].b, sp->v[i].e - sp->v[i].b));
    }
    return GLOSSA_STATUS_OK;
}

static glossa_status metaspace(walk *w, size_t k, const char *s, const uint32_t *al, size_t len)
{
    const hf_pretok_step *st = &w->p->steps[k];
    hf_nstr ns;
    GLOSSA_TRY(hf_nstr_init(&ns, w->a, len + len / 2 + st->rep_len));
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ')
            GLOSSA_TRY(hf_nstr_push(&ns, st->rep, st->rep_len, al[i]));
        else
            GLOSSA_TRY(hf_nstr_push(&ns, s + i, 1, al[i]));
    }
    bool starts = ns.len >= st->rep_len && memcmp(ns.s, st->rep, st->rep_len) == 0;
    bool prepend = !starts && (st->prepend == HF_PREPEND_ALWAYS ||
                               (st->prepend == HF_PREPEND_FIRST && len > 0 && al[0] == 0));
    if (prepend && ns.len > 0) {
        hf_nstr p2;
        GLOSSA_TRY(hf_nstr_init(&p2, w->a, ns.len + st->rep_len));
        GLOSSA_TRY(hf_nstr_push(&p2, st->rep, st->rep_len, ns.al[0]));
        memcpy(p2.s + p2.len, ns.s, ns.len);
        memcpy(p2.al + p2.len, ns.al, ns.len * sizeof *ns.al);
        p2.len += ns.len;
        ns = p2;
    }
    if (!st->split) return visit(w, k + 1, ns.s, ns.al, ns.len);
    spans sp = {NULL, 0, 0, w->a};
    GLOSSA_TRY(find_chars(ns.s, ns.len, st->rep, st->rep_len, &sp));
    apply_behavior(&sp, HF_SPLIT_MERGED_WITH_NEXT);
    return visit_spans(w, k, &sp, ns.s, ns.al);
}

static glossa_status visit(walk *w, size_t k, const char *s, const uint32_t *al, size_t len)
{
    if (len == 0) return GLOSSA_STATUS_OK;
    if (k == w->p->n) return w->fn(w->ctx, s, len);
    const hf_pretok_step *st = &w->p->steps[k];
    spans sp = {NULL, 0, 0, w->a};
    switch (st->type) {
    case HFP_METASPACE:
        return metaspace(w, k, s, al, len);
    case HFP_WHITESPACE_SPLIT:
        GLOSSA_TRY(find_chars(s, len, NULL, 0, &sp));
        break;
    case HFP_SPLIT:
        GLOSSA_TRY(find_pattern(&st->pat, s, len, w->a, &sp));
        if (st->invert)
            for (size_t i = 0; i < sp.n; i++) sp.v[i].m = !sp.v[i].m;
        apply_behavior(&sp, st->behavior);
        break;
    }
    return visit_spans(w, k, &sp, s, al);
}

glossa_status hf_pretokenize(const hf_pretok *p, const char *s, const uint32_t *al, size_t len,
                             arena *a, hf_piece_fn fn, void *ctx)
{
    walk w = {p, a, fn, ctx};
    return visit(&w, 0, s, al, len);
}

/* ------------------------------------------------------------------------------------------- */
/* Loading                                                                                      */

glossa_status hf_prepend_parse(const char *s, const char *what, hf_prepend *out)
{
    if (strcmp(s, "always") == 0) *out = HF_PREPEND_ALWAYS;
    else if (strcmp(s, "first") == 0) *out = HF_PREPEND_FIRST;
    else if (strcmp(s, "never") == 0) *out = HF_PREPEND_NEVER;
    else return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: unknown prepend_scheme \"%s\"", what, s);
    return GLOSSA_STATUS_OK;
}

static glossa_status load_metaspace(const json_t *j, hf_pretok_step *st)
{
    const char *what = "pre_tokenizer.Metaspace";
    st->type = HFP_METASPACE;
    GLOSSA_TRY(hfj_char(j, what, "replacement", NULL, st->rep));
    st->rep_len = strlen(st->rep);
    if (st->rep_len == 0 || st->rep[0] == ' ')
        return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "%s: a replacement of '%s' is not supported",
                            what, st->rep);
    GLOSSA_TRY(hfj_bool(j, what, "split", true, &st->split));
    const char *scheme;
    GLOSSA_TRY(hfj_str(j, what, "prepend_scheme", true, &scheme, NULL));
    st->prepend = HF_PREPEND_ALWAYS;
    if (scheme) GLOSSA_TRY(hf_prepend_parse(scheme, what, &st->prepend));
    const json_t *aps = json_object_get(j, "add_prefix_space");
    if (json_is_false(aps)) {
        /* Legacy files: add_prefix_space false means "never"; the library refuses a declared
         * scheme other than never alongside it. */
        if (scheme && st->prepend != HF_PREPEND_NEVER)
            return glossa_error(GLOSSA_STATUS_BAD_MODEL,
                                "%s: add_prefix_space does not match declared prepend_scheme", what);
        st->prepend = HF_PREPEND_NEVER;
    }
    return GLOSSA_STATUS_OK;
}

static glossa_status load_split(const json_t *j, hf_pretok_step *st)
{
    const char *what = "pre_tokenizer.Split";
    st->type = HFP_SPLIT;
    const char *b;
    GLOSSA_TRY(hfj_str(j, what, "behavior", false, &b, NULL));
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                  "Contiguous"};
    bool found = false;
    for (int i = 0; i < 5; i++)
        if (strcmp(b, names[i]) == 0) {
            st->behavior = (hf_split_behavior)i;
            found = true;
        }
    if (!found) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: unknown behavior \"%s\"", what, b);
    GLOSSA_TRY(hfj_bool(j, what, "invert", false, &st->invert));
    return hf_pattern_load(json_object_get(j, "pattern"), what, &st->pat);
}

static glossa_status load_one(const json_t *j, hf_pretok *p, int depth)
{
    const char *type;
    GLOSSA_TRY(hfj_type(j, "pre_tokenizer", &type));
    if (strcmp(type, "Sequence") == 0) {
        if (depth >= HF_MAX_DEPTH)
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "pre_tokenizer: Sequence nested too deep");
        const json_t *arr;
        GLOSSA_TRY(hfj_array(j, "pre_tokenizer.Sequence", "pretokenizers", false, &arr));
        size_t i;
        const json_t *v;
        json_array_foreach(arr, i, v) GLOSSA_TRY(load_one(v, p, depth + 1));
        return GLOSSA_STATUS_OK;
    }
    if (p->n >= HF_MAX_PRETOK_STEPS)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "pre_tokenizer: more than %d steps", HF_MAX_PRETOK_STEPS);
    hf_pretok_step st;
    memset(&st, 0, sizeof st);
    glossa_status s;
    if (strcmp(type, "Metaspace") == 0) {
        s = load_metaspace(j, &st);
    } else if (strcmp(type, "WhitespaceSplit") == 0) {
        st.type = HFP_WHITESPACE_SPLIT;
        s = GLOSSA_STATUS_OK;
    } else if (strcmp(type, "Split") == 0) {
        s = load_split(j, &st);
    } else {
        return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "pre_tokenizer type \"%s\" is not supported",
                            type);
    }
    if (s == GLOSSA_STATUS_OK) {
        hf_pretok_step *v = realloc(p->steps, (p->n + 1) * sizeof *v);
        if (v) {
            p->steps = v;
            p->steps[p->n++] = st;
            return GLOSSA_STATUS_OK;
        }
        s = glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "pre_tokenizer");
    }
    hf_pattern_free(&st.pat);
    return s;
}

glossa_status hf_pretok_load(const void *json, hf_pretok *p)
{
    memset(p, 0, sizeof *p);
    const json_t *j = json;
    if (!j || json_is_null(j)) return GLOSSA_STATUS_OK;
    glossa_status st = load_one(j, p, 0);
    if (st != GLOSSA_STATUS_OK) hf_pretok_free(p);
    return st;
}

void hf_pretok_free(hf_pretok *p)
{
    for (size_t i = 0; i < p->n; i++) hf_pattern_free(&p->steps[i].pat);
    free(p->steps);
    memset(p, 0, sizeof *p);
}
