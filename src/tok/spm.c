/* The sentencepiece processor (sentencepiece_processor.cc 0.1.97): model checks as
 * ModelInterface::InitializePieces, Encode = Normalize + model Encode + PopulateSentencePieceText,
 * Decode with byte pieces and the bos whitespace rule. */
#include "tok/spm.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "core/utf8.h"
#include "io/file.h"
#include "tok/bpe.h"
#include "tok/normalizer.h"
#include "tok/spm_model.h"
#include "tok/trie.h"
#include "tok/unigram.h"

struct spm_processor {
    spm_model model;
    int32_t unk_id;          /* the UNKNOWN piece */
    spm_special special;
    tok_trie user_defined;   /* prefix matcher of USER_DEFINED pieces (normalizer) */
    spm_normalizer normalizer;
    spm_normalizer denormalizer;
    bool has_denormalizer;
    int32_t model_type;
    unigram_model unigram;
    bpe_model bpe;
    int32_t byte_id[256];    /* byte_fallback: "<0xHH>" ids */
};

static const char k_space_symbol[] = "\xe2\x96\x81";

/* PieceToByte: "<0xHH>" (upper-case hex, as ByteToPiece writes it) -> 0..255, else -1. */
static int piece_to_byte(const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    const char *h = strchr(hex, s[3]), *l = strchr(hex, s[4]);
    if (!s[3] || !s[4] || !h || !l) return -1;
    return (int)((h - hex) * 16 + (l - hex));
}

static glossa_status check_pieces(spm_processor *p)
{
    const tok_vocab *v = &p->model.vocab;
    int32_t unk = -1;
    bool byte_found[256] = {false};
    for (int32_t i = 0; i < v->n; i++) {
        if (v->piece_len[i] == 0) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "piece %d is empty", i);
        if (v->type[i] == TOK_PIECE_UNKNOWN) {
            if (unk >= 0) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "unk is already defined (pieces %d and %d)", unk, i);
            unk = i;
        }
        if (v->type[i] == TOK_PIECE_BYTE) {
            if (!p->model.trainer.byte_fallback)
                return glossa_error(GLOSSA_STATUS_BAD_MODEL,
                                    "byte piece %s is found although `byte_fallback` is false",
                                    v->piece[i]);
            int b = piece_to_byte(v->piece[i], v->piece_len[i]);
            if (b < 0) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "byte piece %s is invalid", v->piece[i]);
            byte_found[b] = true;
        }
    }
    if (unk < 0) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "unk is not defined");
    if (p->model.trainer.byte_fallback)
        for (int b = 0; b < 256; b++)
            if (!byte_found[b])
                return glossa_error(GLOSSA_STATUS_BAD_MODEL,
                                    "there are not 256 byte pieces although `byte_fallback` is true");
    for (int32_t i = 0; i < v->n; i++) {
        int32_t j = tok_vocab_find(v, v->piece[i], v->piece_len[i]);
        if (j != i) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "piece %d (%s) is already defined as %d", i, v->piece[i], j);
    }
    p->unk_id = unk;
    return GLOSSA_STATUS_OK;
}

/* bos/eos/pad ids: the id of the trainer spec's piece when it is a control or user-defined piece. */
static int32_t special_id(const tok_vocab *v, const spm_str *piece)
{
    int32_t id = tok_vocab_find(v, piece->data, piece->len);
    if (id < 0) return -1;
    return v->type[id] == TOK_PIECE_CONTROL || v->type[id] == TOK_PIECE_USER_DEFINED ? id : -1;
}

static glossa_status build_user_defined(spm_processor *p)
{
    const tok_vocab *v = &p->model.vocab;
    size_t n = 0;
    for (int32_t i = 0; i < v->n; i++) n += v->type[i] == TOK_PIECE_USER_DEFINED;
    if (n == 0) return GLOSSA_STATUS_OK;
    const char **keys = malloc(n * sizeof *keys);
    uint32_t *lens = malloc(n * sizeof *lens);
    int32_t *vals = malloc(n * sizeof *vals);
    glossa_status st;
    if (!keys || !lens || !vals) {
        st = glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "user-defined symbols");
    } else {
        size_t k = 0;
        for (int32_t i = 0; i < v->n; i++) {
            if (v->type[i] != TOK_PIECE_USER_DEFINED) continue;
            keys[k] = v->piece[i];
            lens[k] = v->piece_len[i];
            vals[k] = i;
            k++;
        }
        st = tok_trie_build(&p->user_defined, n, keys, lens, vals);
    }
    free(keys);
    free(lens);
    free(vals);
    return st;
}

