/* Encoding and decoding: fixture models against spm_encode / spm_decode (0.1.97) outputs captured
 * as literals, the prefix trie against brute force, and the unigram / BPE models in their
 * Hugging Face modes on hand-made vocabularies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "test.h"
#include "tok/bpe.h"
#include "tok/spm.h"
#include "tok/trie.h"
#include "tok/unigram.h"

static spm_processor *load(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/spm/%s.model", GLOSSA_FIXTURES, name);
    spm_processor *p = NULL;
    CHECK_OK(spm_load_file(path, &p));
    return p;
}

static int ids_eq(const idvec *v, const int32_t *want, size_t n)
{
    if (v->len != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (v->data[i] != want[i]) return 0;
    return 1;
}

#define LINE1 "Hello world! %s and {{x}}"
#define LINE2 "\xe4\xbd\xa0\xe5\xa5\xbd\xf0\x9f\x98\x80 caf\xc3\xa9"

typedef struct enc_case {
    const char *model;
    const char *text;
    int32_t ids[24];
    size_t n;
    const char *pieces;
} enc_case;

/* printf 'LINE\n' | spm_encode --model M --output_format=id|piece */
static const enc_case k_enc[] = {
    {"uni_8k_nmtnfkc", LINE1, {291, 652, 31, 1400, 96, 257, 524, 6, 4, 56, 3, 1932, 1932, 68, 1649, 1649}, 16,
     "\xe2\x96\x81H ell o \xe2\x96\x81w or ld ! \xe2\x96\x81% s \xe2\x96\x81" "and \xe2\x96\x81 { { x } }"},
    {"uni_8k_nmtnfkc", LINE2, {3, 7719, 7375, 0, 1397, 50, 86}, 7,
     "\xe2\x96\x81 \xe4\xbd\xa0 \xe5\xa5\xbd \xf0\x9f\x98\x80 \xe2\x96\x81" "ca f \xc3\xa9"},
    {"bpe_16k_nmtnfkc_bytefb_uds", LINE1, {6834, 367, 301, 276, 418, 14148, 13783, 3, 402, 13783, 6, 13821, 7}, 13,
     "\xe2\x96\x81Hel lo \xe2\x96\x81w or ld ! \xe2\x96\x81 %s \xe2\x96\x81" "and \xe2\x96\x81 {{ x }}"},
    {"bpe_16k_nmtnfkc_bytefb_uds", LINE2, {13783, 15929, 15568, 248, 167, 160, 136, 3229, 13800, 13834}, 10,
     "\xe2\x96\x81 \xe4\xbd\xa0 \xe5\xa5\xbd <0xF0> <0x9F> <0x98> <0x80> \xe2\x96\x81" "ca f \xc3\xa9"},
    {"uni_32k_nmtnfkc_bytefb", LINE1, {15545, 732, 21621, 622, 262, 259, 294, 5028, 3765, 330, 1621, 1621}, 12,
     "\xe2\x96\x81Hel lo \xe2\x96\x81world ! \xe2\x96\x81% s \xe2\x96\x81" "and \xe2\x96\x81{ { x } }"},
    {"uni_32k_nmtnfkc_bytefb", LINE2, {260, 22983, 16095, 243, 162, 155, 131, 11605}, 8,
     "\xe2\x96\x81 \xe4\xbd\xa0 \xe5\xa5\xbd <0xF0> <0x9F> <0x98> <0x80> \xe2\x96\x81" "caf\xc3\xa9"},
    {"uni_1k_identity_uds", LINE1, {220, 107, 56, 9, 50, 52, 320, 817, 9, 3, 217, 9, 6, 60, 7}, 15,
     "\xe2\x96\x81H el lo \xe2\x96\x81 w or ld ! \xe2\x96\x81 %s \xe2\x96\x81" "and \xe2\x96\x81 {{ x }}"},
    {"uni_1k_identity_uds", LINE2, {9, 0, 9, 162, 34, 73}, 6,
     "\xe2\x96\x81 \xe4\xbd\xa0\xe5\xa5\xbd\xf0\x9f\x98\x80 \xe2\x96\x81 ca f \xc3\xa9"},
    {"uni_8k_nfkc_nodummy", "\xe2\x96\x81\xe2\x96\x81Hello", {3, 361, 96, 195}, 4, NULL},
};

