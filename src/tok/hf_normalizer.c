#include "tok/hf_normalizer.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/status.h"
#include "core/utf8.h"
#include "tok/hf_json.h"
#include "tok/hf_unicode.h"

/* ------------------------------------------------------------------------------------------- */
/* hf_nstr                                                                                      */

glossa_status hf_nstr_init(hf_nstr *ns, arena *a, size_t cap)
{
    if (cap < 16) cap = 16;
    ns->a = a;
    ns->len = 0;
    ns->cap = cap;
    ns->s = arena_alloc(a, cap);
    ns->al = arena_alloc(a, cap * sizeof *ns->al);
    if (!ns->s || !ns->al) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "normalized text of %zu bytes", cap);
    return GLOSSA_STATUS_OK;
}

glossa_status hf_nstr_push(hf_nstr *ns, const char *c, size_t clen, uint32_t al)
{
    if (ns->len + clen > ns->cap) {
        size_t nc = ns->cap * 2;
        while (nc < ns->len + clen) nc *= 2;
        if (nc > ((size_t)1 << 34)) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "normalized text too long");
        char *s = arena_alloc(ns->a, nc);
        uint32_t *a = arena_alloc(ns->a, nc * sizeof *a);
        if (!s || !a) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "normalized text of %zu bytes", nc);
        memcpy(s, ns->s, ns->len);
        memcpy(a, ns->al, ns->len * sizeof *a);
        ns->s = s;
        ns->al = a;
        ns->cap = nc;
    }
    for (size_t i = 0; i < clen; i++) {
        ns->s[ns->len + i] = c[i];
        ns->al[ns->len + i] = al;
    }
    ns->len += clen;
    return GLOSSA_STATUS_OK;
}

static glossa_status push_cp(hf_nstr *ns, uint32_t cp, uint32_t al)
{
    char b[4];
    size_t l = utf8_encode(cp, b);
    return hf_nstr_push(ns, b, l, al);
}

/* ------------------------------------------------------------------------------------------- */
/* NormalizedString::transform, with its alignment rules                                        */

typedef struct xform {
    const hf_nstr *old;
    size_t cur;     /* byte offset in old of the next character to consume */
    uint32_t base;  /* original offset of the NormalizedString's start */
    hf_nstr *out;
} xform;

/* One output character: change > 0 inserts it (aligned like the byte before the cursor),
 * change <= 0 replaces the character at the cursor and removes -change more. */
static glossa_status xf_push(xform *x, const char *c, size_t clen, long change)
{
    const hf_nstr *o = x->old;
    uint32_t al;
    if (change > 0) {
        al = x->cur > 0 ? o->al[x->cur - 1] : x->base;
    } else {
        al = x->cur < o->len ? o->al[x->cur] : (o->len ? o->al[o->len - 1] : x->base);
        for (long k = 1 - change; k > 0 && x->cur < o->len; k--)
            x->cur += hfu_char_len((unsigned char)o->s[x->cur]);
    }
    return hf_nstr_push(x->out, c, clen, al);
}

