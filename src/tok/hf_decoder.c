#include "tok/hf_decoder.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "core/utf8.h"
#include "tok/hf_json.h"
#include "tok/hf_unicode.h"

static glossa_status oom(void) { return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "decoder"); }

/* A token list under construction, in the arena. */
typedef struct dlist {
    hf_dtok *v;
    size_t n, cap;
    arena *a;
} dlist;

static glossa_status dl_push(dlist *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        hf_dtok *v = arena_alloc(l->a, nc * sizeof *v);
        if (!v) return oom();
        if (l->n) memcpy(v, l->v, l->n * sizeof *v);
        l->v = v;
        l->cap = nc;
    }
    l->v[l->n++] = (hf_dtok){s, len};
    return GLOSSA_STATUS_OK;
}

/* A string under construction, in the arena. */
typedef struct dstr {
    char *s;
    size_t len, cap;
    arena *a;
} dstr;

static glossa_status ds_add(dstr *d, const char *s, size_t len)
{
    if (d->len + len > d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 32;
        while (nc < d->len + len) nc *= 2;
        char *ns = arena_alloc(d->a, nc);
        if (!ns) return oom();
        if (d->len) memcpy(ns, d->s, d->len);
        d->s = ns;
        d->cap = nc;
    }
    if (len) memcpy(d->s + d->len, s, len);
    d->len += len;
    return GLOSSA_STATUS_OK;
}

/* "<0xHH>" as the library reads it (u8::from_str_radix accepts a '+' sign). */
static int byte_token(const char *s, size_t len)
{
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0;
    for (int k = 3; k < 5; k++) {
        char c = s[k];
        int h = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (h < 0) {
            if (k == 3 && c == '+') continue;
            return -1;
        }
        v = v * 16 + h;
    }
    return v;
}

static glossa_status flush_bytes(dlist *out, dstr *bytes)
{
    if (bytes->len == 0) return GLOSSA_STATUS_OK;
    if (utf8_valid(bytes->s, bytes->len)) {
        GLOSSA_TRY(dl_push(out, bytes->s, bytes->len));
    } else {
        for (size_t i = 0; i < bytes->len; i++) GLOSSA_TRY(dl_push(out, "\xEF\xBF\xBD", 3));
    }
    *bytes = (dstr){NULL, 0, 0, bytes->a};
    return GLOSSA_STATUS_OK;
}

static glossa_status step(const hf_dec_step *st, const dlist *in, dlist *out)
{
    switch (st->type) {
    case HFD_FUSE: {
        dstr d = {NULL, 0, 0, out->a};
        for (size_t i = 0; i < in->n; i++) GLOSSA_TRY(ds_add(&d, in->v[i].s, in->v[i].len));
        return dl_push(out, d.s ? d.s : "", d.len);
    }
    case HFD_BYTE_FALLBACK: {
        dstr bytes = {NULL, 0, 0, out->a};
        for (size_t i = 0; i < in->n; i++) {
            int b = byte_token(in->v[i].s, in->v[i].len);
            if (b >= 0) {
                char c = (char)b;
                GLOSSA_TRY(ds_add(&bytes, &c, 1));
                continue;
            }
            GLOSSA_TRY(flush_bytes(out, &bytes));
            GLOSSA_TRY(dl_push(out, in->v[i].s, in->v[i].len));
        }
        return flush_bytes(out, &bytes);
    }
    case HFD_METASPACE:
        for (size_t i = 0; i < in->n; i++) {
            dstr d = {NULL, 0, 0, out->a};
            const char *s = in->v[i].s;
            size_t n = in->v[i].len;
            for (size_t k = 0; k < n;) {
                size_t l = hfu_char_len((unsigned char)s[k]);
                if (l > n - k) l = n - k;
                if (l == st->ch_len && memcmp(s + k, st->ch, l) == 0) {
                    if (!(i == 0 && st->prepend != HF_PREPEND_NEVER)) GLOSSA_TRY(ds_add(&d, " ", 1));
                } else {
                    GLOSSA_TRY(ds_add(&d, s + k, l));
                }
                k += l;
            }
            GLOSSA_TRY(dl_push(out, d.s ? d.s : "", d.len));
        }
        return GLOSSA_STATUS_OK;
    case HFD_STRIP:
        for (size_t i = 0; i < in->n; i++) {
            const char *s = in->v[i].s;
            size_t n = in->v[i].len, b = 0, e = n;
            for (size_t k = 0; k < st->start && b < n; k++) {
                if (n - b < st->ch_len || memcmp(s + b, st->ch, st->ch_len) != 0) break;
                b += st->ch_len;
            }
            for (size_t k = 0; k < st->stop && e > 0; k++) {
                if (e < st->ch_len || memcmp(s + e - st->ch_len, st->ch, st->ch_len) != 0) break;
                e -= st->ch_len;
            }
            GLOSSA_TRY(dl_push(out, s + b, e > b ? e - b : 0));
        }
        return GLOSSA_STATUS_OK;
    case HFD_REPLACE:
        for (size_t i = 0; i < in->n; i++) {
            dstr d = {NULL, 0, 0, out->a};
            const char *s = in->v[i].s;
            size_t n = in->v[i].len, prev = 0, ms, me;
            hf_match_iter it;
            hf_pattern_iter(&it, &st->pat, s, n, out->a);
            glossa_status err = GLOSSA_STATUS_OK;
            while (hf_match_next(&it, &ms, &me, &err)) {
                GLOSSA_TRY(ds_add(&d, s + prev, ms - prev));
                GLOSSA_TRY(ds_add(&d, st->content, st->content_len));
                prev = me;
            }
            if (err != GLOSSA_STATUS_OK) return err;
            GLOSSA_TRY(ds_add(&d, s + prev, n - prev));
            GLOSSA_TRY(dl_push(out, d.s ? d.s : "", d.len));
        }
        return GLOSSA_STATUS_OK;
    }
    return GLOSSA_STATUS_OK;
}

