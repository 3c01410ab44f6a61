/* Sentencepiece models of any size for `glossa synth`, re-encoded from the embedded unigram model
 * (tests/fixtures/spm/uni_8k_nmtnfkc.model): truncated to its first n pieces, or extended with
 * filler pieces. A tiny protobuf encoder (varints, length-delimited fields, fixed32) suffices;
 * the rest of the ModelProto is copied field by field as the reader (tok/pb.c) delimits it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/status.h"
#include "model/synth.h"
#include "tok/pb.h"

#define FILLER_PREFIX "\xe2\x96\x81xq"

typedef struct spm_piece_ref {
    const uint8_t *piece; /* the string inside the embedded model */
    size_t len;
    float score;
    int type;             /* 1 normal (default), 2 unknown, 3 control, ... */
    size_t raw_begin;     /* the whole field (tag .. end) in the embedded model */
    size_t raw_end;
} spm_piece_ref;

typedef struct spm_base {
    spm_piece_ref *pieces;
    int32_t n;
    float min_score;
    size_t trainer[2];    /* payload of field 2 (begin, end), 0/0 when absent */
    size_t normalizer[2]; /* whole fields 3 and 5 (tag .. end) */
    size_t denormalizer[2];
} spm_base;

struct synth_spm_pieces {
    spm_base base;
    int32_t n;
    char buf[256];
};

static glossa_status parse_piece(const pb_field *f, spm_piece_ref *p)
{
    pb_reader r = pb_reader_init(f->data, f->len);
    pb_field g;
    int more;
    p->type = 1;
    p->score = 0.0f;
    p->piece = NULL;
    p->len = 0;
    while (pb_next(&r, &g, &more) == GLOSSA_STATUS_OK && more) {
        int32_t v;
        if (g.number == 1) GLOSSA_TRY(pb_field_bytes(&g, "piece", &p->piece, &p->len));
        else if (g.number == 2) GLOSSA_TRY(pb_field_float(&g, "score", &p->score));
        else if (g.number == 3 && pb_field_int32(&g, "type", &v) == GLOSSA_STATUS_OK) p->type = v;
    }
    if (!p->piece || p->len >= 200) return glossa_error(GLOSSA_STATUS_INTERNAL, "synth: embedded spm model: bad piece");
    return GLOSSA_STATUS_OK;
}

static glossa_status base_parse(spm_base *b)
{
    memset(b, 0, sizeof *b);
    b->pieces = malloc(16384 * sizeof *b->pieces);
    if (!b->pieces) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "synth: spm pieces");
    pb_reader r = pb_reader_init(synth_spm_base, synth_spm_base_len);
    pb_field f;
    int more;
    glossa_status st;
    b->min_score = 0.0f;
    while ((st = pb_next(&r, &f, &more)) == GLOSSA_STATUS_OK && more) {
        size_t end = (size_t)(r.p - r.start);
        if (f.number == 1 && f.wire == PB_WIRE_LEN) {
            if (b->n == 16384) return glossa_error(GLOSSA_STATUS_INTERNAL, "synth: embedded spm model too large");
            spm_piece_ref *p = &b->pieces[b->n++];
            GLOSSA_TRY(parse_piece(&f, p));
            p->raw_begin = f.offset;
            p->raw_end = end;
            if (p->type == 1 && p->score < b->min_score) b->min_score = p->score;
            size_t fl = sizeof FILLER_PREFIX - 1;
            if (p->len > fl && !memcmp(p->piece, FILLER_PREFIX, fl) && p->piece[fl] >= '0' && p->piece[fl] <= '9')
                return glossa_error(GLOSSA_STATUS_INTERNAL, "synth: embedded spm model has a piece like the fillers");
        } else if (f.number == 2 && f.wire == PB_WIRE_LEN) {
            b->trainer[0] = (size_t)(f.data - r.start);
            b->trainer[1] = b->trainer[0] + f.len;
        } else if (f.number == 3) {
            b->normalizer[0] = f.offset;
            b->normalizer[1] = end;
        } else if (f.number == 5) {
            b->denormalizer[0] = f.offset;
            b->denormalizer[1] = end;
        }
    }
    if (st != GLOSSA_STATUS_OK) return glossa_error_prefix(st, "synth: embedded spm model: ");
    if (b->n < 4 || !b->trainer[1]) return glossa_error(GLOSSA_STATUS_INTERNAL, "synth: embedded spm model incomplete");
    return GLOSSA_STATUS_OK;
}

static glossa_status put_varint(strbuf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return strbuf_append(b, (const char *)tmp, n);
}

static glossa_status put_tag(strbuf *b, uint32_t field, pb_wire wire)
{
    return put_varint(b, ((uint64_t)field << 3) | (uint64_t)wire);
}

static glossa_status put_len_field(strbuf *b, uint32_t field, const void *data, size_t len)
{
    GLOSSA_TRY(put_tag(b, field, PB_WIRE_LEN));
    GLOSSA_TRY(put_varint(b, len));
    return strbuf_append(b, data, len);
}

static glossa_status put_raw(strbuf *b, const size_t range[2])
{
    return strbuf_append(b, (const char *)synth_spm_base + range[0], range[1] - range[0]);
}

