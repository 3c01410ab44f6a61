/* The language identifier's text model; tools/langid/lidcore.py is its Python twin, used to
 * train the profiles, so the two must stay in step. */
#include "langid/text.h"

#include <stdbool.h>
#include <utf8proc.h>

#include "core/utf8.h"

int langid_script_of(uint32_t cp)
{
    size_t lo = 0, hi = langid_num_script_ranges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const langid_script_range *r = &langid_script_ranges[mid];
        if (cp < r->first)
            hi = mid;
        else if (cp > r->last)
            lo = mid + 1;
        else
            return r->script;
    }
    return LANGID_SCRIPT_OTHER;
}

int langid_dominant_script(const uint32_t scripts[LANGID_NUM_SCRIPTS])
{
    int best = LANGID_SCRIPT_OTHER;
    uint32_t best_n = 0;
    for (int s = LANGID_SCRIPT_GREEK; s < LANGID_NUM_SCRIPTS; s++) {
        if (scripts[s] > best_n) {
            best = s;
            best_n = scripts[s];
        }
    }
    if (best_n > 0 && (uint64_t)best_n * 4 >= scripts[LANGID_SCRIPT_LATIN]) return best;
    if (scripts[LANGID_SCRIPT_LATIN] > 0) return LANGID_SCRIPT_LATIN;
    return LANGID_SCRIPT_OTHER;
}

static bool is_ascii_letter(uint32_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_flag(uint32_t c)
{
    return (c >= '0' && c <= '9') || c == '$' || c == '-' || c == '+' || c == '#' || c == '\'' ||
           c == '.' || c == '*';
}

static bool is_lenmod(uint32_t c)
{
    return c == 'h' || c == 'l' || c == 'L' || c == 'q' || c == 'j' || c == 'z' || c == 't';
}

/* The index of the last code point of the conversion starting with '%' at i, or i when none. */
static size_t placeholder_end(const uint32_t *s, size_t n, size_t i)
{
    size_t j = i + 1;
    while (j < n && is_flag(s[j]))
        j++;
    if (j < n && s[j] == '%') return j;
    if (j + 2 < n && is_lenmod(s[j]) && is_lenmod(s[j + 1]) && is_ascii_letter(s[j + 2]))
        return j + 2;
    if (j + 1 < n && is_lenmod(s[j]) && is_ascii_letter(s[j + 1])) return j + 1;
    if (j < n && is_ascii_letter(s[j])) return j;
    return i;
}

size_t langid_strip_placeholders(uint32_t *cps, size_t n)
{
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (cps[i] == '%') {
            size_t end = placeholder_end(cps, n, i);
            if (end != i) {
                cps[out++] = ' ';
                i = end;
                continue;
            }
        }
        cps[out++] = cps[i];
    }
    return out;
}

/* NFC of cps[0..n) into dst (dst_cap code points); returns the length, or -1 when it does not fit
 * or utf8proc fails (the caller then goes on with the text as it is). */
static long nfc(const uint32_t *cps, size_t n, int32_t *dst, size_t dst_cap)
{
    uint8_t utf8[4 * LANGID_MAX_CHARS];
    size_t len = 0;
    for (size_t i = 0; i < n && len + 4 <= sizeof utf8; i++)
        len += utf8_encode(cps[i], (char *)utf8 + len);
    const utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    utf8proc_ssize_t m =
        utf8proc_decompose(utf8, (utf8proc_ssize_t)len, dst, (utf8proc_ssize_t)dst_cap, opt);
    if (m < 0 || (size_t)m > dst_cap) return -1;
    m = utf8proc_normalize_utf32(dst, m, opt);
    return m < 0 ? -1 : (long)m;
}

static void push(langid_text *t, uint32_t cp)
{
    if (t->n < LANGID_MAX_CHARS + 2) t->seq[t->n++] = cp;
}

/* The words of src[0..n) into t->seq, lowercased, with letter counts. */
static void build_words(langid_text *t, const uint32_t *src, size_t n)
{
    t->n = 0;
    push(t, ' ');
    for (size_t i = 0; i < n; i++) {
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)src[i]);
        if (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) {
            uint32_t lo = (uint32_t)utf8proc_tolower((utf8proc_int32_t)src[i]);
            t->scripts[langid_script_of(lo)]++;
            t->letters++;
            if (t->n < LANGID_MAX_CHARS + 1) push(t, lo);
        } else if (cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME) {
            if (t->n < LANGID_MAX_CHARS + 1) push(t, src[i]);
        } else if (t->seq[t->n - 1] != ' ') {
            push(t, ' ');
        }
    }
    if (t->seq[t->n - 1] != ' ') push(t, ' ');
}

void langid_text_prepare(const char *text, size_t len, langid_text *t)
{
    uint32_t cps[LANGID_MAX_CHARS];
    size_t n = 0;
    bool plain = true; /* only code points below U+0300: already NFC */
    for (size_t i = 0; i < len && n < LANGID_MAX_CHARS;) {
        size_t mb;
        uint32_t cp = utf8_decode(text + i, len - i, &mb);
        i += mb;
        if (cp == UTF8_REPLACEMENT) continue;
        if (cp >= 0x300) plain = false;
        cps[n++] = cp;
    }
    n = langid_strip_placeholders(cps, n);
    for (int s = 0; s < LANGID_NUM_SCRIPTS; s++)
        t->scripts[s] = 0;
    t->letters = 0;
    if (!plain) {
        int32_t norm[4 * LANGID_MAX_CHARS];
        long m = nfc(cps, n, norm, sizeof norm / sizeof norm[0]);
        if (m >= 0) {
            build_words(t, (const uint32_t *)norm, (size_t)m);
            return;
        }
    }
    build_words(t, cps, n);
}
