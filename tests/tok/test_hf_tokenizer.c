/* hf_tokenizer units: the regex engine against what tokenizers' Oniguruma does (outputs recorded
 * from tokenizers 0.23.2), normalizer details, small hand-written tokenizer.json files, and the
 * error paths: bad JSON, wrong types, unsupported components, absurd ids, invalid UTF-8. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/status.h"
#include "test.h"
#include "tok/hf_normalizer.h"
#include "tok/hf_regex.h"
#include "tok/hf_tokenizer.h"

/* ------------------------------------------------------------------------------------------- */
/* Regex                                                                                        */

/* Replace(Regex(pat), "#").normalize_str(s), through the normalizer. */
static char *replace_all(const char *pat, const char *s)
{
    char json[512];
    snprintf(json, sizeof json, "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"%s\"},\"content\":\"#\"}", pat);
    json_error_t err;
    json_t *j = json_loads(json, 0, &err);
    if (!j) return NULL;
    hf_normalizer nz;
    glossa_status st = hf_normalizer_load(j, &nz);
    json_decref(j);
    if (st != GLOSSA_STATUS_OK) return NULL;
    arena a;
    arena_init(&a, 4096);
    hf_nstr out;
    char *r = NULL;
    if (hf_normalize(&nz, s, strlen(s), 0, &a, &out) == GLOSSA_STATUS_OK) r = strndup(out.s, out.len);
    arena_free(&a);
    hf_normalizer_free(&nz);
    return r;
}

static void check_replace(const char *pat, const char *s, const char *want)
{
    char *got = replace_all(pat, s);
    CHECK_MSG(got && strcmp(got, want) == 0, "/%s/: got \"%s\" want \"%s\"", pat, got ? got : "(error)", want);
    free(got);
}

static void test_regex_like_oniguruma(void)
{
    /* The probe of gen.py: tokenizers 0.23.2 output for each pattern. */
    const char *s = "a\u00a0b\u3000c d\te \u0663 3 \u00e9\nab_x-y";
    check_replace("\\\\s", s, "a#b#c#d#e#\u0663#3#\u00e9#ab_x-y");
    check_replace("\\\\d", s, "a\u00a0b\u3000c d\te # # \u00e9\nab_x-y");
    check_replace("\\\\w", s, "#\u00a0#\u3000# #\t# # # #\n####-#");
    check_replace("^a", s, "#\u00a0b\u3000c d\te \u0663 3 \u00e9\n#b_x-y");
    check_replace("b$", s, s);
    check_replace(".", s, "###############\n######");
    check_replace("\\\\p{L}", s, "#\u00a0#\u3000# #\t# \u0663 3 #\n##_#-#");
    check_replace("[[:space:]]", s, "a#b#c#d#e#\u0663#3#\u00e9#ab_x-y");
    check_replace("\\\\S+", s, "#\u00a0#\u3000# #\t# # # #\n#");
    check_replace("x*", s, "#a#\u00a0#b#\u3000#c# #d#\t#e# #\u0663# #3# #\u00e9#\n#a#b#_#-#y#");
    /* leftmost-first alternation, lazy and bounded repeats, classes, lookahead */
    check_replace("a|ab", "abab", "#b#b");
    check_replace("ab|a", "abab", "##");
    check_replace(" {2,}", "a  b   c d", "a#b#c d");
    check_replace("a{2}", "aaaaa", "##a");
    check_replace("a{1,2}?", "aaa", "###");
    check_replace("[^a-c]+", "abxyzc", "ab#c");
    check_replace("[\\\\d.]+", "v1.25 x", "v# x");
    check_replace("\\\\s+(?!\\\\S)", "a   b  ", "a# b#");
    check_replace("(?:ab)+c", "ababc abc", "# #");
    check_replace("\\\\bis\\\\b", "this is it", "this # it");
    check_replace("\\\\x{2581}", "a\u2581b", "a#b");

    const char *bad[] = {"(?<=a)b", "(?i)a", "a++", "\\\\1", "\\\\p{Han}", "[a&&b]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hf_regex *re = NULL;
        char pat[32];
        size_t o = 0;
        for (const char *p = bad[i]; *p; p++)
            if (!(p[0] == '\\' && p[1] == '\\')) pat[o++] = *p;
        pat[o] = '\0';
        CHECK_STATUS(hf_regex_compile(pat, strlen(pat), &re), GLOSSA_STATUS_UNSUPPORTED);
        hf_regex_free(re);
    }
    hf_regex *re = NULL;
    CHECK_STATUS(hf_regex_compile("(a", 2, &re), GLOSSA_STATUS_BAD_MODEL);
    CHECK_STATUS(hf_regex_compile("a)", 2, &re), GLOSSA_STATUS_BAD_MODEL);
    CHECK_STATUS(hf_regex_compile("*a", 2, &re), GLOSSA_STATUS_BAD_MODEL);
    CHECK_STATUS(hf_regex_compile("[a", 2, &re), GLOSSA_STATUS_BAD_MODEL);
    /* catastrophic patterns stay linear */
    CHECK_OK(hf_regex_compile("(a*)*b", 6, &re));
    if (re) {
        char text[3001];
        memset(text, 'a', 3000);
        text[3000] = '\0';
        arena a;
        arena_init(&a, 4096);
        hf_match_iter it;
        hf_match_iter_init(&it, re, NULL, 0, text, 3000, &a);
        size_t ms, me;
        glossa_status st = GLOSSA_STATUS_OK;
        CHECK(!hf_match_next(&it, &ms, &me, &st) && st == GLOSSA_STATUS_OK);
        arena_free(&a);
        hf_regex_free(re);
    }
}

