/* The sentencepiece normalizer against spm_normalize --use_internal_normalization (0.1.97)
 * outputs captured as literals, plus user-defined symbols and the charsmap reader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "test.h"
#include "tok/charsmap.h"
#include "tok/normalizer.h"
#include "tok/spm_model.h"
#include "io/file.h"

typedef struct norm_case {
    const char *model;
    const char *in;
    size_t in_len;
    const char *want;
    size_t want_len;
} norm_case;

/* Generated with: printf '%s\n' INPUT | spm_normalize --model M --use_internal_normalization */
static const norm_case k_cases[] = {
    {"uni_8k_nmtnfkc", "  Hello\xef""\xbc""\xa1""  W\xc3""\xa9""rld\xe2""\x91""\xa0"" ", 22, "\xe2""\x96""\x81""HelloA\xe2""\x96""\x81""W\xc3""\xa9""rld1", 19},
    {"uni_8k_nmtnfkc", "", 0, "", 0},
    {"uni_8k_nmtnfkc", "   ", 3, "", 0},
    {"uni_8k_nmtnfkc", "a  b", 4, "\xe2""\x96""\x81""a\xe2""\x96""\x81""b", 8},
    {"uni_8k_nmtnfkc", "\x09""Tab\x09""sep\x09""", 9, "\xe2""\x96""\x81""Tab\xe2""\x96""\x81""sep", 12},
    {"uni_8k_nmtnfkc", "\xef""\xbd""\xb6""\xef""\xbe""\x9e""", 6, "\xe2""\x96""\x81""\xe3""\x82""\xac""", 6},
    {"uni_8k_nmtnfkc", "\xe2""\x84""\xab""", 3, "\xe2""\x96""\x81""\xc3""\x85""", 5},
    {"uni_8k_nmtnfkc", "Stra\xc3""\x9f""e \xc3""\x84""RGER", 14, "\xe2""\x96""\x81""Stra\xc3""\x9f""e\xe2""\x96""\x81""\xc3""\x84""RGER", 19},
    {"uni_8k_nmtnfkc", "x\xe2""\x80""\x8b""y", 5, "\xe2""\x96""\x81""x\xe2""\x96""\x81""y", 8},
    {"uni_8k_nmtnfkc", "\xc2""\xa0""nbsp\xc2""\xa0""", 8, "\xe2""\x96""\x81""nbsp", 7},
    {"uni_8k_nmtnfkc", "\xff""\xfe""ab", 4, "\xe2""\x96""\x81""\xef""\xbf""\xbd""\xef""\xbf""\xbd""ab", 11},
    {"uni_8k_nmtnfkc", "abc\xe4""\xb8""", 5, "\xe2""\x96""\x81""abc\xef""\xbf""\xbd""\xef""\xbf""\xbd""", 12},
    {"uni_8k_nmtnfkc", "\xe2""\x96""\x81""x", 4, "\xe2""\x96""\x81""x", 4},
    {"uni_8k_nmtnfkc", "\xef""\xac""\x81"" \xe3""\x8d""\xbf""", 7, "\xe2""\x96""\x81""fi\xe2""\x96""\x81""\xe6""\xa0""\xaa""\xe5""\xbc""\x8f""\xe4""\xbc""\x9a""\xe7""\xa4""\xbe""", 20},
    {"uni_8k_nmtnfkc", "a\x00""b", 3, "\xe2""\x96""\x81""a\x00""b", 6},
    {"uni_8k_nmtnfkc", "\x7f""\x01""z", 3, "\xe2""\x96""\x81""z", 4},
    {"uni_8k_nmtnfkc", "\xe3""\x80""\x80""full\xe3""\x80""\x80""", 10, "\xe2""\x96""\x81""full", 7},
    {"uni_8k_nmtnfkc", "\xe1""\x84""\x80""\xe1""\x85""\xa1""", 6, "\xe2""\x96""\x81""\xea""\xb0""\x80""", 6},
    {"uni_8k_nmtnfkc", "\xed""\xa0""\x80""x", 4, "\xe2""\x96""\x81""\xef""\xbf""\xbd""\xef""\xbf""\xbd""\xef""\xbf""\xbd""x", 13},
    {"uni_8k_nfkc_nodummy", "  Hello\xef""\xbc""\xa1""  W\xc3""\xa9""rld\xe2""\x91""\xa0"" ", 22, "\xe2""\x96""\x81""\xe2""\x96""\x81""HelloA\xe2""\x96""\x81""\xe2""\x96""\x81""W\xc3""\xa9""rld1\xe2""\x96""\x81""", 28},
    {"uni_8k_nfkc_nodummy", "", 0, "", 0},
    {"uni_8k_nfkc_nodummy", "   ", 3, "\xe2""\x96""\x81""\xe2""\x96""\x81""\xe2""\x96""\x81""", 9},
    {"uni_8k_nfkc_nodummy", "a  b", 4, "a\xe2""\x96""\x81""\xe2""\x96""\x81""b", 8},
    {"uni_8k_nfkc_nodummy", "\x09""Tab\x09""sep\x09""", 9, "\x09""Tab\x09""sep\x09""", 9},
    {"uni_8k_nfkc_nodummy", "\xef""\xbd""\xb6""\xef""\xbe""\x9e""", 6, "\xe3""\x82""\xac""", 3},
    {"uni_8k_nfkc_nodummy", "\xe2""\x84""\xab""", 3, "\xc3""\x85""", 2},
    {"uni_8k_nfkc_nodummy", "Stra\xc3""\x9f""e \xc3""\x84""RGER", 14, "Stra\xc3""\x9f""e\xe2""\x96""\x81""\xc3""\x84""RGER", 16},
    {"uni_8k_nfkc_nodummy", "x\xe2""\x80""\x8b""y", 5, "x\xe2""\x80""\x8b""y", 5},
    {"uni_8k_nfkc_nodummy", "\xc2""\xa0""nbsp\xc2""\xa0""", 8, "\xe2""\x96""\x81""nbsp\xe2""\x96""\x81""", 10},
    {"uni_8k_nfkc_nodummy", "\xff""\xfe""ab", 4, "\xef""\xbf""\xbd""\xef""\xbf""\xbd""ab", 8},
    {"uni_8k_nfkc_nodummy", "abc\xe4""\xb8""", 5, "abc\xef""\xbf""\xbd""\xef""\xbf""\xbd""", 9},
    {"uni_8k_nfkc_nodummy", "\xe2""\x96""\x81""x", 4, "\xe2""\x96""\x81""x", 4},
    {"uni_8k_nfkc_nodummy", "\xef""\xac""\x81"" \xe3""\x8d""\xbf""", 7, "fi\xe2""\x96""\x81""\xe6""\xa0""\xaa""\xe5""\xbc""\x8f""\xe4""\xbc""\x9a""\xe7""\xa4""\xbe""", 17},
    {"uni_8k_nfkc_nodummy", "a\x00""b", 3, "a\x00""b", 3},
    {"uni_8k_nfkc_nodummy", "\x7f""\x01""z", 3, "\x7f""\x01""z", 3},
    {"uni_8k_nfkc_nodummy", "\xe3""\x80""\x80""full\xe3""\x80""\x80""", 10, "\xe2""\x96""\x81""full\xe2""\x96""\x81""", 10},
    {"uni_8k_nfkc_nodummy", "\xe1""\x84""\x80""\xe1""\x85""\xa1""", 6, "\xea""\xb0""\x80""", 3},
    {"uni_8k_nfkc_nodummy", "\xed""\xa0""\x80""x", 4, "\xef""\xbf""\xbd""\xef""\xbf""\xbd""\xef""\xbf""\xbd""x", 10},
    {"uni_16k_nfkccf", "  Hello\xef""\xbc""\xa1""  W\xc3""\xa9""rld\xe2""\x91""\xa0"" ", 22, "\xe2""\x96""\x81""helloa\xe2""\x96""\x81""w\xc3""\xa9""rld1", 19},
    {"uni_16k_nfkccf", "", 0, "", 0},
    {"uni_16k_nfkccf", "   ", 3, "", 0},
    {"uni_16k_nfkccf", "a  b", 4, "\xe2""\x96""\x81""a\xe2""\x96""\x81""b", 8},
    {"uni_16k_nfkccf", "\x09""Tab\x09""sep\x09""", 9, "\xe2""\x96""\x81""tab\xe2""\x96""\x81""sep", 12},
    {"uni_16k_nfkccf", "\xef""\xbd""\xb6""\xef""\xbe""\x9e""", 6, "\xe2""\x96""\x81""\xe3""\x82""\xac""", 6},
    {"uni_16k_nfkccf", "\xe2""\x84""\xab""", 3, "\xe2""\x96""\x81""\xc3""\xa5""", 5},
    {"uni_16k_nfkccf", "Stra\xc3""\x9f""e \xc3""\x84""RGER", 14, "\xe2""\x96""\x81""stra\xc3""\x9f""e\xe2""\x96""\x81""\xc3""\xa4""rger", 19},
    {"uni_16k_nfkccf", "x\xe2""\x80""\x8b""y", 5, "\xe2""\x96""\x81""x\xe2""\x96""\x81""y", 8},
    {"uni_16k_nfkccf", "\xc2""\xa0""nbsp\xc2""\xa0""", 8, "\xe2""\x96""\x81""nbsp", 7},
    {"uni_16k_nfkccf", "\xff""\xfe""ab", 4, "\xe2""\x96""\x81""\xef""\xbf""\xbd""\xef""\xbf""\xbd""ab", 11},
    {"uni_16k_nfkccf", "abc\xe4""\xb8""", 5, "\xe2""\x96""\x81""abc\xef""\xbf""\xbd""\xef""\xbf""\xbd""", 12},
    {"uni_16k_nfkccf", "\xe2""\x96""\x81""x", 4, "\xe2""\x96""\x81""x", 4},
    {"uni_16k_nfkccf", "\xef""\xac""\x81"" \xe3""\x8d""\xbf""", 7, "\xe2""\x96""\x81""fi\xe2""\x96""\x81""\xe6""\xa0""\xaa""\xe5""\xbc""\x8f""\xe4""\xbc""\x9a""\xe7""\xa4""\xbe""", 20},
    {"uni_16k_nfkccf", "a\x00""b", 3, "\xe2""\x96""\x81""a\x00""b", 6},
    {"uni_16k_nfkccf", "\x7f""\x01""z", 3, "\xe2""\x96""\x81""z", 4},
    {"uni_16k_nfkccf", "\xe3""\x80""\x80""full\xe3""\x80""\x80""", 10, "\xe2""\x96""\x81""full", 7},
    {"uni_16k_nfkccf", "\xe1""\x84""\x80""\xe1""\x85""\xa1""", 6, "\xe2""\x96""\x81""\xea""\xb0""\x80""", 6},
    {"uni_16k_nfkccf", "\xed""\xa0""\x80""x", 4, "\xe2""\x96""\x81""\xef""\xbf""\xbd""\xef""\xbf""\xbd""\xef""\xbf""\xbd""x", 13},
    {"uni_1k_identity_uds", "  Hello\xef""\xbc""\xa1""  W\xc3""\xa9""rld\xe2""\x91""\xa0"" ", 22, "\xe2""\x96""\x81""Hello\xef""\xbc""\xa1""\xe2""\x96""\x81""W\xc3""\xa9""rld\xe2""\x91""\xa0""", 23},
    {"uni_1k_identity_uds", "", 0, "", 0},
    {"uni_1k_identity_uds", "   ", 3, "", 0},
    {"uni_1k_identity_uds", "a  b", 4, "\xe2""\x96""\x81""a\xe2""\x96""\x81""b", 8},
    {"uni_1k_identity_uds", "\x09""Tab\x09""sep\x09""", 9, "\xe2""\x96""\x81""\x09""Tab\x09""sep\x09""", 12},
    {"uni_1k_identity_uds", "\xef""\xbd""\xb6""\xef""\xbe""\x9e""", 6, "\xe2""\x96""\x81""\xef""\xbd""\xb6""\xef""\xbe""\x9e""", 9},
    {"uni_1k_identity_uds", "\xe2""\x84""\xab""", 3, "\xe2""\x96""\x81""\xe2""\x84""\xab""", 6},
    {"uni_1k_identity_uds", "Stra\xc3""\x9f""e \xc3""\x84""RGER", 14, "\xe2""\x96""\x81""Stra\xc3""\x9f""e\xe2""\x96""\x81""\xc3""\x84""RGER", 19},
    {"uni_1k_identity_uds", "x\xe2""\x80""\x8b""y", 5, "\xe2""\x96""\x81""x\xe2""\x80""\x8b""y", 8},
    {"uni_1k_identity_uds", "\xc2""\xa0""nbsp\xc2""\xa0""", 8, "\xe2""\x96""\x81""\xc2""\xa0""nbsp\xc2""\xa0""", 11},
    {"uni_1k_identity_uds", "\xff""\xfe""ab", 4, "\xe2""\x96""\x81""\xef""\xbf""\xbd""\xef""\xbf""\xbd""ab", 11},
    {"uni_1k_identity_uds", "abc\xe4""\xb8""", 5, "\xe2""\x96""\x81""abc\xef""\xbf""\xbd""\xef""\xbf""\xbd""", 12},
    {"uni_1k_identity_uds", "\xe2""\x96""\x81""x", 4, "\xe2""\x96""\x81""\xe2""\x96""\x81""x", 7},
    {"uni_1k_identity_uds", "\xef""\xac""\x81"" \xe3""\x8d""\xbf""", 7, "\xe2""\x96""\x81""\xef""\xac""\x81""\xe2""\x96""\x81""\xe3""\x8d""\xbf""", 12},
    {"uni_1k_identity_uds", "a\x00""b", 3, "\xe2""\x96""\x81""a\x00""b", 6},
    {"uni_1k_identity_uds", "\x7f""\x01""z", 3, "\xe2""\x96""\x81""\x7f""\x01""z", 6},
    {"uni_1k_identity_uds", "\xe3""\x80""\x80""full\xe3""\x80""\x80""", 10, "\xe2""\x96""\x81""\xe3""\x80""\x80""full\xe3""\x80""\x80""", 13},
    {"uni_1k_identity_uds", "\xe1""\x84""\x80""\xe1""\x85""\xa1""", 6, "\xe2""\x96""\x81""\xe1""\x84""\x80""\xe1""\x85""\xa1""", 9},
    {"uni_1k_identity_uds", "\xed""\xa0""\x80""x", 4, "\xe2""\x96""\x81""\xef""\xbf""\xbd""\xef""\xbf""\xbd""\xef""\xbf""\xbd""x", 13},
};