static glossa_status init_processor(spm_processor *p)
{
    spm_model *m = &p->model;
    GLOSSA_TRY(tok_vocab_build_index(&m->vocab, 0));
    GLOSSA_TRY(check_pieces(p));
    p->special.unk_id = p->unk_id;
    p->special.bos_id = special_id(&m->vocab, &m->trainer.bos_piece);
    p->special.eos_id = special_id(&m->vocab, &m->trainer.eos_piece);
    p->special.pad_id = special_id(&m->vocab, &m->trainer.pad_piece);
    for (int b = 0; b < 256; b++) p->byte_id[b] = -1;
    if (m->trainer.byte_fallback) tok_byte_ids_find(&m->vocab, 1, p->byte_id);

    GLOSSA_TRY(build_user_defined(p));
    const spm_normalizer_spec *ns = &m->normalizer;
    glossa_status st = spm_normalizer_init(
        &p->normalizer, ns->charsmap, ns->charsmap_len, ns->add_dummy_prefix,
        ns->remove_extra_whitespaces, ns->escape_whitespaces, m->trainer.treat_whitespace_as_suffix,
        p->user_defined.units ? &p->user_defined : NULL);
    if (st != GLOSSA_STATUS_OK) return glossa_error_prefix(st, "normalizer_spec: ");
    const spm_normalizer_spec *ds = &m->denormalizer;
    if (ds->present && ds->charsmap_len) {
        st = spm_normalizer_init(&p->denormalizer, ds->charsmap, ds->charsmap_len,
                                 ds->add_dummy_prefix, ds->remove_extra_whitespaces,
                                 ds->escape_whitespaces, false, NULL);
        if (st != GLOSSA_STATUS_OK) return glossa_error_prefix(st, "denormalizer_spec: ");
        p->has_denormalizer = true;
    }

    p->model_type = m->trainer.model_type;
    if (p->model_type == SPM_MODEL_UNIGRAM) {
        unigram_options o = unigram_default_options();
        o.unk_id = p->unk_id;
        o.byte_fallback = m->trainer.byte_fallback;
        return unigram_init(&p->unigram, &m->vocab, &o);
    }
    if (p->model_type == SPM_MODEL_BPE) {
        bpe_options o = bpe_default_options();
        o.unk_id = p->unk_id;
        o.byte_fallback = m->trainer.byte_fallback;
        return bpe_init(&p->bpe, &m->vocab, &o);
    }
    return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "sentencepiece model type %d (%s) is not supported",
                        p->model_type, p->model_type == SPM_MODEL_WORD ? "word" : "char");
}

glossa_status spm_load_buffer(const void *data, size_t size, spm_processor **out)
{
    *out = NULL;
    if (!data && size) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "spm_load_buffer: NULL data");
    if (size > SPM_MAX_MODEL_BYTES)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "sentencepiece model of %zu bytes is too large", size);
    spm_processor *p = calloc(1, sizeof *p);
    if (!p) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "sentencepiece processor");
    glossa_status st = spm_model_parse(data, size, &p->model);
    if (st == GLOSSA_STATUS_OK) st = init_processor(p);
    if (st != GLOSSA_STATUS_OK) {
        spm_free(p);
        return st;
    }
    *out = p;
    return GLOSSA_STATUS_OK;
}

glossa_status spm_load_file(const char *path, spm_processor **out)
{
    *out = NULL;
    if (!path) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "spm_load_file: NULL path");
    char *data = NULL;
    size_t size = 0;
    GLOSSA_TRY(file_read_all(path, SPM_MAX_MODEL_BYTES, &data, &size));
    glossa_status st = spm_load_buffer(data, size, out);
    free(data);
    if (st != GLOSSA_STATUS_OK) return glossa_error_prefix(st, "%s: ", path);
    return GLOSSA_STATUS_OK;
}

void spm_free(spm_processor *p)
{
    if (!p) return;
    unigram_free(&p->unigram);
    bpe_free(&p->bpe);
    spm_normalizer_free(&p->normalizer);
    spm_normalizer_free(&p->denormalizer);
    tok_trie_free(&p->user_defined);
    spm_model_free(&p->model);
    free(p);
}

const tok_vocab *spm_get_vocab(const spm_processor *p)
{
    return &p->model.vocab;
}

