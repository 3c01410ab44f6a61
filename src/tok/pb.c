#include "tok/pb.h"

#include <string.h>

#include "core/status.h"

#define PB_MAX_GROUP_DEPTH 64

pb_reader pb_reader_init(const void *data, size_t size)
{
    pb_reader r;
    r.start = data;
    r.p = data;
    r.end = r.p + size;
    if (!data) r.start = r.p = r.end = NULL;
    return r;
}

glossa_status pb_read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    const uint8_t *q = *p;
    for (int i = 0; i < 10; i++) {
        if (q >= end) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "truncated varint");
        uint8_t b = *q++;
        /* The 10th byte may only carry the top bit of the 64-bit value; protobuf's own parser
         * ignores the excess bits there, and so do we. */
        v |= (uint64_t)(b & 0x7F) << (7 * i);
        if (b < 0x80) {
            *p = q;
            *out = v;
            return GLOSSA_STATUS_OK;
        }
    }
    return glossa_error(GLOSSA_STATUS_BAD_MODEL, "varint longer than 10 bytes");
}

/* Skip one value of wire type `wire` (not a group start) at r->p. */
static glossa_status skip_value(pb_reader *r, uint32_t wire)
{
    uint64_t v;
    size_t left = (size_t)(r->end - r->p);
    switch (wire) {
    case PB_WIRE_VARINT:
        return pb_read_varint(&r->p, r->end, &v);
    case PB_WIRE_FIXED64:
        if (left < 8) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "truncated fixed64");
        r->p += 8;
        return GLOSSA_STATUS_OK;
    case PB_WIRE_FIXED32:
        if (left < 4) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "truncated fixed32");
        r->p += 4;
        return GLOSSA_STATUS_OK;
    case PB_WIRE_LEN:
        GLOSSA_TRY(pb_read_varint(&r->p, r->end, &v));
        if (v > (uint64_t)(r->end - r->p))
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "length %llu past the end of the message",
                                (unsigned long long)v);
        r->p += v;
        return GLOSSA_STATUS_OK;
    default:
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "invalid wire type %u", wire);
    }
}

/* Skip a group whose start tag (field `number`) was just read. */
static glossa_status skip_group(pb_reader *r, uint32_t number)
{
    uint32_t stack[PB_MAX_GROUP_DEPTH];
    int depth = 0;
    stack[depth++] = number;
    while (depth > 0) {
        uint64_t tag;
        GLOSSA_TRY(pb_read_varint(&r->p, r->end, &tag));
        uint32_t wire = (uint32_t)(tag & 7);
        uint64_t num = tag >> 3;
        if (num == 0 || num > 0x1FFFFFFF)
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "invalid field number in a group");
        if (wire == PB_WIRE_SGROUP) {
            if (depth == PB_MAX_GROUP_DEPTH)
                return glossa_error(GLOSSA_STATUS_BAD_MODEL, "groups nested too deep");
            stack[depth++] = (uint32_t)num;
        } else if (wire == PB_WIRE_EGROUP) {
            if (stack[depth - 1] != num)
                return glossa_error(GLOSSA_STATUS_BAD_MODEL, "mismatched end of group %llu",
                                    (unsigned long long)num);
            depth--;
        } else {
            GLOSSA_TRY(skip_value(r, wire));
        }
    }
    return GLOSSA_STATUS_OK;
}

glossa_status pb_next(pb_reader *r, pb_field *f, int *more)
{
    for (;;) {
        memset(f, 0, sizeof *f);
        if (r->p >= r->end) {
            *more = 0;
            return GLOSSA_STATUS_OK;
        }
        *more = 1;
        f->offset = (size_t)(r->p - r->start);
        uint64_t tag;
        glossa_status st = pb_read_varint(&r->p, r->end, &tag);
        if (st != GLOSSA_STATUS_OK)
            return glossa_error_prefix(st, "field tag at offset %zu: ", f->offset);
        uint32_t wire = (uint32_t)(tag & 7);
        uint64_t num = tag >> 3;
        if (num == 0 || num > 0x1FFFFFFF)
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "invalid field number at offset %zu",
                                f->offset);
        f->number = (uint32_t)num;
        f->wire = (pb_wire)wire;
        const uint8_t *q = r->p;
        size_t left = (size_t)(r->end - r->p);
        switch (wire) {
        case PB_WIRE_VARINT:
            st = pb_read_varint(&r->p, r->end, &f->u64);
            break;
        case PB_WIRE_FIXED64:
            if (left < 8) {
                st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "truncated fixed64");
                break;
            }
            for (int i = 7; i >= 0; i--) f->u64 = (f->u64 << 8) | q[i];
            r->p += 8;
            break;
        case PB_WIRE_FIXED32:
            if (left < 4) {
                st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "truncated fixed32");
                break;
            }
            f->u64 = (uint32_t)q[0] | ((uint32_t)q[1] << 8) | ((uint32_t)q[2] << 16) |
                     ((uint32_t)q[3] << 24);
            r->p += 4;
            break;
        case PB_WIRE_LEN: {
            uint64_t n;
            st = pb_read_varint(&r->p, r->end, &n);
            if (st != GLOSSA_STATUS_OK) break;
            if (n > (uint64_t)(r->end - r->p)) {
                st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "length %llu past the end of the message",
                                  (unsigned long long)n);
                break;
            }
            f->data = r->p;
            f->len = (size_t)n;
            r->p += n;
            break;
        }
        case PB_WIRE_SGROUP:
            st = skip_group(r, f->number);
            if (st == GLOSSA_STATUS_OK) continue; /* groups carry nothing we read */
            break;
        case PB_WIRE_EGROUP:
            st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "end of group without a start");
            break;
        default:
            st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "invalid wire type %u", wire);
            break;
        }
        if (st != GLOSSA_STATUS_OK)
            return glossa_error_prefix(st, "field %u at offset %zu: ", f->number, f->offset);
        return GLOSSA_STATUS_OK;
    }
}

static glossa_status wire_error(const pb_field *f, const char *what)
{
    return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s (field %u at offset %zu) has wire type %d",
                        what, f->number, f->offset, (int)f->wire);
}

glossa_status pb_field_int32(const pb_field *f, const char *what, int32_t *out)
{
    if (f->wire != PB_WIRE_VARINT) return wire_error(f, what);
    /* int32 is sent sign-extended to 64 bits; protobuf keeps the low 32 bits. */
    *out = (int32_t)(uint32_t)f->u64;
    return GLOSSA_STATUS_OK;
}

glossa_status pb_field_bool(const pb_field *f, const char *what, bool *out)
{
    if (f->wire != PB_WIRE_VARINT) return wire_error(f, what);
    *out = f->u64 != 0;
    return GLOSSA_STATUS_OK;
}

glossa_status pb_field_float(const pb_field *f, const char *what, float *out)
{
    if (f->wire != PB_WIRE_FIXED32) return wire_error(f, what);
    uint32_t bits = (uint32_t)f->u64;
    memcpy(out, &bits, sizeof *out);
    return GLOSSA_STATUS_OK;
}

glossa_status pb_field_bytes(const pb_field *f, const char *what, const uint8_t **data,
                             size_t *len)
{
    if (f->wire != PB_WIRE_LEN) return wire_error(f, what);
    *data = f->data;
    *len = f->len;
    return GLOSSA_STATUS_OK;
}
