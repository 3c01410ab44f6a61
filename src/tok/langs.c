/* Language-code lookups over the tables of langs_data.c. */
#include "tok/langs.h"

#include <ctype.h>
#include <string.h>

const tok_lang *tok_langs_table(glossa_tokenizer_family family, size_t *n)
{
    switch (family) {
    case GLOSSA_FAMILY_MBART50:
        *n = TOK_LANGS_MBART50_N;
        return tok_langs_mbart50;
    case GLOSSA_FAMILY_NLLB:
        *n = TOK_LANGS_NLLB_N;
        return tok_langs_nllb;
    case GLOSSA_FAMILY_M2M100:
        *n = TOK_LANGS_M2M100_N;
        return tok_langs_m2m100;
    default:
        *n = 0;
        return NULL;
    }
}

static int ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen) return 0;
    for (size_t i = 0; i < alen; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) return 0;
    return 1;
}

const tok_lang_short *tok_langs_short_find(const char *code, size_t len)
{
    for (size_t i = 0; i < TOK_LANGS_SHORT_N; i++)
        if (ieq(code, len, tok_langs_short[i].code)) return &tok_langs_short[i];
    return NULL;
}

static int find_exact(const tok_lang *t, size_t n, const char *s, size_t len, int fold)
{
    for (size_t i = 0; i < n; i++) {
        if (fold ? ieq(s, len, t[i].code) : (strlen(t[i].code) == len && !memcmp(t[i].code, s, len)))
            return (int)i;
    }
    return -1;
}

static const char *short_column(const tok_lang_short *e, glossa_tokenizer_family family)
{
    switch (family) {
    case GLOSSA_FAMILY_MBART50: return e->mbart50;
    case GLOSSA_FAMILY_NLLB: return e->nllb;
    case GLOSSA_FAMILY_M2M100: return e->m2m100;
    default: return "";
    }
}

/* Region or script tags that mean Traditional Chinese. */
static int is_traditional(const char *tag, size_t len)
{
    return ieq(tag, len, "Hant") || ieq(tag, len, "TW") || ieq(tag, len, "HK") || ieq(tag, len, "MO");
}

int tok_langs_find(glossa_tokenizer_family family, const char *lang)
{
    size_t n;
    const tok_lang *t = tok_langs_table(family, &n);
    if (!t || !lang) return -1;
    size_t len = strlen(lang);
    if (len == 0 || len > 64) return -1;
    int i = find_exact(t, n, lang, len, 0);
    if (i >= 0) return i;
    char buf[65];
    memcpy(buf, lang, len + 1);
    const char *s = buf;
    if (family == GLOSSA_FAMILY_M2M100 && len > 4 && !memcmp(s, "__", 2) && !memcmp(s + len - 2, "__", 2)) {
        s += 2;
        len -= 4;
    }
    for (size_t k = 0; k < len; k++)
        if (buf[s - buf + k] == '-') buf[s - buf + k] = '_';
    if ((i = find_exact(t, n, s, len, 1)) >= 0) return i;
    /* base code (lower-cased) and the rest (region or script) */
    size_t blen = 0;
    while (blen < len && s[blen] != '_') {
        buf[s - buf + blen] = (char)tolower((unsigned char)s[blen]);
        blen++;
    }
    const char *tag = blen < len ? s + blen + 1 : s + len;
    size_t tlen = blen < len ? len - blen - 1 : 0;
    if (family == GLOSSA_FAMILY_NLLB && (ieq(s, blen, "zh") || ieq(s, blen, "zho")) &&
        is_traditional(tag, tlen))
        return find_exact(t, n, "zho_Hant", 8, 0);
    const tok_lang_short *e = tok_langs_short_find(s, blen);
    if (e) {
        const char *code = short_column(e, family);
        if (*code) return find_exact(t, n, code, strlen(code), 0);
    }
    if (blen >= 2 && blen <= 3) { /* a family code's base alone: "eng", "yue", "en" (en_XX) */
        for (size_t k = 0; k < n; k++) {
            const char *c = t[k].code;
            if (!strncmp(c, s, blen) && c[blen] == '_') return (int)k;
        }
    }
    return -1;
}
