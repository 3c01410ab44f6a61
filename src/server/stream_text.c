/* Text helpers for streamed and stopped completions (see stream_text.h). */
#include "stream_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s[0..n): 1-4, 0 when truncated at n (a prefix of a valid
 * sequence), -1 when invalid. */
static int seq_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    int k;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) k = 1;
    else if (c >= 0xE0 && c <= 0xEF) k = 2;
    else if (c >= 0xF0 && c <= 0xF4) k = 3;
    else return -1;
    for (int j = 1; j <= k; j++) {
        if ((size_t)j >= n) return 0;
        if ((s[j] & 0xC0) != 0x80) return -1;
        /* overlongs and surrogates: the second byte's range */
        if (j == 1 && ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) ||
                       (c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F)))
            return -1;
    }
    return k + 1;
}

size_t stream_stable_len(const char *text, size_t from, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = from, end = from;
    while (i < len) {
        int k = seq_len(s + i, len - i);
        if (k == 0) break; /* an incomplete character at the end */
        i += k < 0 ? 1 : (size_t)k;
        end = i;
    }
    for (;;) {
        if (end >= from + 3 && end >= 3 && !memcmp(s + end - 3, "\xEF\xBF\xBD", 3)) end -= 3;
        else if (end > from && (s[end - 1] == ' ' || s[end - 1] == '\t' || s[end - 1] == '\n' ||
                                s[end - 1] == '\r'))
            end--;
        else break;
    }
    return end;
}

bool stream_find_stop(const char *text, size_t start, size_t len, char *const *stops,
                      const size_t *stop_len, size_t n_stops, size_t *pos)
{
    bool found = false;
    size_t best = len;
    for (size_t k = 0; k < n_stops; k++) {
        size_t m = stop_len[k];
        if (!m || m > len) continue;
        for (size_t i = start; i + m <= len && i < best; i++) {
            if (!memcmp(text + i, stops[k], m)) {
                best = i;
                found = true;
                break;
            }
        }
    }
    if (found) *pos = best;
    return found;
}

size_t stream_stop_holdback(const char *text, size_t len, char *const *stops,
                            const size_t *stop_len, size_t n_stops)
{
    size_t hold = 0;
    for (size_t k = 0; k < n_stops; k++) {
        for (size_t m = stop_len[k] - 1; m > hold; m--) {
            if (m <= len && !memcmp(text + len - m, stops[k], m)) {
                hold = m;
                break;
            }
        }
    }
    return hold;
}

json_t *srv_json_text(const char *text, size_t len)
{
    json_t *j = json_stringn(text, len);
    if (j) return j;
    char *buf = malloc(len * 3 + 1);
    if (!buf) return NULL;
    const unsigned char *s = (const unsigned char *)text;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        int k = seq_len(s + i, len - i);
        if (k > 0 && !(k == 1 && s[i] == 0)) {
            memcpy(buf + o, s + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    j = json_stringn(buf, o);
    free(buf);
    return j;
}