static glossa_status load_normalizer(const char *name, spm_model *m, spm_normalizer *n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/spm/%s.model", GLOSSA_FIXTURES, name);
    char *data = NULL;
    size_t size = 0;
    GLOSSA_TRY(file_read_all(path, 1 << 26, &data, &size));
    glossa_status st = spm_model_parse(data, size, m);
    free(data);
    GLOSSA_TRY(st);
    const spm_normalizer_spec *s = &m->normalizer;
    return spm_normalizer_init(n, s->charsmap, s->charsmap_len, s->add_dummy_prefix,
                               s->remove_extra_whitespaces, s->escape_whitespaces,
                               m->trainer.treat_whitespace_as_suffix, NULL);
}

static void test_cases(void)
{
    const char *loaded = NULL;
    spm_model m;
    spm_normalizer n;
    memset(&m, 0, sizeof m);
    memset(&n, 0, sizeof n);
    strbuf out = {0};
    idvec map = {0};
    for (size_t i = 0; i < sizeof k_cases / sizeof *k_cases; i++) {
        const norm_case *c = &k_cases[i];
        if (!loaded || strcmp(loaded, c->model) != 0) {
            spm_normalizer_free(&n);
            spm_model_free(&m);
            CHECK_OK(load_normalizer(c->model, &m, &n));
            loaded = c->model;
        }
        CHECK_OK(spm_normalize(&n, c->in, c->in_len, &out, &map));
        CHECK_MSG(out.len == c->want_len && memcmp(out.data, c->want, out.len) == 0,
                  "case %zu (%s): got %zu bytes, want %zu", i, c->model, out.len, c->want_len);
        /* norm_to_orig: one entry per output byte plus the end; non-decreasing; ends <= input */
        if (out.len) {
            CHECK(map.len == out.len + 1);
            int mono = 1;
            for (size_t k = 1; k < map.len; k++) mono &= map.data[k] >= map.data[k - 1];
            CHECK(mono && (size_t)map.data[map.len - 1] <= c->in_len);
        }
        /* without the map: same text */
        strbuf out2 = {0};
        CHECK_OK(spm_normalize(&n, c->in, c->in_len, &out2, NULL));
        CHECK(out2.len == out.len && (out.len == 0 || memcmp(out2.data, out.data, out.len) == 0));
        strbuf_free(&out2);
    }
    spm_normalizer_free(&n);
    spm_model_free(&m);
    strbuf_free(&out);
    idvec_free(&map);
}