static void test_encode_literals(void)
{
    tok_ws *ws = tok_ws_new();
    idvec ids = {0};
    strbuf pieces = {0};
    for (size_t i = 0; i < sizeof k_enc / sizeof *k_enc; i++) {
        const enc_case *c = &k_enc[i];
        spm_processor *p = load(c->model);
        if (!p) continue;
        CHECK_OK(spm_encode(p, c->text, strlen(c->text), ws, &ids));
        CHECK_MSG(ids_eq(&ids, c->ids, c->n), "case %zu (%s): ids differ", i, c->model);
        if (c->pieces) {
            CHECK_OK(spm_encode_pieces(p, c->text, strlen(c->text), ws, &pieces));
            CHECK_STREQ(pieces.data, c->pieces);
        }
        spm_free(p);
    }
    idvec_free(&ids);
    strbuf_free(&pieces);
    tok_ws_free(ws);
}

/* printf 'IDS\n' | spm_decode --model M --input_format=id */
static void test_decode_literals(void)
{
    spm_processor *p = load("uni_32k_nmtnfkc_bytefb");
    strbuf out = {0};
    if (p) {
        /* <s>, a truncated UTF-8 byte run, 你, </s> */
        const int32_t a[] = {1, 3 + 0xE4, 3 + 0xB8, 22983, 2};
        CHECK_OK(spm_decode(p, a, 5, &out));
        CHECK_STREQ(out.data, "\xef\xbf\xbd\xef\xbf\xbd\xe4\xbd\xa0");
        /* a byte piece first: the next piece's U+2581 is kept */
        const int32_t b[] = {3 + 0x41, 15545, 732};
        CHECK_OK(spm_decode(p, b, 3, &out));
        CHECK_STREQ(out.data, "A Hello");
        /* é from bytes, then a stray continuation byte */
        const int32_t c[] = {15545, 3 + 0xC3, 3 + 0xA9, 3 + 0x80, 732};
        CHECK_OK(spm_decode(p, c, 5, &out));
        CHECK_STREQ(out.data, "Hel\xc3\xa9\xef\xbf\xbdlo");
        /* remove_extra_whitespaces: every leading U+2581 piece is dropped */
        const int32_t d[] = {260, 260, 15545};
        CHECK_OK(spm_decode(p, d, 3, &out));
        CHECK_STREQ(out.data, "Hel");
        /* a run of 600 byte pieces (longer than the internal buffer) */
        int32_t e[600];
        for (int i = 0; i < 600; i += 3) {
            e[i] = 3 + 0xE4;
            e[i + 1] = 3 + 0xBD;
            e[i + 2] = 3 + 0xA0;
        }
        e[299] = 3 + 0xFF; /* one invalid byte in the middle */
        CHECK_OK(spm_decode(p, e, 600, &out));
        /* 99 whole characters, one broken (2 bytes -> 2 U+FFFD), one U+FFFD for 0xFF, 100 more */
        size_t want = 99 * 3 + 2 * 3 + 3 + 100 * 3;
        CHECK_MSG(out.len == want, "got %zu want %zu", out.len, want);
        CHECK_OK(spm_decode(p, NULL, 0, &out));
        CHECK(out.len == 0);
        spm_free(p);
    }
    p = load("uni_8k_nfkc_nodummy");
    if (p) {
        /* neither add_dummy_prefix nor remove_extra_whitespaces: the leading space stays */
        const int32_t a[] = {3, 361, 96, 195};
        CHECK_OK(spm_decode(p, a, 4, &out));
        CHECK_STREQ(out.data, "  Hello");
        spm_free(p);
    }
    strbuf_free(&out);
}