spm_special spm_get_special(const spm_processor *p)
{
    return p->special;
}

/* Normalize into ws->norm and segment it. */
static glossa_status encode_segments(const spm_processor *p, const char *text, size_t len,
                                     tok_ws *ws, const tok_seg **segs, size_t *n)
{
    if (!p || !ws || (!text && len)) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "spm_encode: NULL argument");
    GLOSSA_TRY(spm_normalize(&p->normalizer, text, len, &ws->norm, NULL));
    if (p->model_type == SPM_MODEL_UNIGRAM)
        return unigram_segment(&p->unigram, ws->norm.data, ws->norm.len, ws, segs, n);
    return bpe_segment(&p->bpe, ws->norm.data, ws->norm.len, ws, segs, n);
}

/* PopulateSentencePieceText, ids only. */
glossa_status spm_encode(const spm_processor *p, const char *text, size_t len, tok_ws *ws,
                         idvec *out)
{
    const tok_seg *segs;
    size_t n;
    if (!out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "spm_encode: NULL output");
    out->len = 0;
    GLOSSA_TRY(encode_segments(p, text, len, ws, &segs, &n));
    const uint8_t *type = p->model.vocab.type;
    const bool byte_fallback = p->model.trainer.byte_fallback;
    const char *norm = ws->norm.data;
    GLOSSA_TRY(idvec_reserve(out, n));
    bool prev_unk = false;
    for (size_t i = 0; i < n; i++) {
        int32_t id = segs[i].id;
        bool is_unk = type[id] == TOK_PIECE_UNKNOWN;
        if (is_unk && byte_fallback) {
            GLOSSA_TRY(idvec_reserve(out, segs[i].len));
            for (uint32_t k = 0; k < segs[i].len; k++)
                out->data[out->len++] = p->byte_id[(unsigned char)norm[segs[i].begin + k]];
        } else if (!(is_unk && prev_unk)) {
            if (out->len == out->cap) GLOSSA_TRY(idvec_reserve(out, 1));
            out->data[out->len++] = id;
        }
        prev_unk = is_unk;
    }
    return GLOSSA_STATUS_OK;
}

glossa_status spm_encode_pieces(const spm_processor *p, const char *text, size_t len, tok_ws *ws,
                                strbuf *out)
{
    const tok_seg *segs;
    size_t n;
    if (!out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "spm_encode_pieces: NULL output");
    GLOSSA_TRY(strbuf_reserve(out, 0));
    strbuf_clear(out);
    GLOSSA_TRY(encode_segments(p, text, len, ws, &segs, &n));
    const tok_vocab *v = &p->model.vocab;
    const bool byte_fallback = p->model.trainer.byte_fallback;
    const char *norm = ws->norm.data;
    bool prev_unk = false, first = true;
    for (size_t i = 0; i < n; i++) {
        int32_t id = segs[i].id;
        bool is_unk = v->type[id] == TOK_PIECE_UNKNOWN;
        const char *w = norm + segs[i].begin;
        if (is_unk && byte_fallback) {
            for (uint32_t k = 0; k < segs[i].len; k++) {
                char piece[8];
                int32_t bid = p->byte_id[(unsigned char)w[k]];
                if (!first) GLOSSA_TRY(strbuf_appendc(out, ' '));
                if (bid >= 0) {
                    GLOSSA_TRY(strbuf_append(out, v->piece[bid], v->piece_len[bid]));
                } else {
                    static const char hex[] = "0123456789ABCDEF";
                    unsigned char c = (unsigned char)w[k];
                    memcpy(piece, "<0x", 3);
                    piece[3] = hex[c >> 4];
                    piece[4] = hex[c & 15];
                    piece[5] = '>';
                    GLOSSA_TRY(strbuf_append(out, piece, 6));
                }
                first = false;
            }
        } else if (is_unk && prev_unk) {
            GLOSSA_TRY(strbuf_append(out, w, segs[i].len)); /* merged into the previous piece */
        } else {
            if (!first) GLOSSA_TRY(strbuf_appendc(out, ' '));
            if (v->type[id] == TOK_PIECE_CONTROL)
                GLOSSA_TRY(strbuf_append(out, v->piece[id], v->piece_len[id]));
            else
                GLOSSA_TRY(strbuf_append(out, w, segs[i].len));
            first = false;
        }
        prev_unk = is_unk;
    }
    return GLOSSA_STATUS_OK;
}

