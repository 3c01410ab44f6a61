/* Unicode helpers for the tokenizer.json path, with the semantics of the Rust library behind it:
 * White_Space (char::is_whitespace, regex \s), word characters (regex \w), lowercase
 * (char::to_lowercase), extended grapheme clusters (unicode-segmentation, through utf8proc), and
 * lossy UTF-8 decoding as Python's bytes.decode("utf-8", "replace") does it. */
#ifndef GLOSSA_TOK_HF_UNICODE_H
#define GLOSSA_TOK_HF_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Unicode White_Space (Rust char::is_whitespace, Oniguruma / Rust regex \s). */
bool hfu_is_space(uint32_t cp);

/* Rust regex \w: Alphabetic, marks, decimal digits, connector punctuation, join controls. */
bool hfu_is_word(uint32_t cp);

/* General category of cp as utf8proc numbers it (Cn = 0, Lu = 1, ... Co = 29). */
int hfu_category(uint32_t cp);

/* General category helpers (utf8proc). */
bool hfu_is_digit(uint32_t cp);  /* Nd */
bool hfu_is_letter(uint32_t cp); /* L* */
bool hfu_is_number(uint32_t cp); /* N* */
bool hfu_is_punct(uint32_t cp);  /* P* */
bool hfu_is_mark(uint32_t cp);   /* M* */

/* Full lowercase mapping of cp (Rust char::to_lowercase): up to 3 code points in out, returns the
 * count. */
int hfu_lower(uint32_t cp, uint32_t out[3]);

/* Decode one code point of VALID UTF-8 at s[0..n) (n >= 1); *len gets its byte length. */
static inline uint32_t hfu_decode(const char *str, size_t n, size_t *len)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[0];
    if (c < 0x80 || n < 2) {
        *len = 1;
        return c;
    }
    if (c < 0xE0 || n < 3) {
        *len = 2;
        return ((uint32_t)(c & 0x1F) << 6) | (s[1] & 0x3F);
    }
    if (c < 0xF0 || n < 4) {
        *len = 3;
        return ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    }
    *len = 4;
    return ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
           ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

/* Byte length of the character starting at s[0] of valid UTF-8. */
static inline size_t hfu_char_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Lossy decoding step over arbitrary bytes: returns the length of the well-formed character at
 * s[0..n) (n >= 1), or 0 when s starts with an ill-formed sequence, whose maximal subpart
 * (Unicode "substitution of maximal subparts", what Python's "replace" handler replaces by one
 * U+FFFD) is then *bad bytes long. */
size_t hfu_utf8_step(const char *s, size_t n, size_t *bad);

/* End (exclusive) of the extended grapheme cluster that starts at s[pos] in valid UTF-8 s[0..n). */
size_t hfu_grapheme_end(const char *s, size_t n, size_t pos);

#endif
