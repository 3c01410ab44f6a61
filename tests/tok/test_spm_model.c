/* Loading sentencepiece .model files: fixtures, hand-built ModelProtos, and truncated, corrupted
 * or absurd files (each must give a clear error or a working model, never a crash). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/file.h"
#include "test.h"
#include "tok/spm.h"
#include "tok/spm_model.h"

/* ---- a tiny protobuf writer for hand-built models ---- */
typedef struct pbw {
    uint8_t buf[1 << 16];
    size_t n;
} pbw;

static void w_varint(pbw *w, uint64_t v)
{
    while (v >= 0x80) {
        w->buf[w->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    w->buf[w->n++] = (uint8_t)v;
}
static void w_tag(pbw *w, uint32_t field, uint32_t wire) { w_varint(w, ((uint64_t)field << 3) | wire); }
static void w_bytes(pbw *w, uint32_t field, const void *d, size_t n)
{
    w_tag(w, field, 2);
    w_varint(w, n);
    memcpy(w->buf + w->n, d, n);
    w->n += n;
}
static void w_int(pbw *w, uint32_t field, int64_t v)
{
    w_tag(w, field, 0);
    w_varint(w, (uint64_t)v);
}
static void w_float(pbw *w, uint32_t field, float f)
{
    w_tag(w, field, 5);
    memcpy(w->buf + w->n, &f, 4);
    w->n += 4;
}
static void w_piece(pbw *w, const char *s, float score, int type)
{
    pbw p = {.n = 0};
    w_bytes(&p, 1, s, strlen(s));
    w_float(&p, 2, score);
    if (type != 1) w_int(&p, 3, type);
    w_bytes(w, 1, p.buf, p.n);
}

/* trainer_spec with model_type and byte_fallback; normalizer_spec "identity". */
static void w_specs(pbw *w, int model_type, int byte_fallback)
{
    pbw t = {.n = 0};
    w_int(&t, 3, model_type);
    w_int(&t, 35, byte_fallback);
    w_int(&t, 43, -1); /* pad_id -1, sign-extended to 10 bytes */
    w_bytes(w, 2, t.buf, t.n);
    pbw n = {.n = 0};
    w_bytes(&n, 1, "identity", 8);
    w_bytes(w, 3, n.buf, n.n);
}

static void tiny_model(pbw *w, int model_type)
{
    w->n = 0;
    w_piece(w, "<unk>", 0, 2);
    w_piece(w, "<s>", 0, 3);
    w_piece(w, "</s>", 0, 3);
    w_piece(w, "\xe2\x96\x81", -1.0f, 1);
    w_piece(w, "a", -2.0f, 1);
    w_piece(w, "b", -2.0f, 1);
    w_piece(w, "ab", -1.5f, 1);
    w_piece(w, "\xe2\x96\x81" "ab", -1.0f, 1);
    w_piece(w, "@@", 0, 4);
    w_specs(w, model_type, 0);
}

static void test_tiny(void)
{
    pbw w;
    for (int type = 1; type <= 2; type++) {
        tiny_model(&w, type);
        spm_processor *p = NULL;
        CHECK_OK(spm_load_buffer(w.buf, w.n, &p));
        if (!p) continue;
        CHECK(spm_get_vocab(p)->n == 9);
        spm_special sp = spm_get_special(p);
        CHECK(sp.unk_id == 0 && sp.bos_id == 1 && sp.eos_id == 2 && sp.pad_id == -1);
        tok_ws *ws = tok_ws_new();
        idvec ids = {0};
        strbuf pieces = {0}, text = {0};
        CHECK_OK(spm_encode(p, "ab ab@@c", 8, ws, &ids));
        /* ▁ab ▁ab @@ c(unk) */
        CHECK(ids.len == 4 && ids.data[0] == 7 && ids.data[1] == 7 && ids.data[2] == 8 && ids.data[3] == 0);
        CHECK_OK(spm_encode_pieces(p, "ab ab@@cc", 9, ws, &pieces));
        CHECK_STREQ(pieces.data, "\xe2\x96\x81" "ab \xe2\x96\x81" "ab @@ cc");
        CHECK_OK(spm_decode(p, ids.data, ids.len, &text));
        CHECK_STREQ(text.data, "ab ab@@ \xe2\x81\x87 ");
        int32_t bad = 9;
        CHECK_STATUS(spm_decode(p, &bad, 1, &text), GLOSSA_STATUS_BAD_INPUT);
        bad = -1;
        CHECK_STATUS(spm_decode(p, &bad, 1, &text), GLOSSA_STATUS_BAD_INPUT);
        CHECK_OK(spm_encode(p, "", 0, ws, &ids));
        CHECK(ids.len == 0);
        CHECK_OK(spm_encode(p, "   ", 3, ws, &ids));
        CHECK(ids.len == 0);
        idvec_free(&ids);
        strbuf_free(&pieces);
        strbuf_free(&text);
        tok_ws_free(ws);
        spm_free(p);
    }
}

static glossa_status load_pieces(const char *what, void (*build)(pbw *))
{
    pbw w = {.n = 0};
    build(&w);
    spm_processor *p = NULL;
    glossa_status st = spm_load_buffer(w.buf, w.n, &p);
    spm_free(p);
    (void)what;
    return st;
}

static void b_no_unk(pbw *w)
{
    w_piece(w, "a", -1, 1);
    w_specs(w, 1, 0);
}
static void b_two_unk(pbw *w)
{
    w_piece(w, "<unk>", 0, 2);
    w_piece(w, "<unk2>", 0, 2);
    w_specs(w, 1, 0);
}
static void b_dup(pbw *w)
{
    w_piece(w, "<unk>", 0, 2);
    w_piece(w, "a", -1, 1);
    w_piece(w, "a", -2, 1);
    w_specs(w, 1, 0);
}
static void b_empty_piece(pbw *w)
{
    w_piece(w, "<unk>", 0, 2);
    w_piece(w, "", -1, 1);
    w_specs(w, 1, 0);
}
static void b_byte_no_fallback(pbw *w)
{
    w_piece(w, "<unk>", 0, 2);
    w_piece(w, "<0x41>", 0, 6);
    w_specs(w, 1, 0);
}
static void b_fallback_missing_bytes(pbw *w)
{
    w_piece(w, "<unk>", 0, 2);
    w_piece(w, "<0x41>", 0, 6);
    w_specs(w, 1, 1);
}
static void b_bad_byte_piece(pbw *w)
{
    w_piece(w, "<unk>", 0, 2);
    w_piece(w, "<0xZZ>", 0, 6);
    w_specs(w, 1, 1);
}
static void b_word_model(pbw *w)
{
    w_piece(w, "<unk>", 0, 2);
    w_specs(w, 3, 0);
}
static void b_bad_charsmap(pbw *w)
{
    w_piece(w, "<unk>", 0, 2);
    w_piece(w, "a", -1, 1);
    pbw n = {.n = 0};
    const uint8_t blob[] = {0xFF, 0xFF, 0x00, 0x00, 1, 2, 3, 4, 5}; /* trie size 65535 > blob */
    w_bytes(&n, 2, blob, sizeof blob);
    w_bytes(w, 3, n.buf, n.n);
}
static void b_charsmap_leaf_past_pool(pbw *w)
{
    w_piece(w, "<unk>", 0, 2);
    pbw n = {.n = 0};
    /* 2 units: a root (offset 1, no leaf) and a leaf unit whose value 1000 is past the pool */
    uint8_t blob[4 + 8 + 2] = {8, 0, 0, 0};
    uint32_t root = 1u << 10, leaf = 0x80000000u | 1000u;
    memcpy(blob + 4, &root, 4);
    memcpy(blob + 8, &leaf, 4);
    blob[12] = 'x';
    blob[13] = 0;
    w_bytes(&n, 2, blob, sizeof blob);
    w_bytes(w, 3, n.buf, n.n);
}
static void b_unknown_fields(pbw *w)
{
    w_piece(w, "<unk>", 0, 2);
    w_piece(w, "a", -1, 1);
    w_int(w, 99, 12345);                 /* unknown varint field */
    w_bytes(w, 100, "whatever", 8);      /* unknown length-delimited field */
    w_tag(w, 101, 3);                    /* unknown group */
    w_int(w, 1, 7);
    w_tag(w, 101, 4);
    w_tag(w, 4, 5);                      /* self_test_data sent as fixed32: ignored */
    memset(w->buf + w->n, 0, 4);
    w->n += 4;
    w_specs(w, 1, 0);
}

static void test_bad_models(void)
{
    CHECK_STATUS(load_pieces("no unk", b_no_unk), GLOSSA_STATUS_BAD_MODEL);
    CHECK(strstr(glossa_last_error(), "unk is not defined") != NULL);
    CHECK_STATUS(load_pieces("two unk", b_two_unk), GLOSSA_STATUS_BAD_MODEL);
    CHECK_STATUS(load_pieces("dup", b_dup), GLOSSA_STATUS_BAD_MODEL);
    CHECK(strstr(glossa_last_error(), "already defined") != NULL);
    CHECK_STATUS(load_pieces("empty", b_empty_piece), GLOSSA_STATUS_BAD_MODEL);
    CHECK_STATUS(load_pieces("byte", b_byte_no_fallback), GLOSSA_STATUS_BAD_MODEL);
    CHECK_STATUS(load_pieces("bytes", b_fallback_missing_bytes), GLOSSA_STATUS_BAD_MODEL);
    CHECK_STATUS(load_pieces("bad byte", b_bad_byte_piece), GLOSSA_STATUS_BAD_MODEL);
    CHECK_STATUS(load_pieces("word", b_word_model), GLOSSA_STATUS_UNSUPPORTED);
    CHECK_STATUS(load_pieces("charsmap", b_bad_charsmap), GLOSSA_STATUS_BAD_MODEL);
    CHECK(strstr(glossa_last_error(), "normalizer_spec") != NULL);
    CHECK_STATUS(load_pieces("charsmap leaf", b_charsmap_leaf_past_pool), GLOSSA_STATUS_BAD_MODEL);
    CHECK_OK(load_pieces("unknown fields", b_unknown_fields));

    spm_processor *p = (spm_processor *)1;
    CHECK_STATUS(spm_load_buffer("", 0, &p), GLOSSA_STATUS_BAD_MODEL); /* empty: no unk */
    CHECK(p == NULL);
    CHECK_STATUS(spm_load_file("/nonexistent/x.model", &p), GLOSSA_STATUS_IO_ERROR);
    /* a piece with an absurd length */
    const uint8_t absurd[] = {0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x0A};
    CHECK_STATUS(spm_load_buffer(absurd, sizeof absurd, &p), GLOSSA_STATUS_BAD_MODEL);
    CHECK(strstr(glossa_last_error(), "past the end") != NULL);
}

static void test_defaults(void)
{
    pbw w = {.n = 0};
    w_piece(&w, "<unk>", 0, 2);
    spm_model m;
    CHECK_OK(spm_model_parse(w.buf, w.n, &m));
    CHECK(m.trainer.model_type == SPM_MODEL_UNIGRAM && m.trainer.vocab_size == 8000);
    CHECK(m.trainer.unk_id == 0 && m.trainer.bos_id == 1 && m.trainer.eos_id == 2 && m.trainer.pad_id == -1);
    CHECK(!m.trainer.byte_fallback && !m.trainer.treat_whitespace_as_suffix);
    CHECK_STREQ(m.trainer.unk_surface.data, " \xe2\x81\x87 ");
    CHECK_STREQ(m.trainer.bos_piece.data, "<s>");
    CHECK(!m.normalizer.present && m.normalizer.add_dummy_prefix && m.normalizer.remove_extra_whitespaces &&
          m.normalizer.escape_whitespaces && m.normalizer.charsmap_len == 0);
    CHECK(m.vocab.n == 1 && m.vocab.type[0] == TOK_PIECE_UNKNOWN);
    spm_model_free(&m);
}

/* Every fixture loads; every truncation and many corruptions of one give OK or an error. */
static void test_fixtures_and_corruption(void)
{
    const char *names[] = {"uni_8k_nmtnfkc", "bpe_4k_nmtnfkc", "uni_32k_nmtnfkc_bytefb",
                           "bpe_16k_nmtnfkc_bytefb_uds", "uni_1k_identity_uds", "bpe_1k_identity",
                           "uni_16k_nfkccf", "uni_8k_nfkc_nodummy"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/spm/%s.model", GLOSSA_FIXTURES, names[i]);
        spm_processor *p = NULL;
        CHECK_OK(spm_load_file(path, &p));
        spm_free(p);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/spm/bpe_1k_identity.model", GLOSSA_FIXTURES);
    char *data = NULL;
    size_t size = 0;
    CHECK_OK(file_read_all(path, 1 << 26, &data, &size));
    if (!data) return;
    tok_ws *ws = tok_ws_new();
    idvec ids = {0};
    int ok = 0, err = 0;
    for (size_t cut = 0; cut < size; cut += (cut < 64 ? 1 : 97)) {
        spm_processor *p = NULL;
        glossa_status st = spm_load_buffer(data, cut, &p);
        if (st == GLOSSA_STATUS_OK) {
            ok++;
            CHECK_OK(spm_encode(p, "Hello world", 11, ws, &ids));
            spm_free(p);
        } else {
            err++;
            CHECK(glossa_last_error()[0] != '\0');
        }
    }
    CHECK(err > 0);
    unsigned rng = 12345;
    char *copy = malloc(size);
    for (int iter = 0; iter < 400 && copy; iter++) {
        memcpy(copy, data, size);
        for (int k = 0; k < 1 + iter % 8; k++) {
            rng = rng * 1103515245u + 12345u;
            size_t at = (rng >> 8) % size;
            rng = rng * 1103515245u + 12345u;
            copy[at] = (char)(rng >> 16);
        }
        spm_processor *p = NULL;
        if (spm_load_buffer(copy, size, &p) == GLOSSA_STATUS_OK) {
            ok++;
            CHECK_OK(spm_encode(p, "Hello w\xc3\xb6rld \xff", 15, ws, &ids));
            strbuf s = {0};
            if (ids.len) CHECK_OK(spm_decode(p, ids.data, ids.len, &s));
            strbuf_free(&s);
            spm_free(p);
        } else {
            err++;
        }
    }
    printf("corruption: %d loaded, %d refused\n", ok, err);
    free(copy);
    free(data);
    idvec_free(&ids);
    tok_ws_free(ws);
}

int main(void)
{
    test_tiny();
    test_bad_models();
    test_defaults();
    test_fixtures_and_corruption();
    TEST_MAIN_END();
}