/* Append piece with U+2581 -> ' ', first dropping one leading U+2581 when strip. */
static glossa_status append_decoded(strbuf *out, const char *s, size_t n, bool strip)
{
    if (strip && n >= 3 && memcmp(s, k_space_symbol, 3) == 0) {
        s += 3;
        n -= 3;
    }
    GLOSSA_TRY(strbuf_reserve(out, n));
    size_t i = 0;
    while (i < n) {
        if (i + 3 <= n && memcmp(s + i, k_space_symbol, 3) == 0) {
            out->data[out->len++] = ' ';
            i += 3;
        } else {
            out->data[out->len++] = s[i++];
        }
    }
    out->data[out->len] = '\0';
    return GLOSSA_STATUS_OK;
}

/* ProcessBytePieces: bytes of a run of byte pieces, each invalid UTF-8 byte as U+FFFD. */
static glossa_status flush_bytes(strbuf *out, const unsigned char *bytes, size_t n)
{
    size_t off = 0;
    while (off < n) {
        size_t l;
        if (utf8_is_valid_at((const char *)bytes + off, n - off, &l)) {
            GLOSSA_TRY(strbuf_append(out, (const char *)bytes + off, l));
            off += l;
        } else {
            GLOSSA_TRY(strbuf_append(out, "\xEF\xBF\xBD", 3));
            off += 1;
        }
    }
    return GLOSSA_STATUS_OK;
}

glossa_status spm_decode(const spm_processor *p, const int32_t *ids, size_t n, strbuf *out)
{
    if (!p || !out || (!ids && n)) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "spm_decode: NULL argument");
    GLOSSA_TRY(strbuf_reserve(out, 0));
    strbuf_clear(out);
    const tok_vocab *v = &p->model.vocab;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= v->n)
            return glossa_error(GLOSSA_STATUS_BAD_INPUT, "Invalid id: %d", ids[i]);
    const spm_normalizer_spec *ns = &p->model.normalizer;
    const bool strip_flags = ns->add_dummy_prefix || ns->remove_extra_whitespaces;
    unsigned char bytes[256];
    size_t n_bytes = 0;
    bool is_bos_ws = true, bos_ws_seen = false;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        uint8_t t = v->type[id];
        if (t == TOK_PIECE_BYTE) {
            if (n_bytes == sizeof bytes) { /* a run that long: flush at a character boundary */
                size_t keep = 0;
                while (keep < 3 && keep < n_bytes && (bytes[n_bytes - 1 - keep] & 0xC0) == 0x80) keep++;
                if (keep < n_bytes && utf8_len_lead(bytes[n_bytes - 1 - keep]) > 1) keep++;
                else keep = 0;
                GLOSSA_TRY(flush_bytes(out, bytes, n_bytes - keep));
                memmove(bytes, bytes + n_bytes - keep, keep);
                n_bytes = keep;
            }
            bytes[n_bytes++] = (unsigned char)piece_to_byte(v->piece[id], v->piece_len[id]);
            continue;
        }
        GLOSSA_TRY(flush_bytes(out, bytes, n_bytes));
        n_bytes = 0;
        if (bos_ws_seen || out->len) is_bos_ws = false;
        bos_ws_seen = false;
        if (t == TOK_PIECE_CONTROL) continue;
        if (t == TOK_PIECE_UNKNOWN) {
            const spm_str *surf = &p->model.trainer.unk_surface;
            GLOSSA_TRY(strbuf_append(out, surf->data, surf->len));
            continue;
        }
        bool strip = false;
        if (is_bos_ws && strip_flags) {
            strip = v->piece_len[id] >= 3 && memcmp(v->piece[id], k_space_symbol, 3) == 0;
            bos_ws_seen = strip && !ns->remove_extra_whitespaces;
        }
        GLOSSA_TRY(append_decoded(out, v->piece[id], v->piece_len[id], strip));
    }
    GLOSSA_TRY(flush_bytes(out, bytes, n_bytes));
    if (p->has_denormalizer) {
        strbuf tmp = {0};
        glossa_status st = spm_normalize(&p->denormalizer, out->data, out->len, &tmp, NULL);
        if (st == GLOSSA_STATUS_OK) {
            strbuf_clear(out);
            st = strbuf_append(out, tmp.data, tmp.len);
        }
        strbuf_free(&tmp);
        GLOSSA_TRY(st);
    }
    return GLOSSA_STATUS_OK;
}
