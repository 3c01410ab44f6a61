#include "tok/normalizer.h"

#include <string.h>

#include "core/status.h"
#include "core/utf8.h"

static const char k_space_symbol[] = "\xe2\x96\x81"; /* U+2581 */

glossa_status spm_normalizer_init(spm_normalizer *n, const void *charsmap, size_t charsmap_len,
                                  bool add_dummy_prefix, bool remove_extra_whitespaces,
                                  bool escape_whitespaces, bool treat_whitespace_as_suffix,
                                  const tok_trie *user_defined)
{
    memset(n, 0, sizeof *n);
    if (charsmap && charsmap_len) {
        GLOSSA_TRY(tok_charsmap_load(&n->charsmap, charsmap, charsmap_len));
        n->has_charsmap = true;
    }
    n->user_defined = user_defined;
    n->add_dummy_prefix = add_dummy_prefix;
    n->remove_extra_whitespaces = remove_extra_whitespaces;
    n->escape_whitespaces = escape_whitespaces;
    n->treat_whitespace_as_suffix = treat_whitespace_as_suffix;
    for (unsigned c = 0; c < 128; c++) {
        bool plain = !(n->has_charsmap && tok_charsmap_may_start(&n->charsmap, (unsigned char)c));
        if (plain && user_defined && user_defined->units) {
            uint32_t node = TOK_TRIE_ROOT;
            plain = tok_trie_step(user_defined, &node, (unsigned char)c) == TOK_TRIE_NO_PATH;
        }
        n->plain[c] = plain;
    }
    return GLOSSA_STATUS_OK;
}

void spm_normalizer_free(spm_normalizer *n)
{
    if (n->has_charsmap) tok_charsmap_free(&n->charsmap);
    memset(n, 0, sizeof *n);
}

/* Normalizer::NormalizePrefix: the replacement of the longest prefix rule at in[0..len) (len >= 1)
 * and how many input bytes it consumes. */
static inline const char *normalize_prefix(const spm_normalizer *n, const char *in, size_t len,
                                           size_t *out_len, size_t *consumed)
{
    unsigned char c = (unsigned char)in[0];
    if (n->user_defined) {
        int32_t v;
        size_t l = tok_trie_longest(n->user_defined, in, len, &v);
        if (l) {
            *out_len = *consumed = l;
            return in;
        }
    }
    if (n->has_charsmap && tok_charsmap_may_start(&n->charsmap, c)) {
        tok_charsmap_rule r;
        if (tok_charsmap_longest(&n->charsmap, in, len, &r)) {
            *out_len = r.out_len;
            *consumed = r.in_len;
            return r.out;
        }
    }
    if (c < 0x80) {
        *out_len = *consumed = 1;
        return in;
    }
    size_t l;
    if (!utf8_is_valid_at(in, len, &l)) {
        *out_len = 3;
        *consumed = 1;
        return "\xEF\xBF\xBD";
    }
    *out_len = *consumed = l;
    return in;
}

/* Append sp[0..n) with ' ' escaped; record `orig` for each byte. */
static glossa_status append_piece(const spm_normalizer *nz, strbuf *out, idvec *map,
                                  const char *sp, size_t n, size_t orig)
{
    GLOSSA_TRY(strbuf_reserve(out, n * 3));
    if (map) GLOSSA_TRY(idvec_reserve(map, n * 3));
    char *o = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        if (sp[i] == ' ' && nz->escape_whitespaces) {
            memcpy(o, k_space_symbol, 3);
            o += 3;
            if (map) {
                map->data[map->len++] = (int32_t)orig;
                map->data[map->len++] = (int32_t)orig;
                map->data[map->len++] = (int32_t)orig;
            }
        } else {
            *o++ = sp[i];
            if (map) map->data[map->len++] = (int32_t)orig;
        }
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    return GLOSSA_STATUS_OK;
}

static glossa_status add_ws(const spm_normalizer *n, strbuf *out, idvec *map, size_t consumed)
{
    return append_piece(n, out, map, " ", 1, consumed);
}

glossa_status spm_normalize(const spm_normalizer *n, const char *in, size_t len, strbuf *out,
                            idvec *map)
{
    GLOSSA_TRY(strbuf_reserve(out, 0));
    strbuf_clear(out);
    if (map) map->len = 0;
    if (len == 0) return GLOSSA_STATUS_OK;
    if (len > (size_t)INT32_MAX / 4)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "text of %zu bytes is too long", len);

    size_t consumed = 0;
    const char *p = in;
    size_t left = len;
    size_t olen, used;
    if (n->remove_extra_whitespaces) {
        while (left) {
            const char *r = normalize_prefix(n, p, left, &olen, &used);
            if (!(olen == 1 && r[0] == ' ')) break;
            p += used;
            left -= used;
            consumed += used;
        }
    }
    if (left == 0) return GLOSSA_STATUS_OK;

    GLOSSA_TRY(strbuf_reserve(out, left * 3 + 8));
    if (map) GLOSSA_TRY(idvec_reserve(map, left * 3 + 8));

    if (!n->treat_whitespace_as_suffix && n->add_dummy_prefix) GLOSSA_TRY(add_ws(n, out, map, consumed));

    const bool rex = n->remove_extra_whitespaces, escape = n->escape_whitespaces;
    bool is_prev_space = rex;
    while (left) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x80 && n->plain[c]) {
            /* Fast path: an ASCII byte no rule touches is copied (a space: escaped, or dropped
             * after a space when remove_extra_whitespaces), as the general path below does. */
            if (out->cap - out->len < 4) GLOSSA_TRY(strbuf_reserve(out, left * 3 + 8));
            if (map && map->cap - map->len < 4) GLOSSA_TRY(idvec_reserve(map, left * 3 + 8));
            if (c != ' ') {
                out->data[out->len++] = (char)c;
                if (map) map->data[map->len++] = (int32_t)consumed;
                is_prev_space = false;
            } else if (!is_prev_space) {
                if (escape) {
                    memcpy(out->data + out->len, k_space_symbol, 3);
                    out->len += 3;
                    if (map) {
                        for (int k = 0; k < 3; k++) map->data[map->len++] = (int32_t)consumed;
                    }
                } else {
                    out->data[out->len++] = ' ';
                    if (map) map->data[map->len++] = (int32_t)consumed;
                }
                is_prev_space = rex;
            }
            consumed++;
            p++;
            left--;
            continue;
        }
        const char *sp = normalize_prefix(n, p, left, &olen, &used);
        if (is_prev_space) {
            while (olen && sp[0] == ' ') {
                sp++;
                olen--;
            }
        }
        if (olen) {
            GLOSSA_TRY(append_piece(n, out, map, sp, olen, consumed));
            is_prev_space = sp[olen - 1] == ' ';
        }
        consumed += used;
        p += used;
        left -= used;
        if (!rex) is_prev_space = false;
    }
    out->data[out->len] = '\0';

    if (n->remove_extra_whitespaces) {
        const char *space = n->escape_whitespaces ? k_space_symbol : " ";
        size_t sl = n->escape_whitespaces ? 3 : 1;
        while (out->len >= sl && memcmp(out->data + out->len - sl, space, sl) == 0) {
            size_t l = out->len - sl;
            if (map) {
                consumed = (size_t)map->data[l];
                map->len = l;
            }
            out->len = l;
            out->data[l] = '\0';
        }
    }

    if (n->treat_whitespace_as_suffix && n->add_dummy_prefix) GLOSSA_TRY(add_ws(n, out, map, consumed));
    if (map) GLOSSA_TRY(idvec_push(map, (int32_t)consumed));
    return GLOSSA_STATUS_OK;
}
