#include "tok/pytext.h"

#include <string.h>

#include "core/utf8.h"

static bool py_isspace(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

void py_strip(strbuf *s)
{
    if (!s->data || !s->len) return;
    size_t b = 0, e = s->len;
    while (b < e) {
        size_t n;
        uint32_t c = utf8_decode(s->data + b, e - b, &n);
        if (!py_isspace(c) || !utf8_is_valid_at(s->data + b, e - b, &n)) break;
        b += n;
    }
    while (e > b) {
        size_t k = e - 1; /* start of the last character */
        while (k > b && ((unsigned char)s->data[k] & 0xC0) == 0x80 && e - k < 4) k--;
        size_t n;
        if (!utf8_is_valid_at(s->data + k, e - k, &n) || k + n != e) break;
        if (!py_isspace(utf8_decode(s->data + k, e - k, &n))) break;
        e = k;
    }
    if (b) memmove(s->data, s->data + b, e - b);
    s->len = e - b;
    s->data[s->len] = '\0';
}

void py_replace_shrink(strbuf *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    if (!s->data || fl == 0 || tl > fl || s->len < fl) return;
    size_t r = 0, w = 0;
    while (r < s->len) {
        if (r + fl <= s->len && !memcmp(s->data + r, from, fl)) {
            memmove(s->data + w, to, tl);
            w += tl;
            r += fl;
        } else {
            s->data[w++] = s->data[r++];
        }
    }
    s->len = w;
    s->data[w] = '\0';
}

void py_clean_up_tokenization(strbuf *s)
{
    static const char *const rules[][2] = {
        {" .", "."},     {" ?", "?"},     {" !", "!"},     {" ,", ","},     {" ' ", "'"},
        {" n't", "n't"}, {" 'm", "'m"},   {" 's", "'s"},   {" 've", "'ve"}, {" 're", "'re"},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) py_replace_shrink(s, rules[i][0], rules[i][1]);
}
