/* UTF-8 helpers with sentencepiece's conventions for invalid input. */
#ifndef GLOSSA_CORE_UTF8_H
#define GLOSSA_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UTF8_REPLACEMENT 0xFFFDu

/* Length of the UTF-8 sequence that starts with byte c, judged by the lead byte alone (1 for
 * continuation or invalid lead bytes). */
static inline size_t utf8_len_lead(unsigned char c)
{
    static const unsigned char len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[c >> 4];
}

/* Decode one code point from s[0..n) (n >= 1). Returns the code point and sets *mblen to the
 * bytes consumed. An invalid or truncated sequence, an overlong form, a surrogate or a value over
 * U+10FFFF decodes to U+FFFD with *mblen = 1 (sentencepiece's string_util::DecodeUTF8). */
uint32_t utf8_decode(const char *s, size_t n, size_t *mblen);

/* True when s[0..n) starts with a valid sequence of *mblen bytes. */
bool utf8_is_valid_at(const char *s, size_t n, size_t *mblen);

/* Encode cp into out (at least 4 bytes); returns the byte count (U+FFFD for invalid cp). */
size_t utf8_encode(uint32_t cp, char *out);

/* True when the whole buffer is valid UTF-8. */
bool utf8_valid(const char *s, size_t n);

#endif