/* The workspace is reused: no growth once warm, and results do not depend on history. */
static void test_ws_reuse(void)
{
    spm_processor *p = load("uni_8k_nmtnfkc");
    if (!p) return;
    tok_ws *ws = tok_ws_new();
    idvec a = {0}, b = {0};
    char big[4000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = "abc de\xc3\xa9"[i % 8];
    CHECK_OK(spm_encode(p, big, sizeof big, ws, &a));
    CHECK_OK(spm_encode(p, LINE1, strlen(LINE1), ws, &a));
    size_t caps[4];
    for (int i = 0; i < 4; i++) caps[i] = ws->ext_cap[i];
    size_t norm_cap = ws->norm.cap;
    for (int r = 0; r < 100; r++) CHECK_OK(spm_encode(p, LINE1, strlen(LINE1), ws, &b));
    CHECK(ids_eq(&a, b.data, b.len));
    for (int i = 0; i < 4; i++) CHECK(ws->ext_cap[i] == caps[i]);
    CHECK(ws->norm.cap == norm_cap);
    idvec_free(&a);
    idvec_free(&b);
    tok_ws_free(ws);
    spm_free(p);
}

static void test_trie(void)
{
    const char *keys[] = {"a", "ab", "abc", "b", "", "ab", "\xe2\x96\x81", "\xff\x00x"};
    uint32_t lens[] = {1, 2, 3, 1, 0, 2, 3, 3};
    int32_t vals[] = {10, 11, 12, 13, 14, 15, 16, 17};
    tok_trie t;
    CHECK_OK(tok_trie_build(&t, 8, keys, lens, vals));
    CHECK(t.n_keys == 6);
    CHECK(tok_trie_find(&t, "ab", 2) == 11); /* the first duplicate wins */
    CHECK(tok_trie_find(&t, "abcd", 4) == -1);
    CHECK(tok_trie_find(&t, "", 0) == -1);
    CHECK(tok_trie_find(&t, "\xff\x00x", 3) == 17);
    CHECK(tok_trie_find(&t, "\xff", 1) == -1);
    int32_t v = -1;
    CHECK(tok_trie_longest(&t, "abcd", 4, &v) == 3 && v == 12);
    CHECK(tok_trie_longest(&t, "zz", 2, &v) == 0);
    tok_trie_match m[4];
    CHECK(tok_trie_prefixes(&t, "abcx", 4, m, 4) == 3);
    CHECK(m[0].len == 1 && m[0].value == 10 && m[2].len == 3 && m[2].value == 12);
    CHECK(tok_trie_prefixes(&t, "abcx", 4, m, 1) == 3);
    tok_trie_free(&t);

    /* random keys against brute force */
    enum { N = 3000 };
    static char store[N][8];
    const char *rk[N];
    uint32_t rl[N];
    int32_t rv[N];
    unsigned rng = 1;
    for (int i = 0; i < N; i++) {
        rng = rng * 1103515245u + 12345u;
        rl[i] = 1 + (rng >> 16) % 7;
        for (uint32_t k = 0; k < rl[i]; k++) {
            rng = rng * 1103515245u + 12345u;
            store[i][k] = (char)("ab\xe2\x96\x81z\x00\xff"[(rng >> 16) % 7]);
        }
        rk[i] = store[i];
        rv[i] = i;
    }
    CHECK_OK(tok_trie_build(&t, N, rk, rl, rv));
    int bad = 0;
    for (int i = 0; i < N; i++) {
        int32_t want = -1;
        for (int j = 0; j < N && want < 0; j++)
            if (rl[j] == rl[i] && memcmp(rk[j], rk[i], rl[i]) == 0) want = j;
        if (tok_trie_find(&t, rk[i], rl[i]) != want) bad++;
        char probe[8];
        memcpy(probe, rk[i], rl[i]);
        probe[rl[i]] = 'q';
        if (tok_trie_find(&t, probe, rl[i] + 1) != -1) bad++;
    }
    CHECK(bad == 0);
    tok_trie_free(&t);
    CHECK_OK(tok_trie_build(&t, 0, NULL, NULL, NULL));
    CHECK(tok_trie_find(&t, "a", 1) == -1);
    tok_trie_free(&t);
}

static void make_vocab(tok_vocab *v, const char *const *pieces, const float *scores, int n)
{
    CHECK_OK(tok_vocab_init(v, n));
    for (int i = 0; i < n; i++)
        CHECK_OK(tok_vocab_set(v, i, pieces[i], strlen(pieces[i]), scores[i],
                               i == 0 ? TOK_PIECE_UNKNOWN : TOK_PIECE_NORMAL));
    CHECK_OK(tok_vocab_build_index(v, 0));
}

static void test_unigram_hf(void)
{
    const char *pieces[] = {"<unk>", "a", "b", "ab", "c"};
    const float scores[] = {0, -1, -1, -1.5f, -3};
    tok_vocab v;
    make_vocab(&v, pieces, scores, 5);
    unigram_options o = unigram_default_options();
    o.spm_piece_types = false;
    o.unk_id = 0;
    const double s64[] = {0, -1, -1, -1.5, -3};
    o.scores_f64 = s64;
    unigram_model m;
    CHECK_OK(unigram_init(&m, &v, &o));
    tok_ws *ws = tok_ws_new();
    idvec ids = {0};
    CHECK_OK(unigram_encode(&m, "abxyc", 5, ws, &ids));
    const int32_t want[] = {3, 0, 4};
    CHECK(ids_eq(&ids, want, 3));
    const tok_seg *segs;
    size_t n;
    CHECK_OK(unigram_segment(&m, "abxyc", 5, ws, &segs, &n));
    CHECK(n == 4 && segs[1].begin == 2 && segs[1].len == 1 && segs[1].id == 0);
    unigram_free(&m);
    o.fuse_unk = false;
    CHECK_OK(unigram_init(&m, &v, &o));
    ids.len = 0;
    CHECK_OK(unigram_encode(&m, "abxyc", 5, ws, &ids));
    const int32_t want2[] = {3, 0, 0, 4};
    CHECK(ids_eq(&ids, want2, 4));
    unigram_free(&m);
    o.unk_id = 7;
    CHECK_STATUS(unigram_init(&m, &v, &o), GLOSSA_STATUS_BAD_MODEL);
    idvec_free(&ids);
    tok_ws_free(ws);
    tok_vocab_free(&v);
}

static void test_bpe_hf(void)
{
    const char *pieces[] = {"<unk>", "a", "b", "c", "ab", "abc", "bc"};
    const float scores[] = {0, 0, 0, 0, 0, 0, 0};
    tok_vocab v;
    make_vocab(&v, pieces, scores, 7);
    const int32_t merges[] = {1, 2, /* a b */ 4, 3, /* ab c */ 2, 3 /* b c */};
    bpe_options o = bpe_default_options();
    o.mode = BPE_MODE_HF;
    o.unk_id = 0;
    o.fuse_unk = true;
    o.merges = merges;
    o.n_merges = 3;
    bpe_model m;
    CHECK_OK(bpe_init(&m, &v, &o));
    tok_ws *ws = tok_ws_new();
    idvec ids = {0};
    CHECK_OK(bpe_encode(&m, "abc", 3, ws, &ids));
    CHECK(ids.len == 1 && ids.data[0] == 5);
    ids.len = 0;
    CHECK_OK(bpe_encode(&m, "bcxxa", 5, ws, &ids));
    const int32_t want[] = {6, 0, 1};
    CHECK(ids_eq(&ids, want, 3));
    bpe_free(&m);
    o.unk_id = -1; /* no unk: unknown characters are dropped */
    CHECK_OK(bpe_init(&m, &v, &o));
    ids.len = 0;
    CHECK_OK(bpe_encode(&m, "xabx", 4, ws, &ids));
    CHECK(ids.len == 1 && ids.data[0] == 4);
    bpe_free(&m);
    const int32_t bad_merges[] = {3, 1}; /* "ca" is not in the vocab */
    o.merges = bad_merges;
    o.n_merges = 1;
    CHECK_STATUS(bpe_init(&m, &v, &o), GLOSSA_STATUS_BAD_MODEL);
    idvec_free(&ids);
    tok_ws_free(ws);
    tok_vocab_free(&v);
}

int main(void)
{
    test_encode_literals();
    test_decode_literals();
    test_ws_reuse();
    test_trie();
    test_unigram_hf();
    test_bpe_hf();
    TEST_MAIN_END();
}