static void test_lower_strip(void)
{
    const char *json = "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Lowercase\"}]}";
    json_error_t err;
    json_t *j = json_loads(json, 0, &err);
    hf_normalizer nz;
    CHECK_OK(hf_normalizer_load(j, &nz));
    json_decref(j);
    arena a;
    arena_init(&a, 4096);
    hf_nstr out;
    const char *in = "\u0130\u03a3\u0391\u03a3 \u1e9e \u01c5";
    CHECK_OK(hf_normalize(&nz, in, strlen(in), 0, &a, &out));
    CHECK(out.len == strlen("i\u0307\u03c3\u03b1\u03c3 \u00df \u01c6") &&
          memcmp(out.s, "i\u0307\u03c3\u03b1\u03c3 \u00df \u01c6", out.len) == 0);
    hf_normalizer_free(&nz);
    j = json_loads("{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true}", 0, &err);
    CHECK_OK(hf_normalizer_load(j, &nz));
    json_decref(j);
    in = "\u00a0\u3000 x \u200b\xC2\x85";
    CHECK_OK(hf_normalize(&nz, in, strlen(in), 0, &a, &out));
    CHECK(out.len == strlen("x \u200b") && memcmp(out.s, "x \u200b", out.len) == 0);
    hf_normalizer_free(&nz);
    arena_free(&a);
}

/* ------------------------------------------------------------------------------------------- */
/* Hand-written tokenizers                                                                      */

static hf_tokenizer *load(const char *json)
{
    hf_tokenizer *t = NULL;
    glossa_status st = hf_tokenizer_load_buffer(json, strlen(json), &t);
    CHECK_MSG(st == GLOSSA_STATUS_OK, "%s", glossa_last_error());
    return t;
}

static void encode_is(hf_tokenizer *t, const char *text, size_t len, bool special,
                      const int32_t *want, size_t n)
{
    tok_ws *ws = tok_ws_new();
    idvec ids = {0};
    glossa_status st = hf_tokenizer_encode(t, text, len, special, ws, &ids);
    bool ok = st == GLOSSA_STATUS_OK && ids.len == n && (n == 0 || memcmp(ids.data, want, n * 4) == 0);
    CHECK_MSG(ok, "encode \"%.*s\": %s", (int)len, text, st == GLOSSA_STATUS_OK ? "wrong ids" : glossa_last_error());
    if (!ok) {
        for (size_t i = 0; i < ids.len; i++) fprintf(stderr, " %d", ids.data[i]);
        fprintf(stderr, "\n");
    }
    idvec_free(&ids);
    tok_ws_free(ws);
}

#define UNIGRAM_HEAD                                                                               \
    "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,"                                   \
    "\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true,\"normalized\":false},"    \
    "{\"id\":1,\"content\":\"</s>\",\"special\":true,\"normalized\":false},"                       \
    "{\"id\":99,\"content\":\"<mask>\",\"special\":true,\"normalized\":true,\"lstrip\":true}],"

#define UNIGRAM_MODEL                                                                              \
    "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0],[\"</s>\",0],"          \
    "[\"\\u2581\",-2],[\"a\",-3],[\"b\",-3],[\"\\u2581ab\",-1],[\"c\",-4]]}"

