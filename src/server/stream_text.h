/* Text helpers for streamed and stopped completions. */
#ifndef GLOSSA_SERVER_STREAM_TEXT_H
#define GLOSSA_SERVER_STREAM_TEXT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* How much of text[0..len) can be sent while more tokens may still come, given that
 * text[0..from) has been sent (from: a character boundary): the end of the last complete UTF-8
 * character, short of a trailing U+FFFD (bytes of a character the next token may complete) and of
 * trailing whitespace (the detokenizer may still drop a space before punctuation). >= from. */
size_t stream_stable_len(const char *text, size_t from, size_t len);

/* The first occurrence of any stop string in text[0..len) at or after start: true and *pos. */
bool stream_find_stop(const char *text, size_t start, size_t len, char *const *stops,
                      const size_t *stop_len, size_t n_stops, size_t *pos);

/* The longest suffix of text[0..len) that is a proper prefix of a stop string (held back until
 * the next tokens show whether the stop string follows). */
size_t stream_stop_holdback(const char *text, size_t len, char *const *stops,
                            const size_t *stop_len, size_t n_stops);

/* A JSON string of text[0..len); invalid UTF-8 bytes become U+FFFD. NULL on out of memory. */
json_t *srv_json_text(const char *text, size_t len);

#endif