/* The filler piece of index i (counting from the first piece past the embedded model's). */
static int filler_name(int32_t i, char *buf, size_t cap)
{
    return snprintf(buf, cap, FILLER_PREFIX "%d", (int)i);
}

static float filler_score(const spm_base *b, int32_t i)
{
    return b->min_score - 1.0f - 1e-4f * (float)i;
}

static glossa_status put_filler(strbuf *out, const spm_base *b, int32_t i)
{
    char name[32];
    int n = filler_name(i, name, sizeof name);
    float score = filler_score(b, i);
    strbuf msg = {0};
    uint32_t bits;
    memcpy(&bits, &score, 4);
    uint8_t le[4] = {(uint8_t)bits, (uint8_t)(bits >> 8), (uint8_t)(bits >> 16), (uint8_t)(bits >> 24)};
    glossa_status st = put_len_field(&msg, 1, name, (size_t)n);
    if (st == GLOSSA_STATUS_OK) st = put_tag(&msg, 2, PB_WIRE_FIXED32);
    if (st == GLOSSA_STATUS_OK) st = strbuf_append(&msg, (const char *)le, 4);
    if (st == GLOSSA_STATUS_OK) st = put_len_field(out, 1, msg.data, msg.len);
    strbuf_free(&msg);
    return st;
}

/* trainer_spec with vocab_size (field 4) set to n. */
static glossa_status put_trainer(strbuf *out, const spm_base *b, int32_t n)
{
    strbuf msg = {0};
    pb_reader r = pb_reader_init(synth_spm_base + b->trainer[0], b->trainer[1] - b->trainer[0]);
    pb_field f;
    int more;
    glossa_status st;
    bool wrote = false;
    while ((st = pb_next(&r, &f, &more)) == GLOSSA_STATUS_OK && more) {
        if (f.number == 4) {
            if (wrote) continue;
            wrote = true;
            st = put_tag(&msg, 4, PB_WIRE_VARINT);
            if (st == GLOSSA_STATUS_OK) st = put_varint(&msg, (uint64_t)n);
        } else {
            st = strbuf_append(&msg, (const char *)r.start + f.offset, (size_t)(r.p - r.start) - f.offset);
        }
        if (st != GLOSSA_STATUS_OK) break;
    }
    if (st == GLOSSA_STATUS_OK && !wrote) {
        st = put_tag(&msg, 4, PB_WIRE_VARINT);
        if (st == GLOSSA_STATUS_OK) st = put_varint(&msg, (uint64_t)n);
    }
    if (st == GLOSSA_STATUS_OK) st = put_len_field(out, 2, msg.data, msg.len);
    strbuf_free(&msg);
    return st;
}

static glossa_status build(const spm_base *b, int32_t n, strbuf *out)
{
    for (int32_t i = 0; i < n; i++) {
        if (i < b->n) {
            size_t range[2] = {b->pieces[i].raw_begin, b->pieces[i].raw_end};
            GLOSSA_TRY(put_raw(out, range));
        } else {
            GLOSSA_TRY(put_filler(out, b, i - b->n));
        }
    }
    GLOSSA_TRY(put_trainer(out, b, n));
    if (b->normalizer[1]) GLOSSA_TRY(put_raw(out, b->normalizer));
    if (b->denormalizer[1]) GLOSSA_TRY(put_raw(out, b->denormalizer));
    return GLOSSA_STATUS_OK;
}

glossa_status synth_spm_build(int32_t n_pieces, unsigned char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (n_pieces < 4) return glossa_error(GLOSSA_STATUS_BAD_INPUT, "synth: a sentencepiece model needs at least 4 pieces");
    spm_base b;
    glossa_status st = base_parse(&b);
    strbuf s = {0};
    if (st == GLOSSA_STATUS_OK) st = strbuf_reserve(&s, synth_spm_base_len + (size_t)n_pieces * 24);
    if (st == GLOSSA_STATUS_OK) st = build(&b, n_pieces, &s);
    free(b.pieces);
    if (st != GLOSSA_STATUS_OK) {
        strbuf_free(&s);
        return st;
    }
    *out = (unsigned char *)s.data;
    *out_len = s.len;
    return GLOSSA_STATUS_OK;
}

glossa_status synth_spm_pieces_open(int32_t n_pieces, synth_spm_pieces **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "synth: spm pieces");
    glossa_status st = base_parse(&(*out)->base);
    if (st != GLOSSA_STATUS_OK) {
        synth_spm_pieces_free(*out);
        *out = NULL;
        return st;
    }
    (*out)->n = n_pieces;
    return GLOSSA_STATUS_OK;
}

const char *synth_spm_piece(synth_spm_pieces *p, int32_t i, int *type)
{
    if (i < 0 || i >= p->n) return NULL;
    if (i >= p->base.n) {
        filler_name(i - p->base.n, p->buf, sizeof p->buf);
        *type = 1;
        return p->buf;
    }
    const spm_piece_ref *r = &p->base.pieces[i];
    memcpy(p->buf, r->piece, r->len);
    p->buf[r->len] = '\0';
    *type = r->type;
    return p->buf;
}

void synth_spm_pieces_free(synth_spm_pieces *p)
{
    if (!p) return;
    free(p->base.pieces);
    free(p);
}