static void test_small_unigram(void)
{
    const char *json = UNIGRAM_HEAD
        "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Replace\","
        "\"pattern\":{\"Regex\":\" {2,}\"},\"content\":\" \"}]},"
        "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"always\",\"split\":true},"
        "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
        "{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":0}}],\"special_tokens\":{\"</s>\":{\"id\":\"</s>\",\"ids\":[1],\"tokens\":[\"</s>\"]}}},"
        "\"decoder\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"always\",\"split\":true},"
        UNIGRAM_MODEL "}";
    hf_tokenizer *t = load(json);
    if (!t) return;
    /* The file's id 99 for <mask> is not what the library gives: a new token gets the next id. */
    CHECK(hf_tokenizer_vocab_size(t) == 8);
    CHECK(hf_tokenizer_token_to_id(t, "<mask>", 6) == 7);
    CHECK_STREQ(hf_tokenizer_id_to_token(t, 7), "<mask>");
    CHECK(hf_tokenizer_is_special(t, 1) && hf_tokenizer_is_special(t, 7) && !hf_tokenizer_is_special(t, 3));
    CHECK(hf_tokenizer_token_to_id(t, "zz", 2) == -1);
    CHECK(hf_tokenizer_id_to_token(t, 8) == NULL);
    encode_is(t, "ab  c", 5, true, (const int32_t[]){5, 2, 6, 1}, 4);
    encode_is(t, "ab  c", 5, false, (const int32_t[]){5, 2, 6}, 3);
    encode_is(t, "", 0, true, (const int32_t[]){1}, 1);
    encode_is(t, "ab x", 4, false, (const int32_t[]){5, 2, 0}, 3); /* unknown x: unk */
    encode_is(t, "ab <mask>c", 10, false, (const int32_t[]){5, 7, 2, 6}, 4);
    /* invalid UTF-8 reads as U+FFFD (one per maximal subpart), an unknown character */
    encode_is(t, "a\xE0\xA4", 3, false, (const int32_t[]){2, 3, 0}, 3);
    strbuf out = {0};
    CHECK_OK(hf_tokenizer_decode(t, (const int32_t[]){5, 2, 6, 1}, 4, false, &out));
    CHECK_STREQ(out.data, "ab c</s>");
    CHECK_OK(hf_tokenizer_decode(t, (const int32_t[]){5, 2, 6, 1}, 4, true, &out));
    CHECK_STREQ(out.data, "ab c");
    CHECK_STATUS(hf_tokenizer_decode(t, (const int32_t[]){5, 8}, 2, false, &out), GLOSSA_STATUS_BAD_INPUT);
    CHECK_STATUS(hf_tokenizer_decode(t, (const int32_t[]){-1}, 1, false, &out), GLOSSA_STATUS_BAD_INPUT);
    strbuf_free(&out);
    hf_tokenizer_free(t);

    /* Unigram without unk_id: unknown text is an error, as in the library. */
    t = load("{\"model\":{\"type\":\"Unigram\",\"unk_id\":null,\"vocab\":[[\"a\",-1]]}}");
    if (t) {
        encode_is(t, "aa", 2, true, (const int32_t[]){0, 0}, 2);
        tok_ws *ws = tok_ws_new();
        idvec ids = {0};
        CHECK_STATUS(hf_tokenizer_encode(t, "ab", 2, true, ws, &ids), GLOSSA_STATUS_BAD_INPUT);
        idvec_free(&ids);
        tok_ws_free(ws);
        hf_tokenizer_free(t);
    }
}

static void test_small_bpe(void)
{
    /* merges in both forms, a byte fallback vocabulary, Llama-style pipeline */
    char json[16384];
    int o = snprintf(json, sizeof json,
                     "{\"added_tokens\":[{\"id\":1,\"content\":\"<s>\",\"special\":true,\"normalized\":false}],"
                     "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\\u2581\"},"
                     "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\\u2581\"}]},"
                     "\"pre_tokenizer\":null,"
                     "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},"
                     "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[1],\"tokens\":[\"<s>\"]}}},"
                     "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"\\u2581\"},\"content\":\" \"},"
                     "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]},"
                     "\"model\":{\"type\":\"BPE\",\"dropout\":0.1,\"unk_token\":\"<unk>\",\"fuse_unk\":true,\"byte_fallback\":true,"
                     "\"vocab\":{\"<unk>\":0,\"<s>\":1,\"\\u2581\":2,\"h\":3,\"i\":4,\"hi\":5,\"\\u2581hi\":6");
    for (int b = 0; b < 256; b++) o += snprintf(json + o, sizeof json - (size_t)o, ",\"<0x%02X>\":%d", b, 7 + b);
    snprintf(json + o, sizeof json - (size_t)o, "},\"merges\":[\"h i\",[\"\\u2581\",\"hi\"]]}}");
    hf_tokenizer *t = load(json);
    if (!t) return;
    CHECK(hf_tokenizer_vocab_size(t) == 263);
    /* "hi hé": ▁hi ▁ h é→<0xC3><0xA9> */
    encode_is(t, "hi h\u00e9", 6, true, (const int32_t[]){1, 6, 2, 3, 7 + 0xC3, 7 + 0xA9}, 6);
    strbuf out = {0};
    CHECK_OK(hf_tokenizer_decode(t, (const int32_t[]){1, 6, 2, 3, 7 + 0xC3, 7 + 0xA9}, 6, true, &out));
    CHECK_STREQ(out.data, "hi h\u00e9");
    /* a lone continuation byte decodes to U+FFFD */
    CHECK_OK(hf_tokenizer_decode(t, (const int32_t[]){6, 7 + 0xA9}, 2, false, &out));
    CHECK_STREQ(out.data, "hi\uFFFD");
    strbuf_free(&out);
    hf_tokenizer_free(t);
}

