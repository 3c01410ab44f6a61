/* safetensors writer: the header as the reference writer (safetensors' serialize) lays it out —
 * 8-byte little-endian length, compact JSON with "__metadata__" first and the tensors in the
 * given order with contiguous data_offsets, padded with spaces to a multiple of 8 so that the
 * data starts 8-byte aligned — then the raw little-endian data. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/status.h"
#include "io/safetensors.h"


static glossa_status put(strbuf *b, const char *s)
{
    return strbuf_append(b, s, strlen(s));
}

/* A JSON string literal (names and metadata are UTF-8; quotes, backslashes and control bytes
 * escaped). */
static glossa_status put_string(strbuf *b, const char *s)
{
    GLOSSA_TRY(strbuf_appendc(b, '"'));
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            esc[2] = '\0';
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
        } else {
            GLOSSA_TRY(strbuf_appendc(b, (char)*p));
            continue;
        }
        GLOSSA_TRY(put(b, esc));
    }
    return strbuf_appendc(b, '"');
}

/* Bytes of one tensor, checking dims and overflow. */
static glossa_status tensor_bytes(const st_write_tensor *t, uint64_t *out)
{
    if (!t->name || !t->name[0]) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "safetensors writer: tensor without a name");
    if ((int)t->dtype < 0 || t->dtype >= ST_DTYPE_COUNT_)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "safetensors writer: %s: bad dtype %d", t->name, (int)t->dtype);
    if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "safetensors writer: %s: %d dims", t->name, (int)t->ndim);
    uint64_t n = st_dtype_size(t->dtype);
    for (int32_t d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 0)
            return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "safetensors writer: %s: negative dim", t->name);
        uint64_t s = (uint64_t)t->shape[d];
        if (s && n > (UINT64_MAX >> 2) / s)
            return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "safetensors writer: %s: size overflows", t->name);
        n *= s;
    }
    *out = n;
    return GLOSSA_STATUS_OK;
}

static glossa_status put_tensor(strbuf *b, const st_write_tensor *t, uint64_t begin, uint64_t end)
{
    char num[48];
    GLOSSA_TRY(put_string(b, t->name));
    GLOSSA_TRY(put(b, ":{\"dtype\":\""));
    GLOSSA_TRY(put(b, st_dtype_name(t->dtype)));
    GLOSSA_TRY(put(b, "\",\"shape\":["));
    for (int32_t d = 0; d < t->ndim; d++) {
        snprintf(num, sizeof num, "%s%" PRId64, d ? "," : "", t->shape[d]);
        GLOSSA_TRY(put(b, num));
    }
    snprintf(num, sizeof num, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", begin, end);
    return put(b, num);
}

static glossa_status build_json(strbuf *b, const st_write_tensor *tensors, size_t n,
                                const char *const *meta_keys, const char *const *meta_values,
                                size_t n_meta, uint64_t *data_bytes)
{
    GLOSSA_TRY(strbuf_append(b, "\0\0\0\0\0\0\0\0{", 9)); /* length filled in later */
    bool first = true;
    if (n_meta) {
        GLOSSA_TRY(put(b, "\"__metadata__\":{"));
        for (size_t i = 0; i < n_meta; i++) {
            if (!meta_keys[i] || !meta_values[i])
                return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "safetensors writer: NULL metadata");
            if (i) GLOSSA_TRY(strbuf_appendc(b, ','));
            GLOSSA_TRY(put_string(b, meta_keys[i]));
            GLOSSA_TRY(strbuf_appendc(b, ':'));
            GLOSSA_TRY(put_string(b, meta_values[i]));
        }
        GLOSSA_TRY(strbuf_appendc(b, '}'));
        first = false;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t bytes;
        GLOSSA_TRY(tensor_bytes(&tensors[i], &bytes));
        if (!strcmp(tensors[i].name, "__metadata__"))
            return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "safetensors writer: a tensor named __metadata__");
        if (!first) GLOSSA_TRY(strbuf_appendc(b, ','));
        first = false;
        GLOSSA_TRY(put_tensor(b, &tensors[i], off, off + bytes));
        off += bytes;
    }
    GLOSSA_TRY(strbuf_appendc(b, '}'));
    while ((b->len - 8) % 8) GLOSSA_TRY(strbuf_appendc(b, ' '));
    uint64_t hlen = b->len - 8;
    for (int i = 0; i < 8; i++) b->data[i] = (char)(unsigned char)(hlen >> (8 * i));
    *data_bytes = off;
    return GLOSSA_STATUS_OK;
}

/* The whole prefix of a file (length + JSON + padding) for tensors whose data follows in order;
 * their data pointers are not used. *out is malloc'd. */
glossa_status st_write_header(const st_write_tensor *tensors, size_t n,
                              const char *const *meta_keys, const char *const *meta_values,
                              size_t n_meta, char **out, size_t *out_len, uint64_t *data_bytes)
{
    *out = NULL;
    *out_len = 0;
    if ((n && !tensors) || (n_meta && (!meta_keys || !meta_values)))
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "safetensors writer: NULL arguments");
    strbuf b = {0};
    uint64_t bytes = 0;
    glossa_status st = build_json(&b, tensors, n, meta_keys, meta_values, n_meta, &bytes);
    if (st != GLOSSA_STATUS_OK) {
        strbuf_free(&b);
        return st;
    }
    *out = b.data;
    *out_len = b.len;
    if (data_bytes) *data_bytes = bytes;
    return GLOSSA_STATUS_OK;
}

static glossa_status write_all(FILE *f, const char *path, const st_write_tensor *tensors, size_t n,
                               const char *header, size_t header_len)
{
    if (fwrite(header, 1, header_len, f) != header_len)
        return glossa_error(GLOSSA_STATUS_IO_ERROR, "%s: write failed", path);
    for (size_t i = 0; i < n; i++) {
        uint64_t bytes;
        GLOSSA_TRY(tensor_bytes(&tensors[i], &bytes));
        if (!bytes) continue;
        if (!tensors[i].data)
            return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "safetensors writer: %s: no data", tensors[i].name);
        if (fwrite(tensors[i].data, 1, (size_t)bytes, f) != bytes)
            return glossa_error(GLOSSA_STATUS_IO_ERROR, "%s: write failed", path);
    }
    return GLOSSA_STATUS_OK;
}

glossa_status st_write_file(const char *path, const st_write_tensor *tensors, size_t n,
                            const char *const *meta_keys, const char *const *meta_values,
                            size_t n_meta)
{
    if (!path) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "safetensors writer: NULL path");
    char *header;
    size_t header_len;
    GLOSSA_TRY(st_write_header(tensors, n, meta_keys, meta_values, n_meta, &header, &header_len, NULL));
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(header);
        return glossa_error(GLOSSA_STATUS_IO_ERROR, "%s: cannot create", path);
    }
    glossa_status st = write_all(f, path, tensors, n, header, header_len);
    free(header);
    if (fclose(f) != 0 && st == GLOSSA_STATUS_OK) st = glossa_error(GLOSSA_STATUS_IO_ERROR, "%s: write failed", path);
    if (st != GLOSSA_STATUS_OK) remove(path);
    return st;
}
