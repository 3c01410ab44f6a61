#include "eval/eval_text.h"

#include <utf8proc.h>

#include "core/status.h"
#include "core/utf8.h"

bool eval_isspace(uint32_t c)
{
    /* Py_UNICODE_ISSPACE: bidirectional class WS, B or S, or category Zs. */
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

glossa_status eval_decode(const char *s, size_t n, idvec *out)
{
    out->len = 0;
    GLOSSA_TRY(idvec_reserve(out, n));
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            out->data[out->len++] = c;
            i++;
            continue;
        }
        size_t l;
        if (!utf8_is_valid_at(s + i, n - i, &l))
            return glossa_error(GLOSSA_STATUS_BAD_INPUT, "invalid UTF-8 at byte %zu", i + 1);
        out->data[out->len++] = (int32_t)utf8_decode(s + i, n - i, &l);
        i += l;
    }
    return GLOSSA_STATUS_OK;
}

size_t eval_rstrip_len(const int32_t *cp, size_t n)
{
    while (n > 0 && eval_isspace((uint32_t)cp[n - 1]))
        n--;
    return n;
}

/* Unicode's Cased property (Lowercase, Uppercase or Lt), as far as utf8proc shows it: the letter
 * categories, characters with a case mapping, and the Other_Lowercase / Other_Uppercase letters and
 * symbols that have none. */
static bool is_cased(uint32_t c)
{
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT)
        return true;
    if (utf8proc_islower((utf8proc_int32_t)c) || utf8proc_isupper((utf8proc_int32_t)c)) return true;
    return c == 0xAA || c == 0xBA || (c >= 0x1F130 && c <= 0x1F149) ||
           (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189);
}

/* Unicode's Case_Ignorable: Mn, Me, Cf, Lm, Sk, and Word_Break MidLetter, MidNumLet, Single_Quote.
 */
static bool is_case_ignorable(uint32_t c)
{
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
        return true;
    default:
        break;
    }
    static const uint32_t mid[] = {0x27,   0x2E,   0x3A,   0xB7,   0x387,  0x55F,
                                   0x5F4,  0x2018, 0x2019, 0x2024, 0x2027, 0xFE13,
                                   0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A};
    for (size_t i = 0; i < sizeof mid / sizeof mid[0]; i++)
        if (mid[i] == c) return true;
    return false;
}

/* CPython's handle_capital_sigma: U+03A3 lowers to final sigma U+03C2 when a cased letter precedes
 * it and none follows (case-ignorable characters skipped on both sides). */
static int32_t lower_sigma(const int32_t *cp, size_t n, size_t i)
{
    size_t j = i;
    while (j > 0 && is_case_ignorable((uint32_t)cp[j - 1]))
        j--;
    if (j == 0 || !is_cased((uint32_t)cp[j - 1])) return 0x3C3;
    j = i + 1;
    while (j < n && is_case_ignorable((uint32_t)cp[j]))
        j++;
    return (j == n || !is_cased((uint32_t)cp[j])) ? 0x3C2 : 0x3C3;
}

glossa_status eval_lower(const int32_t *cp, size_t n, idvec *out)
{
    out->len = 0;
    GLOSSA_TRY(idvec_reserve(out, n + 1));
    for (size_t i = 0; i < n; i++) {
        int32_t c = cp[i];
        if (c == 0x130) { /* the one unconditional multi-character lowercase mapping */
            GLOSSA_TRY(idvec_push(out, 0x69));
            GLOSSA_TRY(idvec_push(out, 0x307));
            continue;
        }
        int32_t lo = c == 0x3A3 ? lower_sigma(cp, n, i) : utf8proc_tolower(c);
        GLOSSA_TRY(idvec_push(out, lo));
    }
    return GLOSSA_STATUS_OK;
}

glossa_status eval_append_utf8(strbuf *out, const int32_t *cp, size_t n)
{
    GLOSSA_TRY(strbuf_reserve(out, 4 * n));
    for (size_t i = 0; i < n; i++)
        out->len += utf8_encode((uint32_t)cp[i], out->data + out->len);
    out->data[out->len] = '\0';
    return GLOSSA_STATUS_OK;
}
