/* A protocol-buffers wire-format reader (proto2 / proto3 encoding): walks the fields of one
 * serialized message without allocating. Every length is checked against the bytes that are
 * there; groups are skipped with a nesting limit. Input is hostile: errors are BAD_MODEL with a
 * message naming the field and offset.
 *
 *     pb_reader r = pb_reader_init(data, size);
 *     pb_field f;
 *     int more;
 *     while ((st = pb_next(&r, &f, &more)) == GLOSSA_STATUS_OK && more) {
 *         switch (f.number) { case 1: ... pb_field_string(&f) ... }
 *     }
 */
#ifndef GLOSSA_TOK_PB_H
#define GLOSSA_TOK_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "glossa.h"

typedef enum pb_wire {
    PB_WIRE_VARINT = 0,
    PB_WIRE_FIXED64 = 1,
    PB_WIRE_LEN = 2,
    PB_WIRE_SGROUP = 3, /* never returned: groups are skipped */
    PB_WIRE_EGROUP = 4,
    PB_WIRE_FIXED32 = 5,
} pb_wire;

typedef struct pb_reader {
    const uint8_t *start; /* for offsets in messages */
    const uint8_t *p;
    const uint8_t *end;
} pb_reader;

typedef struct pb_field {
    uint32_t number;      /* field number, >= 1 */
    pb_wire wire;
    uint64_t u64;         /* VARINT value, or FIXED64 / FIXED32 raw bits */
    const uint8_t *data;  /* LEN: payload (points into the input) */
    size_t len;           /* LEN: payload bytes */
    size_t offset;        /* byte offset of the field's tag from the reader's start */
} pb_field;

pb_reader pb_reader_init(const void *data, size_t size);

/* Read the next field. *more = 0 at the clean end of the message. Group fields (wire types 3/4)
 * are skipped, nested up to 64 deep; a stray end-group, wire type 6/7, field number 0, a varint of
 * more than 10 bytes or a length past the end is BAD_MODEL. */
glossa_status pb_next(pb_reader *r, pb_field *f, int *more);

/* Read one varint at *p (< end), advancing *p. BAD_MODEL when truncated or over 10 bytes. */
glossa_status pb_read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out);

/* Conversions of a decoded field. Wire-type mismatches are BAD_MODEL (named by what). */
glossa_status pb_field_int32(const pb_field *f, const char *what, int32_t *out); /* int32 / enum */
glossa_status pb_field_bool(const pb_field *f, const char *what, bool *out);
glossa_status pb_field_float(const pb_field *f, const char *what, float *out);  /* fixed32 */
glossa_status pb_field_bytes(const pb_field *f, const char *what, const uint8_t **data,
                             size_t *len);

#endif