/* User-defined symbols pass through un-normalized (longest match), spaces inside still escaped. */
static void test_user_defined(void)
{
    spm_model m;
    spm_normalizer n;
    CHECK_OK(load_normalizer("uni_8k_nmtnfkc", &m, &n));
    const char *keys[] = {"\xef\xbc\xa1\xef\xbc\xa2", "\xef\xbc\xa1", "x y"};
    uint32_t lens[] = {6, 3, 3};
    int32_t vals[] = {0, 1, 2};
    tok_trie uds;
    CHECK_OK(tok_trie_build(&uds, 3, keys, lens, vals));
    const spm_normalizer_spec *ns = &m.normalizer;
    spm_normalizer_free(&n);
    CHECK_OK(spm_normalizer_init(&n, ns->charsmap, ns->charsmap_len, ns->add_dummy_prefix,
                                 ns->remove_extra_whitespaces, ns->escape_whitespaces, false, &uds));
    strbuf out = {0};
    /* "ＡＢＣ x y" : ＡＢ kept, Ｃ -> C, "x y" kept with its space escaped */
    CHECK_OK(spm_normalize(&n, "\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3 x y", 13, &out, NULL));
    CHECK_STREQ(out.data, "\xe2\x96\x81\xef\xbc\xa1\xef\xbc\xa2" "C\xe2\x96\x81x\xe2\x96\x81y");
    tok_trie_free(&uds);
    spm_normalizer_free(&n);
    spm_model_free(&m);
    strbuf_free(&out);
}