/* ------------------------------------------------------------------------------------------- */
/* Errors                                                                                       */

static void expect_load(const char *json, glossa_status want)
{
    hf_tokenizer *t = NULL;
    glossa_status st = hf_tokenizer_load_buffer(json, strlen(json), &t);
    CHECK_MSG(st == want, "got %s (%s), want %s for %.120s", glossa_status_name(st), glossa_last_error(),
              glossa_status_name(want), json);
    CHECK(st == GLOSSA_STATUS_OK || t == NULL);
    hf_tokenizer_free(t);
}

static void test_errors(void)
{
    const glossa_status B = GLOSSA_STATUS_BAD_MODEL, U = GLOSSA_STATUS_UNSUPPORTED;
    expect_load("", B);
    expect_load("{", B);
    expect_load("[]", B);
    expect_load("{}", B);
    expect_load("{\"model\":3}", B);
    expect_load("{\"model\":{\"type\":\"Unigram\",\"vocab\":3}}", B);
    expect_load("{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",\"x\"]]}}", B);
    expect_load("{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\"]]}}", B);
    expect_load("{\"model\":{\"type\":\"Unigram\",\"unk_id\":5,\"vocab\":[[\"a\",0]]}}", B);
    expect_load("{\"model\":{\"type\":\"Unigram\",\"unk_id\":-1,\"vocab\":[[\"a\",0]]}}", B);
    expect_load("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", U);
    expect_load("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":4000000000},\"merges\":[]}}", B);
    expect_load("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}", B);
    expect_load("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a c\"]}}", B);
    expect_load("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}", B);
    expect_load("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a  a\"]}}", B);
    expect_load("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[],\"continuing_subword_prefix\":\"##\"}}", U);
#define M "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0]]}"
    expect_load("{" M ",\"normalizer\":{\"type\":\"BertNormalizer\"}}", U);
    expect_load("{" M ",\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"!!!!\"}}", B);
    expect_load("{" M ",\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"AAAA\"}}", B);
    expect_load("{" M ",\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"(?<=a)\"},\"content\":\"\"}}", U);
    expect_load("{" M ",\"normalizer\":{\"type\":\"Replace\",\"pattern\":{},\"content\":\"\"}}", B);
    expect_load("{" M ",\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":3}}", B);
    expect_load("{" M ",\"pre_tokenizer\":{\"type\":\"ByteLevel\"}}", U);
    expect_load("{" M ",\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"ab\"}}", B);
    expect_load("{" M ",\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":\"sometimes\"}}", B);
    expect_load("{" M ",\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"_\",\"add_prefix_space\":false,\"prepend_scheme\":\"always\"}}", B);
    expect_load("{" M ",\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"_\",\"add_prefix_space\":false}}", GLOSSA_STATUS_OK);
    expect_load("{" M ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":\"x\"},\"behavior\":\"Sideways\"}}", B);
    expect_load("{" M ",\"decoder\":{\"type\":\"ByteLevel\"}}", U);
    expect_load("{" M ",\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},"
                "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{}}}", B);
    expect_load("{" M ",\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},"
                "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[7],\"tokens\":[\"<s>\"]}}}}", B);
    expect_load("{" M ",\"added_tokens\":[{\"id\":1}]}", B);
    expect_load("{" M ",\"added_tokens\":{}}", B);
#undef M
    hf_tokenizer *t = NULL;
    CHECK_STATUS(hf_tokenizer_load_file("/nonexistent/tokenizer.json", &t), GLOSSA_STATUS_IO_ERROR);
    CHECK_STATUS(hf_tokenizer_load_buffer(NULL, 5, &t), GLOSSA_STATUS_INVALID_ARGUMENT);
}

int main(void)
{
    test_regex_like_oniguruma();
    test_lower_strip();
    test_small_unigram();
    test_small_bpe();
    test_errors();
    TEST_MAIN_END();
}