static size_t count_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* The replacement of old_count characters by rep[0..rep_len), as Precompiled pushes it. */
static glossa_status xf_replace(xform *x, const char *rep, size_t rep_len, size_t old_count)
{
    long new_count = (long)count_chars(rep, rep_len);
    long i = 0;
    for (size_t k = 0; k < rep_len; i++) {
        size_t l = hfu_char_len((unsigned char)rep[k]);
        if (l > rep_len - k) l = rep_len - k;
        long change = i == 0 ? new_count - (long)old_count : i;
        GLOSSA_TRY(xf_push(x, rep + k, l, change));
        k += l;
    }
    return GLOSSA_STATUS_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* The normalizers                                                                              */

static size_t nul_cut(const char *s, size_t n)
{
    const char *z = memchr(s, 0, n);
    return z ? (size_t)(z - s) : n;
}

static glossa_status do_precompiled(const tok_charsmap *cm, const hf_nstr *in, uint32_t base,
                                    hf_nstr *out)
{
    xform x = {in, 0, base, out};
    const char *s = in->s;
    size_t n = in->len;
    tok_charsmap_rule rule;
    for (size_t g = 0; g < n;) {
        size_t ge = hfu_grapheme_end(s, n, g);
        if (ge - g < 6) {
            size_t kl = nul_cut(s + g, ge - g);
            if (kl && tok_charsmap_prefixes(cm, s + g, kl, &rule, 1) > 0) {
                GLOSSA_TRY(xf_replace(&x, rule.out, rule.out_len, count_chars(s + g, ge - g)));
                g = ge;
                continue;
            }
        }
        for (size_t i = g; i < ge;) {
            size_t l = hfu_char_len((unsigned char)s[i]);
            size_t kl = nul_cut(s + i, l);
            if (kl && tok_charsmap_prefixes(cm, s + i, kl, &rule, 1) > 0)
                GLOSSA_TRY(xf_replace(&x, rule.out, rule.out_len, 1));
            else
                GLOSSA_TRY(xf_push(&x, s + i, l, 0));
            i += l;
        }
        g = ge;
    }
    return GLOSSA_STATUS_OK;
}

static glossa_status do_unicode(hf_norm_type t, const hf_nstr *in, hf_nstr *out)
{
    if (in->len == 0) return GLOSSA_STATUS_OK;
    utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
    if (t == HFN_NFKC || t == HFN_NFKD) opt |= UTF8PROC_COMPAT;
    size_t cap = in->len + 16;
    utf8proc_int32_t *buf = NULL;
    utf8proc_ssize_t n;
    for (int tries = 0;; tries++) {
        buf = arena_alloc(out->a, cap * sizeof *buf);
        if (!buf) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "unicode normalization");
        n = utf8proc_decompose((const utf8proc_uint8_t *)in->s, (utf8proc_ssize_t)in->len, buf,
                               (utf8proc_ssize_t)cap, opt);
        if (n < 0) return glossa_error(GLOSSA_STATUS_BAD_INPUT, "unicode normalization: %s", utf8proc_errmsg(n));
        if ((size_t)n <= cap) break;
        if (tries) return glossa_error(GLOSSA_STATUS_INTERNAL, "unicode normalization size");
        cap = (size_t)n;
    }
    if (t == HFN_NFC || t == HFN_NFKC) {
        n = utf8proc_normalize_utf32(buf, n, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (n < 0) return glossa_error(GLOSSA_STATUS_BAD_INPUT, "unicode normalization: %s", utf8proc_errmsg(n));
    }
    /* Output character j aligns with input character j (or the last one): exact at the start,
     * which is where alignments matter. */
    size_t ip = 0;
    for (utf8proc_ssize_t j = 0; j < n; j++) {
        GLOSSA_TRY(push_cp(out, (uint32_t)buf[j], in->al[ip]));
        size_t l = hfu_char_len((unsigned char)in->s[ip]);
        if (ip + l < in->len) ip += l;
    }
    return GLOSSA_STATUS_OK;
}

static glossa_status do_lowercase(const hf_nstr *in, hf_nstr *out)
{
    for (size_t i = 0; i < in->len;) {
        size_t l;
        uint32_t cp = hfu_decode(in->s + i, in->len - i, &l), lo[3];
        int k = hfu_lower(cp, lo);
        for (int j = 0; j < k; j++) GLOSSA_TRY(push_cp(out, lo[j], in->al[i]));
        i += l;
    }
    return GLOSSA_STATUS_OK;
}

static glossa_status do_strip(bool left, bool right, const hf_nstr *in, hf_nstr *out)
{
    size_t b = 0, e = in->len, l;
    if (left)
        while (b < e && hfu_is_space(hfu_decode(in->s + b, e - b, &l))) b += l;
    if (right)
        while (e > b) {
            size_t p = e - 1;
            while (p > b && ((unsigned char)in->s[p] & 0xC0) == 0x80) p--;
            if (!hfu_is_space(hfu_decode(in->s + p, e - p, &l))) break;
            e = p;
        }
    for (size_t i = b; i < e; i++) GLOSSA_TRY(hf_nstr_push(out, in->s + i, 1, in->al[i]));
    return GLOSSA_STATUS_OK;
}

static glossa_status do_prepend(const hf_norm_step *st, const hf_nstr *in, hf_nstr *out)
{
    if (in->len) GLOSSA_TRY(hf_nstr_push(out, st->str, st->str_len, in->al[0]));
    for (size_t i = 0; i < in->len; i++) GLOSSA_TRY(hf_nstr_push(out, in->s + i, 1, in->al[i]));
    return GLOSSA_STATUS_OK;
}

static glossa_status do_replace(const hf_norm_step *st, const hf_nstr *in, uint32_t base,
                                hf_nstr *out)
{
    hf_match_iter it;
    hf_pattern_iter(&it, &st->pat, in->s, in->len, in->a);
    size_t prev = 0, ms, me;
    glossa_status err = GLOSSA_STATUS_OK;
    while (hf_match_next(&it, &ms, &me, &err)) {
        for (size_t i = prev; i < ms; i++) GLOSSA_TRY(hf_nstr_push(out, in->s + i, 1, in->al[i]));
        uint32_t al = me > 0 ? in->al[me - 1] : base;
        GLOSSA_TRY(hf_nstr_push(out, st->str, st->str_len, al));
        prev = me;
    }
    if (err != GLOSSA_STATUS_OK) return err;
    for (size_t i = prev; i < in->len; i++) GLOSSA_TRY(hf_nstr_push(out, in->s + i, 1, in->al[i]));
    return GLOSSA_STATUS_OK;
}

glossa_status hf_normalize(const hf_normalizer *nz, const char *in, size_t len, uint32_t base,
                           arena *a, hf_nstr *out)
{
    hf_nstr cur;
    GLOSSA_TRY(hf_nstr_init(&cur, a, len));
    for (size_t i = 0; i < len; i++) {
        cur.s[i] = in[i];
        cur.al[i] = base + (uint32_t)i;
    }
    cur.len = len;
    for (size_t k = 0; k < nz->n; k++) {
        const hf_norm_step *st = &nz->steps[k];
        hf_nstr nx;
        GLOSSA_TRY(hf_nstr_init(&nx, a, cur.len + cur.len / 4 + 8));
        switch (st->type) {
        case HFN_PRECOMPILED: GLOSSA_TRY(do_precompiled(&st->cm, &cur, base, &nx)); break;
        case HFN_NFC: case HFN_NFD: case HFN_NFKC: case HFN_NFKD:
            GLOSSA_TRY(do_unicode(st->type, &cur, &nx));
            break;
        case HFN_LOWERCASE: GLOSSA_TRY(do_lowercase(&cur, &nx)); break;
        case HFN_STRIP: GLOSSA_TRY(do_strip(st->left, st->right, &cur, &nx)); break;
        case HFN_PREPEND: GLOSSA_TRY(do_prepend(st, &cur, &nx)); break;
        case HFN_REPLACE: GLOSSA_TRY(do_replace(st, &cur, base, &nx)); break;
        }
        cur = nx;
    }
    *out = cur;
    return GLOSSA_STATUS_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Loading                                                                                      */

static glossa_status add_step(hf_normalizer *nz, const hf_norm_step *st)
{
    hf_norm_step *s = realloc(nz->steps, (nz->n + 1) * sizeof *s);
    if (!s) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "normalizer");
    nz->steps = s;
    nz->steps[nz->n++] = *st;
    return GLOSSA_STATUS_OK;
}

static glossa_status dup_str(const char *s, size_t len, char **out)
{
    *out = malloc(len + 1);
    if (!*out) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "normalizer");
    memcpy(*out, s, len);
    (*out)[len] = '\0';
    return GLOSSA_STATUS_OK;
}