glossa_status hf_decode_tokens(const hf_decoder *d, const hf_dtok *toks, size_t n, arena *a,
                               strbuf *out)
{
    if (!d->present) {
        for (size_t i = 0; i < n; i++) {
            if (i) GLOSSA_TRY(strbuf_appendc(out, ' '));
            GLOSSA_TRY(strbuf_append(out, toks[i].s, toks[i].len));
        }
        return GLOSSA_STATUS_OK;
    }
    dlist cur = {(hf_dtok *)toks, n, n, a};
    for (size_t k = 0; k < d->n; k++) {
        dlist nx = {NULL, 0, 0, a};
        GLOSSA_TRY(step(&d->steps[k], &cur, &nx));
        cur = nx;
    }
    for (size_t i = 0; i < cur.n; i++) GLOSSA_TRY(strbuf_append(out, cur.v[i].s, cur.v[i].len));
    return GLOSSA_STATUS_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Loading                                                                                      */

static glossa_status load_one(const json_t *j, hf_decoder *d, int depth)
{
    const char *type;
    GLOSSA_TRY(hfj_type(j, "decoder", &type));
    if (strcmp(type, "Sequence") == 0) {
        if (depth >= HF_MAX_DEPTH) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "decoder: nested too deep");
        const json_t *arr;
        GLOSSA_TRY(hfj_array(j, "decoder.Sequence", "decoders", false, &arr));
        size_t i;
        const json_t *v;
        json_array_foreach(arr, i, v) GLOSSA_TRY(load_one(v, d, depth + 1));
        return GLOSSA_STATUS_OK;
    }
    if (d->n >= 256) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "decoder: more than 256 steps");
    hf_dec_step st;
    memset(&st, 0, sizeof st);
    glossa_status s = GLOSSA_STATUS_OK;
    if (strcmp(type, "Metaspace") == 0) {
        st.type = HFD_METASPACE;
        s = hfj_char(j, "decoder.Metaspace", "replacement", NULL, st.ch);
        const char *scheme = NULL;
        if (s == GLOSSA_STATUS_OK) s = hfj_str(j, "decoder.Metaspace", "prepend_scheme", true, &scheme, NULL);
        st.prepend = HF_PREPEND_ALWAYS;
        if (s == GLOSSA_STATUS_OK && scheme) s = hf_prepend_parse(scheme, "decoder.Metaspace", &st.prepend);
        if (s == GLOSSA_STATUS_OK && json_is_false(json_object_get(j, "add_prefix_space"))) {
            if (scheme && st.prepend != HF_PREPEND_NEVER)
                s = glossa_error(GLOSSA_STATUS_BAD_MODEL,
                                 "decoder.Metaspace: add_prefix_space does not match declared prepend_scheme");
            st.prepend = HF_PREPEND_NEVER;
        }
    } else if (strcmp(type, "ByteFallback") == 0) {
        st.type = HFD_BYTE_FALLBACK;
    } else if (strcmp(type, "Fuse") == 0) {
        st.type = HFD_FUSE;
    } else if (strcmp(type, "Strip") == 0) {
        st.type = HFD_STRIP;
        long long a = 0, b = 0;
        s = hfj_char(j, "decoder.Strip", "content", NULL, st.ch);
        if (s == GLOSSA_STATUS_OK) s = hfj_int(j, "decoder.Strip", "start", 0, 0, 1 << 20, &a);
        if (s == GLOSSA_STATUS_OK) s = hfj_int(j, "decoder.Strip", "stop", 0, 0, 1 << 20, &b);
        st.start = (size_t)a;
        st.stop = (size_t)b;
    } else if (strcmp(type, "Replace") == 0) {
        st.type = HFD_REPLACE;
        const char *c;
        size_t len;
        s = hfj_str(j, "decoder.Replace", "content", false, &c, &len);
        if (s == GLOSSA_STATUS_OK) {
            st.content = malloc(len + 1);
            if (!st.content) return oom();
            memcpy(st.content, c, len);
            st.content[len] = '\0';
            st.content_len = len;
            s = hf_pattern_load(json_object_get(j, "pattern"), "decoder.Replace", &st.pat);
        }
    } else {
        return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "decoder type \"%s\" is not supported", type);
    }
    st.ch_len = strlen(st.ch);
    if (s == GLOSSA_STATUS_OK) {
        hf_dec_step *v = realloc(d->steps, (d->n + 1) * sizeof *v);
        if (v) {
            d->steps = v;
            d->steps[d->n++] = st;
            return GLOSSA_STATUS_OK;
        }
        s = oom();
    }
    free(st.content);
    hf_pattern_free(&st.pat);
    return s;
}

glossa_status hf_decoder_load(const void *json, hf_decoder *d)
{
    memset(d, 0, sizeof *d);
    const json_t *j = json;
    if (!j || json_is_null(j)) return GLOSSA_STATUS_OK;
    d->present = true;
    glossa_status st = load_one(j, d, 0);
    if (st != GLOSSA_STATUS_OK) hf_decoder_free(d);
    return st;
}

void hf_decoder_free(hf_decoder *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->steps[i].content);
        hf_pattern_free(&d->steps[i].pat);
    }
    free(d->steps);
    memset(d, 0, sizeof *d);
}
