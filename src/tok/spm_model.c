#include "tok/spm_model.h"

#include <string.h>

#include "core/status.h"
#include "tok/pb.h"

/* As protobuf does, a known field sent with another wire type is kept as an unknown field, i.e.
 * ignored here; an enum value outside the enum is ignored too (the field keeps its value). */

static glossa_status set_str(spm_model *m, spm_str *s, const pb_field *f)
{
    char *p = arena_strndup(&m->strings, (const char *)f->data, f->len);
    if (!p) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "model strings");
    s->data = p;
    s->len = f->len;
    return GLOSSA_STATUS_OK;
}

static void set_default_str(spm_str *s, const char *lit)
{
    s->data = lit;
    s->len = strlen(lit);
}

static void trainer_defaults(spm_trainer_spec *t)
{
    memset(t, 0, sizeof *t);
    t->model_type = SPM_MODEL_UNIGRAM;
    t->vocab_size = 8000;
    t->split_by_unicode_script = true;
    t->split_by_number = true;
    t->split_by_whitespace = true;
    t->unk_id = 0;
    t->bos_id = 1;
    t->eos_id = 2;
    t->pad_id = -1;
    set_default_str(&t->unk_surface, " \xE2\x81\x87 ");
    set_default_str(&t->unk_piece, "<unk>");
    set_default_str(&t->bos_piece, "<s>");
    set_default_str(&t->eos_piece, "</s>");
    set_default_str(&t->pad_piece, "<pad>");
}

static void normalizer_defaults(spm_normalizer_spec *n)
{
    memset(n, 0, sizeof *n);
    set_default_str(&n->name, "");
    n->charsmap = (const uint8_t *)"";
    n->add_dummy_prefix = true;
    n->remove_extra_whitespaces = true;
    n->escape_whitespaces = true;
}

static glossa_status parse_trainer(spm_model *m, const uint8_t *data, size_t len)
{
    spm_trainer_spec *t = &m->trainer;
    pb_reader r = pb_reader_init(data, len);
    pb_field f;
    int more;
    for (;;) {
        GLOSSA_TRY(pb_next(&r, &f, &more));
        if (!more) break;
        if (f.wire == PB_WIRE_VARINT) {
            int32_t v = (int32_t)(uint32_t)f.u64;
            bool b = f.u64 != 0;
            switch (f.number) {
            case 3:
                if (v >= SPM_MODEL_UNIGRAM && v <= SPM_MODEL_CHAR) t->model_type = v;
                break;
            case 4: t->vocab_size = v; break;
            case 21: t->split_by_unicode_script = b; break;
            case 22: t->split_by_whitespace = b; break;
            case 23: t->split_by_number = b; break;
            case 24: t->treat_whitespace_as_suffix = b; break;
            case 25: t->split_digits = b; break;
            case 26: t->allow_whitespace_only_pieces = b; break;
            case 35: t->byte_fallback = b; break;
            case 40: t->unk_id = v; break;
            case 41: t->bos_id = v; break;
            case 42: t->eos_id = v; break;
            case 43: t->pad_id = v; break;
            default: break;
            }
        } else if (f.wire == PB_WIRE_LEN) {
            switch (f.number) {
            case 44:
                GLOSSA_TRY(set_str(m, &t->unk_surface, &f));
                t->has_unk_surface = true;
                break;
            case 45: GLOSSA_TRY(set_str(m, &t->unk_piece, &f)); break;
            case 46: GLOSSA_TRY(set_str(m, &t->bos_piece, &f)); break;
            case 47: GLOSSA_TRY(set_str(m, &t->eos_piece, &f)); break;
            case 48: GLOSSA_TRY(set_str(m, &t->pad_piece, &f)); break;
            default: break;
            }
        }
    }
    return GLOSSA_STATUS_OK;
}

static glossa_status parse_normalizer(spm_model *m, spm_normalizer_spec *n, const uint8_t *data,
                                      size_t len)
{
    n->present = true;
    pb_reader r = pb_reader_init(data, len);
    pb_field f;
    int more;
    for (;;) {
        GLOSSA_TRY(pb_next(&r, &f, &more));
        if (!more) break;
        if (f.wire == PB_WIRE_VARINT) {
            bool b = f.u64 != 0;
            if (f.number == 3) n->add_dummy_prefix = b;
            else if (f.number == 4) n->remove_extra_whitespaces = b;
            else if (f.number == 5) n->escape_whitespaces = b;
        } else if (f.wire == PB_WIRE_LEN) {
            if (f.number == 1) {
                GLOSSA_TRY(set_str(m, &n->name, &f));
            } else if (f.number == 2) {
                uint8_t *p = arena_alloc(&m->strings, f.len ? f.len : 1);
                if (!p) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "precompiled charsmap");
                if (f.len) memcpy(p, f.data, f.len);
                n->charsmap = p;
                n->charsmap_len = f.len;
            }
        }
    }
    return GLOSSA_STATUS_OK;
}

