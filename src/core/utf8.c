#include "core/utf8.h"

uint32_t utf8_decode(const char *str, size_t n, size_t *mblen)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[0];
    if (c < 0x80) {
        *mblen = 1;
        return c;
    }
    if (n >= 2 && (s[1] & 0xC0) == 0x80) {
        if ((c & 0xE0) == 0xC0) {
            uint32_t cp = ((uint32_t)(c & 0x1F) << 6) | (s[1] & 0x3F);
            if (cp >= 0x80) {
                *mblen = 2;
                return cp;
            }
        } else if (n >= 3 && (s[2] & 0xC0) == 0x80) {
            if ((c & 0xF0) == 0xE0) {
                uint32_t cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) |
                              (s[2] & 0x3F);
                if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) {
                    *mblen = 3;
                    return cp;
                }
            } else if (n >= 4 && (s[3] & 0xC0) == 0x80 && (c & 0xF8) == 0xF0) {
                uint32_t cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
                              ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
                if (cp >= 0x10000 && cp <= 0x10FFFF) {
                    *mblen = 4;
                    return cp;
                }
            }
        }
    }
    *mblen = 1;
    return UTF8_REPLACEMENT;
}

bool utf8_is_valid_at(const char *s, size_t n, size_t *mblen)
{
    uint32_t cp = utf8_decode(s, n, mblen);
    /* U+FFFD itself, correctly encoded, is valid (3 bytes). */
    return cp != UTF8_REPLACEMENT || *mblen == 3;
}

size_t utf8_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = UTF8_REPLACEMENT;
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

bool utf8_valid(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        size_t l;
        if (!utf8_is_valid_at(s + i, n - i, &l)) return false;
        i += l;
    }
    return true;
}