static glossa_status load_one(const json_t *j, hf_normalizer *nz, int depth)
{
    const char *type;
    GLOSSA_TRY(hfj_type(j, "normalizer", &type));
    hf_norm_step st;
    memset(&st, 0, sizeof st);
    if (strcmp(type, "Sequence") == 0) {
        if (depth >= HF_MAX_DEPTH) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "normalizer: Sequence nested too deep");
        const json_t *arr;
        GLOSSA_TRY(hfj_array(j, "normalizer.Sequence", "normalizers", false, &arr));
        size_t i;
        const json_t *v;
        json_array_foreach(arr, i, v) GLOSSA_TRY(load_one(v, nz, depth + 1));
        return GLOSSA_STATUS_OK;
    }
    if (strcmp(type, "Precompiled") == 0) {
        const char *b64;
        size_t len;
        GLOSSA_TRY(hfj_str(j, "normalizer.Precompiled", "precompiled_charsmap", false, &b64, &len));
        unsigned char *blob;
        size_t blen;
        GLOSSA_TRY(hfj_base64(b64, len, "normalizer.Precompiled", &blob, &blen));
        glossa_status s = blen ? tok_charsmap_load(&st.cm, blob, blen)
                               : glossa_error(GLOSSA_STATUS_BAD_MODEL, "empty charsmap");
        free(blob);
        if (s != GLOSSA_STATUS_OK) return glossa_error_prefix(s, "normalizer.Precompiled: ");
        st.type = HFN_PRECOMPILED;
    } else if (strcmp(type, "NFC") == 0) {
        st.type = HFN_NFC;
    } else if (strcmp(type, "NFD") == 0) {
        st.type = HFN_NFD;
    } else if (strcmp(type, "NFKC") == 0) {
        st.type = HFN_NFKC;
    } else if (strcmp(type, "NFKD") == 0) {
        st.type = HFN_NFKD;
    } else if (strcmp(type, "Lowercase") == 0) {
        st.type = HFN_LOWERCASE;
    } else if (strcmp(type, "Strip") == 0) {
        st.type = HFN_STRIP;
        GLOSSA_TRY(hfj_bool(j, "normalizer.Strip", "strip_left", true, &st.left));
        GLOSSA_TRY(hfj_bool(j, "normalizer.Strip", "strip_right", true, &st.right));
    } else if (strcmp(type, "Prepend") == 0) {
        const char *s;
        size_t len;
        GLOSSA_TRY(hfj_str(j, "normalizer.Prepend", "prepend", false, &s, &len));
        GLOSSA_TRY(dup_str(s, len, &st.str));
        st.str_len = len;
        st.type = HFN_PREPEND;
    } else if (strcmp(type, "Replace") == 0) {
        const char *s;
        size_t len;
        GLOSSA_TRY(hfj_str(j, "normalizer.Replace", "content", false, &s, &len));
        GLOSSA_TRY(dup_str(s, len, &st.str));
        st.str_len = len;
        st.type = HFN_REPLACE;
        glossa_status ps = hf_pattern_load(json_object_get(j, "pattern"), "normalizer.Replace", &st.pat);
        if (ps != GLOSSA_STATUS_OK) {
            free(st.str);
            return ps;
        }
    } else {
        return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "normalizer type \"%s\" is not supported", type);
    }
    glossa_status s = add_step(nz, &st);
    if (s != GLOSSA_STATUS_OK) {
        if (st.type == HFN_PRECOMPILED) tok_charsmap_free(&st.cm);
        free(st.str);
        hf_pattern_free(&st.pat);
    }
    return s;
}

glossa_status hf_normalizer_load(const void *json, hf_normalizer *nz)
{
    memset(nz, 0, sizeof *nz);
    const json_t *j = json;
    if (!j || json_is_null(j)) return GLOSSA_STATUS_OK;
    glossa_status st = load_one(j, nz, 0);
    if (st != GLOSSA_STATUS_OK) hf_normalizer_free(nz);
    return st;
}

void hf_normalizer_free(hf_normalizer *nz)
{
    for (size_t i = 0; i < nz->n; i++) {
        hf_norm_step *st = &nz->steps[i];
        if (st->type == HFN_PRECOMPILED) tok_charsmap_free(&st->cm);
        free(st->str);
        hf_pattern_free(&st->pat);
    }
    free(nz->steps);
    memset(nz, 0, sizeof *nz);
}