static void test_flags(void)
{
    spm_normalizer n;
    strbuf out = {0};
    /* no charsmap, suffix whitespace, no escaping */
    CHECK_OK(spm_normalizer_init(&n, NULL, 0, true, true, false, true, NULL));
    CHECK_OK(spm_normalize(&n, "  a   b  ", 9, &out, NULL));
    CHECK_STREQ(out.data, "a b ");
    spm_normalizer_free(&n);
    CHECK_OK(spm_normalizer_init(&n, NULL, 0, true, false, true, false, NULL));
    CHECK_OK(spm_normalize(&n, " a  b ", 6, &out, NULL));
    CHECK_STREQ(out.data, "\xe2\x96\x81\xe2\x96\x81" "a\xe2\x96\x81\xe2\x96\x81" "b\xe2\x96\x81");
    /* invalid bytes: one U+FFFD per byte */
    CHECK_OK(spm_normalize(&n, "\xff\xc3", 2, &out, NULL));
    CHECK_STREQ(out.data, "\xe2\x96\x81\xef\xbf\xbd\xef\xbf\xbd");
    spm_normalizer_free(&n);
    strbuf_free(&out);
}

static void test_charsmap(void)
{
    spm_model m;
    spm_normalizer n;
    CHECK_OK(load_normalizer("uni_8k_nmtnfkc", &m, &n));
    tok_charsmap_rule r[8];
    /* U+FF21 (fullwidth A) -> "A" */
    CHECK(tok_charsmap_longest(&n.charsmap, "\xef\xbc\xa1rest", 7, &r[0]));
    CHECK(r[0].in_len == 3 && r[0].out_len == 1 && r[0].out[0] == 'A');
    CHECK(!tok_charsmap_longest(&n.charsmap, "abc", 3, &r[0]));
    size_t k = tok_charsmap_prefixes(&n.charsmap, "\xef\xbc\xa1", 3, r, 8);
    CHECK(k >= 1 && r[k - 1].in_len == 3);
    /* truncated input: no crash, no match past len */
    CHECK(!tok_charsmap_longest(&n.charsmap, "\xef\xbc", 2, &r[0]));
    /* corrupted copies of the blob: load or refuse, and lookups stay in bounds */
    uint8_t *blob = malloc(m.normalizer.charsmap_len);
    unsigned rng = 99;
    for (int iter = 0; iter < 200 && blob; iter++) {
        memcpy(blob, m.normalizer.charsmap, m.normalizer.charsmap_len);
        for (int j = 0; j < 64; j++) {
            rng = rng * 1103515245u + 12345u;
            size_t at = 4 + (rng >> 4) % (m.normalizer.charsmap_len - 4);
            rng = rng * 1103515245u + 12345u;
            blob[at] = (uint8_t)(rng >> 16);
        }
        tok_charsmap cm;
        if (tok_charsmap_load(&cm, blob, m.normalizer.charsmap_len) == GLOSSA_STATUS_OK) {
            const char *probe = "\xef\xbc\xa1\xe2\x91\xa0 abc \xc3\xa9\xe3\x80\x80";
            for (size_t off = 0; off < strlen(probe); off++) {
                tok_charsmap_longest(&cm, probe + off, strlen(probe) - off, &r[0]);
                tok_charsmap_prefixes(&cm, probe + off, strlen(probe) - off, r, 8);
            }
            tok_charsmap_free(&cm);
        }
    }
    free(blob);
    tok_charsmap cm;
    CHECK_STATUS(tok_charsmap_load(&cm, "\x01\x00\x00", 3), GLOSSA_STATUS_BAD_MODEL);
    CHECK_STATUS(tok_charsmap_load(&cm, "\x04\x00\x00\x00\x00\x00\x00\x00", 8), GLOSSA_STATUS_BAD_MODEL);
    spm_normalizer_free(&n);
    spm_model_free(&m);
}

int main(void)
{
    test_cases();
    test_user_defined();
    test_flags();
    test_charsmap();
    TEST_MAIN_END();
}
