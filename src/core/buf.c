#include "core/buf.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

static glossa_status grow(void **data, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return GLOSSA_STATUS_OK;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / elem) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "buffer too large");
        ncap *= 2;
    }
    void *p = realloc(*data, ncap * elem);
    if (!p) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "out of memory growing a buffer to %zu", ncap * elem);
    *data = p;
    *cap = ncap;
    return GLOSSA_STATUS_OK;
}

glossa_status strbuf_reserve(strbuf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "string too large");
    void *d = b->data;
    glossa_status st = grow(&d, &b->cap, b->len + extra + 1, 1);
    b->data = d;
    return st;
}

glossa_status strbuf_append(strbuf *b, const char *s, size_t n)
{
    GLOSSA_TRY(strbuf_reserve(b, n));
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return GLOSSA_STATUS_OK;
}

glossa_status strbuf_appendc(strbuf *b, char c)
{
    if (b->cap < b->len + 2) GLOSSA_TRY(strbuf_reserve(b, 1));
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
    return GLOSSA_STATUS_OK;
}

void strbuf_free(strbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

glossa_status idvec_reserve(idvec *v, size_t extra)
{
    if (extra > SIZE_MAX / 4 - v->len) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "id vector too large");
    void *d = v->data;
    glossa_status st = grow(&d, &v->cap, v->len + extra, sizeof(int32_t));
    v->data = d;
    return st;
}

glossa_status idvec_push(idvec *v, int32_t id)
{
    if (v->len == v->cap) GLOSSA_TRY(idvec_reserve(v, 1));
    v->data[v->len++] = id;
    return GLOSSA_STATUS_OK;
}

void idvec_free(idvec *v)
{
    free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}