/* One ModelProto.SentencePiece message into piece `id`. */
static glossa_status parse_piece(spm_model *m, int32_t id, const uint8_t *data, size_t len)
{
    const uint8_t *piece = (const uint8_t *)"";
    size_t piece_len = 0;
    float score = 0.0f;
    int32_t type = TOK_PIECE_NORMAL;
    pb_reader r = pb_reader_init(data, len);
    pb_field f;
    int more;
    for (;;) {
        GLOSSA_TRY(pb_next(&r, &f, &more));
        if (!more) break;
        if (f.number == 1 && f.wire == PB_WIRE_LEN) {
            piece = f.data;
            piece_len = f.len;
        } else if (f.number == 2 && f.wire == PB_WIRE_FIXED32) {
            GLOSSA_TRY(pb_field_float(&f, "piece score", &score));
        } else if (f.number == 3 && f.wire == PB_WIRE_VARINT) {
            int32_t v = (int32_t)(uint32_t)f.u64;
            if (v >= TOK_PIECE_NORMAL && v <= TOK_PIECE_BYTE) type = v;
        }
    }
    if (piece_len > (1u << 20))
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "piece %d is %zu bytes long", id, piece_len);
    return tok_vocab_set(&m->vocab, id, (const char *)piece, piece_len, score, (tok_piece_type)type);
}

static glossa_status parse_model(spm_model *m, const uint8_t *data, size_t size)
{
    /* First pass: count the pieces so the vocabulary is allocated once. */
    size_t n_pieces = 0;
    pb_reader r = pb_reader_init(data, size);
    pb_field f;
    int more;
    for (;;) {
        GLOSSA_TRY(pb_next(&r, &f, &more));
        if (!more) break;
        if (f.number == 1 && f.wire == PB_WIRE_LEN) n_pieces++;
    }
    if (n_pieces > SPM_MAX_PIECES)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%zu pieces (at most %d supported)", n_pieces,
                            SPM_MAX_PIECES);
    GLOSSA_TRY(tok_vocab_init(&m->vocab, (int32_t)n_pieces));

    int32_t id = 0;
    r = pb_reader_init(data, size);
    for (;;) {
        GLOSSA_TRY(pb_next(&r, &f, &more));
        if (!more) break;
        if (f.wire != PB_WIRE_LEN) continue;
        glossa_status st = GLOSSA_STATUS_OK;
        switch (f.number) {
        case 1:
            st = parse_piece(m, id, f.data, f.len);
            if (st != GLOSSA_STATUS_OK) return glossa_error_prefix(st, "piece %d: ", id);
            id++;
            break;
        case 2:
            st = parse_trainer(m, f.data, f.len);
            if (st != GLOSSA_STATUS_OK) return glossa_error_prefix(st, "trainer_spec: ");
            break;
        case 3:
            st = parse_normalizer(m, &m->normalizer, f.data, f.len);
            if (st != GLOSSA_STATUS_OK) return glossa_error_prefix(st, "normalizer_spec: ");
            break;
        case 5:
            st = parse_normalizer(m, &m->denormalizer, f.data, f.len);
            if (st != GLOSSA_STATUS_OK) return glossa_error_prefix(st, "denormalizer_spec: ");
            break;
        default:
            break;
        }
    }
    return GLOSSA_STATUS_OK;
}

glossa_status spm_model_parse(const void *data, size_t size, spm_model *m)
{
    memset(m, 0, sizeof *m);
    arena_init(&m->strings, 64 * 1024);
    trainer_defaults(&m->trainer);
    normalizer_defaults(&m->normalizer);
    normalizer_defaults(&m->denormalizer);
    if (!data && size) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "model data is NULL");
    glossa_status st = parse_model(m, data, size);
    if (st != GLOSSA_STATUS_OK) {
        spm_model_free(m);
        return glossa_error_prefix(st, "ModelProto: ");
    }
    return GLOSSA_STATUS_OK;
}

void spm_model_free(spm_model *m)
{
    tok_vocab_free(&m->vocab);
    arena_free(&m->strings);
    memset(m, 0, sizeof *m);
}
