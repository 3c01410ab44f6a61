/* Growable byte strings and id vectors (amortised doubling, never shrinking). */
#ifndef GLOSSA_CORE_BUF_H
#define GLOSSA_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "glossa.h"

typedef struct strbuf {
    char *data; /* always NUL-terminated once allocated */
    size_t len;
    size_t cap;
} strbuf;

glossa_status strbuf_reserve(strbuf *b, size_t extra);
glossa_status strbuf_append(strbuf *b, const char *s, size_t n);
glossa_status strbuf_appendc(strbuf *b, char c);
static inline void strbuf_clear(strbuf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}
void strbuf_free(strbuf *b);

typedef struct idvec {
    int32_t *data;
    size_t len;
    size_t cap;
} idvec;

glossa_status idvec_reserve(idvec *v, size_t extra);
glossa_status idvec_push(idvec *v, int32_t id);
void idvec_free(idvec *v);

#endif
