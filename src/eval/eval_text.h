/* The Python str semantics sacreBLEU's scores rest on, over code points held in an idvec (every
 * value <= 0x10FFFF): strict UTF-8 decoding (what Python's decoder refuses is refused), str.isspace
 * (the separators of str.split() and str.strip()), and str.lower() (full lowercase mapping with the
 * final-sigma rule). */
#ifndef GLOSSA_EVAL_TEXT_H
#define GLOSSA_EVAL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "glossa.h"

/* Python's str.isspace() for one character. */
bool eval_isspace(uint32_t c);

/* Decode s[0..n) into out (cleared first). Invalid UTF-8 (truncated, overlong, surrogate, over
 * U+10FFFF, stray byte) is BAD_INPUT, "invalid UTF-8 at byte K"; NUL is an ordinary character. */
glossa_status eval_decode(const char *s, size_t n, idvec *out);

/* Length of cp[0..n) once trailing whitespace is dropped (str.rstrip()). */
size_t eval_rstrip_len(const int32_t *cp, size_t n);

/* Python's str.lower() of cp[0..n) into out (cleared first). */
glossa_status eval_lower(const int32_t *cp, size_t n, idvec *out);

/* Append the UTF-8 encoding of cp[0..n) to out. */
glossa_status eval_append_utf8(strbuf *out, const int32_t *cp, size_t n);

#endif
