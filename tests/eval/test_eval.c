/* eval: sacreBLEU's tokenisers, Python's str.lower / isspace / strict UTF-8, BLEU and chrF on small
 * cases whose expected values follow from sacreBLEU's algorithm by hand, and the corpus driver's
 * line handling and errors. (tests/eval/test_eval_sacrebleu.c compares with sacreBLEU itself.) */
#include <math.h>
#include <stdlib.h>

#include "core/status.h"
#include "eval/bleu.h"
#include "eval/chrf.h"
#include "eval/eval.h"
#include "eval/eval_text.h"
#include "eval/eval_tok.h"
#include "test.h"

static const char *tokenize(eval_tokenizer t, const char *s)
{
    static strbuf out;
    static eval_tok_ws ws;
    idvec cp = {0};
    if (eval_decode(s, strlen(s), &cp) != GLOSSA_STATUS_OK ||
        eval_tokenize(t, cp.data, cp.len, &ws, &out) != GLOSSA_STATUS_OK) {
        idvec_free(&cp);
        return "(error)";
    }
    idvec_free(&cp);
    if (!s[0] && !out.data) return "";
    return out.data ? out.data : "";
}

#define CHECK_TOK(t, in, want) CHECK_STREQ(tokenize(EVAL_TOKENIZER_##t, in), want)

static void test_13a(void)
{
    CHECK_TOK(13A, "Hello, world!", "Hello , world !");
    CHECK_TOK(13A, "1,000.5 and 3.14", "1,000.5 and 3.14");
    CHECK_TOK(13A, "2019-2020", "2019 - 2020");
    CHECK_TOK(13A, "e-mail -12 12-", "e-mail -12 12 -");
    CHECK_TOK(13A, "end.", "end .");         /* the padding splits a final period */
    CHECK_TOK(13A, "in 2019.", "in 2019 ."); /* even after a digit */
    CHECK_TOK(13A, "U.S.A.", "U . S . A .");
    CHECK_TOK(13A, "1.a a.1 ,5 5,", "1 . a a . 1 , 5 5 ,");
    CHECK_TOK(13A, "&quot;hi&quot; &amp; &lt;b&gt;", "\" hi \" & < b >");
    CHECK_TOK(13A, "&amp;lt;", "<"); /* replacements run in turn */
    CHECK_TOK(13A, "<skipped>x <skip<skipped>ped>", "x < skipped >");
    CHECK_TOK(13A, "$5.00 50% x/y [a]{b} `t` ~^_|", "$ 5.00 50 % x / y [ a ] { b } ` t ` ~ ^ _ |");
    CHECK_TOK(13A, "l'homme don't", "l'homme don't");
    CHECK_TOK(13A,
              "a\xC2\xA0"
              "b\xE3\x80\x80"
              "c\tz ",
              "a b c z"); /* NBSP, U+3000 split */
    CHECK_TOK(13A, "", "");
    CHECK_TOK(13A, "...", ". . .");
    CHECK_TOK(13A, "a--b", "a--b");
    CHECK_TOK(13A, "\xE4\xB8\xAD\xE6\x96\x87\xEF\xBC\x8C", "\xE4\xB8\xAD\xE6\x96\x87\xEF\xBC\x8C");
}

static void test_zh(void)
{
    CHECK_TOK(ZH, "我爱北京", "我 爱 北 京");
    CHECK_TOK(ZH, "中文，测试。", "中 文 ， 测 试 。");
    CHECK_TOK(ZH, "abc中def", "abc 中 def");
    /* U+2001..U+2A6D count as Chinese (sacreBLEU's "\u20000" range): quotes, dashes, ellipsis */
    CHECK_TOK(ZH, "“引号”—破折号…", "“ 引 号 ” — 破 折 号 …");
    CHECK(eval_zh_is_chinese(0x2001) && eval_zh_is_chinese(0x2A6D) && !eval_zh_is_chinese(0x2000));
    CHECK(!eval_zh_is_chinese(0x20000) && !eval_zh_is_chinese(0x2A6D6) &&
          !eval_zh_is_chinese(0x2A6E));
    CHECK(eval_zh_is_chinese(0x2F81) && eval_zh_is_chinese(0x2FA1) && !eval_zh_is_chinese(0x2F800));
    CHECK(!eval_zh_is_chinese(0x3040) && eval_zh_is_chinese(0x303F));
    CHECK_TOK(ZH, "in 2019.", "in 2019."); /* no padding: a final period after a digit stays */
    CHECK_TOK(ZH, "a,b 1,5 x.", "a , b 1,5 x .");
    CHECK_TOK(ZH, "  中 ", "中");
}

static void test_intl(void)
{
    CHECK_TOK(INTL, "Hello, world!", "Hello , world !");
    CHECK_TOK(INTL, "1,000.5", "1,000.5");
    CHECK_TOK(INTL, "in 2019.", "in 2019."); /* mteval-v14's documented quirk */
    CHECK_TOK(INTL, "$5 3.5×10", "$ 5 3.5 × 10");
    CHECK_TOK(INTL, "«Да»", "« Да »");
    CHECK_TOK(INTL, "Привет, мир!", "Привет , мир !");
    CHECK_TOK(INTL, "α·β a.1", "α · β a . 1");
    CHECK_TOK(INTL, "مرحبا، بالعالم؟", "مرحبا ، بالعالم ؟");
    CHECK_TOK(INTL, "नमस्ते।", "नमस्ते ।");
    CHECK_TOK(INTL, "l'homme", "l ' homme");
    CHECK_TOK(INTL, "😀!", "😀 !");
}

static void test_char_none(void)
{
    CHECK_TOK(CHAR, "ab c", "a b c");
    CHECK_TOK(CHAR, "日本語", "日 本 語");
    CHECK_TOK(NONE, "  a  b\t, ", "a b ,");
    eval_tokenizer t;
    CHECK_OK(eval_tokenizer_parse("intl", &t));
    CHECK(t == EVAL_TOKENIZER_INTL);
    CHECK_STATUS(eval_tokenizer_parse("v14", &t), GLOSSA_STATUS_BAD_INPUT);
    CHECK_STREQ(eval_tokenizer_name(EVAL_TOKENIZER_13A), "13a");
}

static const char *lower(const char *s)
{
    static strbuf out;
    idvec cp = {0}, lo = {0};
    strbuf_clear(&out);
    if (eval_decode(s, strlen(s), &cp) != GLOSSA_STATUS_OK ||
        eval_lower(cp.data, cp.len, &lo) != GLOSSA_STATUS_OK ||
        eval_append_utf8(&out, lo.data, lo.len) != GLOSSA_STATUS_OK)
        strbuf_append(&out, "(error)", 7);
    idvec_free(&cp);
    idvec_free(&lo);
    return out.data;
}

static void test_text(void)
{
    CHECK_STREQ(lower("ÀB Straße"), "àb straße");
    CHECK_STREQ(lower("ΟΔΟΣ ΣΑ Σ ΑΣ. ΑΣΑ"), "οδος σα σ ας. ασα"); /* final sigma */
    CHECK_STREQ(lower("İ"), "i\xCC\x87");
    CHECK(eval_isspace(0x1C) && eval_isspace(0x85) && eval_isspace(0x3000) &&
          !eval_isspace(0x200B));
    CHECK(!eval_isspace(0x180E) && !eval_isspace(0xFEFF));
    idvec cp = {0};
    CHECK_STATUS(eval_decode("ab\xFF", 3, &cp), GLOSSA_STATUS_BAD_INPUT);
    CHECK_STATUS(eval_decode("\xED\xA0\x80", 3, &cp), GLOSSA_STATUS_BAD_INPUT); /* surrogate */
    CHECK_STATUS(eval_decode("\xC0\xAF", 2, &cp), GLOSSA_STATUS_BAD_INPUT);     /* overlong */
    CHECK_STATUS(eval_decode("\xE4\xBD", 2, &cp), GLOSSA_STATUS_BAD_INPUT);     /* truncated */
    CHECK_OK(eval_decode("a\0\xEF\xBF\xBD", 5, &cp));
    CHECK(cp.len == 3 && cp.data[1] == 0 && cp.data[2] == 0xFFFD);
    CHECK_OK(eval_decode("x \t\xE3\x80\x80", 6, &cp));
    CHECK(eval_rstrip_len(cp.data, cp.len) == 1);
    idvec_free(&cp);
}

/* Score a corpus given as strings ("\n"-separated lines). */
static glossa_status score(const char *hyp, const char *const *refs, size_t n_refs, bool lc,
                           eval_tokenizer t, eval_result *r)
{
    eval_params p = eval_default_params();
    p.lowercase = lc;
    p.tokenize = t;
    eval_text h = {hyp, strlen(hyp), "hyp"}, rt[4];
    for (size_t i = 0; i < n_refs; i++) {
        rt[i].data = refs[i];
        rt[i].len = strlen(refs[i]);
        rt[i].name = "ref";
    }
    return eval_corpus(&p, &h, rt, n_refs, r);
}

static void check_bleu_line(const eval_result *r, const char *want)
{
    char line[256];
    eval_format_bleu(&r->bleu, line, sizeof line);
    CHECK_STREQ(line, want);
}

static void test_bleu(void)
{
    eval_result r;
    const char *ref1[] = {"the cat is on the mat\n"};
    CHECK_OK(score("the cat sat on the mat\n", ref1, 1, false, EVAL_TOKENIZER_13A, &r));
    CHECK(r.bleu.counts[0] == 5 && r.bleu.counts[1] == 3 && r.bleu.counts[2] == 1 &&
          r.bleu.counts[3] == 0);
    CHECK(r.bleu.totals[0] == 6 && r.bleu.totals[1] == 5 && r.bleu.totals[2] == 4 &&
          r.bleu.totals[3] == 3);
    CHECK(fabs(r.bleu.score - 37.99178428257963) < 1e-9);
    check_bleu_line(&r, "BLEU = 37.99 83.3/60.0/25.0/16.7 (BP = 1.000 ratio = 1.000 hyp_len = 6 "
                        "ref_len = 6)");

    /* identical: 100; short hypothesis: brevity penalty, no 3-grams -> 0 */
    const char *ref2[] = {"A dog runs in the park.\nthe cat sat on the mat"};
    CHECK_OK(score("A dog runs in the park.\nthe cat sat on the mat\n", ref2, 1, false,
                   EVAL_TOKENIZER_13A, &r));
    CHECK(fabs(r.bleu.score - 100.0) < 1e-9 && r.bleu.sys_len == 13 && r.bleu.ref_len == 13);
    const char *ref3[] = {"the cat sat on the mat"};
    CHECK_OK(score("the cat", ref3, 1, false, EVAL_TOKENIZER_13A, &r));
    check_bleu_line(&r, "BLEU = 0.00 100.0/100.0/0.0/0.0 (BP = 0.135 ratio = 0.333 hyp_len = 2 "
                        "ref_len = 6)");
    CHECK(fabs(r.bleu.bp - 0.1353352832366127) < 1e-15);
    CHECK_OK(score("\n\n", (const char *[]){"a b\nc\n"}, 1, false, EVAL_TOKENIZER_13A, &r));
    check_bleu_line(&r, "BLEU = 0.00 0.0/0.0/0.0/0.0 (BP = 0.000 ratio = 0.000 hyp_len = 0 "
                        "ref_len = 3)");

    /* two references: counts clipped by the larger, the closest length (shorter on a tie) */
    const char *refs[] = {"a a b c", "a b c d e f"};
    CHECK_OK(score("a a a a x", refs, 2, false, EVAL_TOKENIZER_NONE, &r));
    CHECK(r.bleu.counts[0] == 2 && r.bleu.totals[0] == 5 && r.bleu.counts[1] == 1);
    CHECK(r.bleu.ref_len == 4 && r.bleu.sys_len == 5);
    /* an empty reference counts as length 0 */
    const char *refs2[] = {"\n", "a b"}; /* "" would have no line at all */
    CHECK_OK(score("x", refs2, 2, false, EVAL_TOKENIZER_13A, &r));
    CHECK(r.bleu.ref_len == 0 && r.bleu.sys_len == 1 && r.bleu.bp == 1.0);

    /* lowercase, CRLF, no final newline, Python whitespace */
    const char *ref4[] = {"ΟΔΟΣ ΤΗΣ ΠΟΛΗΣ ΕΔΩ\nx y z w"};
    CHECK_OK(score("οδος της πολης εδω\r\nX\xC2\xA0Y Z W \xE3\x80\x80", ref4, 1, true,
                   EVAL_TOKENIZER_13A, &r));
    CHECK(fabs(r.bleu.score - 100.0) < 1e-9);
    CHECK_OK(score("οδος της πολης εδω\nx y z w", ref4, 1, false, EVAL_TOKENIZER_13A, &r));
    CHECK(r.bleu.counts[0] == 4);
}

static void test_chrf(void)
{
    eval_result r;
    CHECK_OK(score("abc", (const char *[]){"abc"}, 1, false, EVAL_TOKENIZER_13A, &r));
    CHECK(fabs(r.chrf - 100.0) < 1e-12);
    CHECK(r.chrf_stats[0] == 3 && r.chrf_stats[6] == 1 && r.chrf_stats[9] == 0);
    CHECK_OK(score("ab", (const char *[]){"abc"}, 1, false, EVAL_TOKENIZER_13A, &r));
    CHECK(fabs(r.chrf - 63.63636363636363) < 1e-9);
    char line[64];
    eval_format_chrf(r.chrf, line, sizeof line);
    CHECK_STREQ(line, "chrF2 = 63.64");
    CHECK_OK(score("a b\tc", (const char *[]){"abc"}, 1, false, EVAL_TOKENIZER_13A, &r));
    CHECK(fabs(r.chrf - 100.0) < 1e-12);
    /* a hypothesis n-gram order counts only where the reference has n-grams of that order */
    CHECK_OK(score("abc\nx", (const char *[]){"\nx"}, 1, false, EVAL_TOKENIZER_13A, &r));
    CHECK(fabs(r.chrf - 100.0) < 1e-12 && r.chrf_stats[0] == 1);
    /* several references: the best one per segment */
    CHECK_OK(score("abc", (const char *[]){"xyz", "abc"}, 2, false, EVAL_TOKENIZER_13A, &r));
    CHECK(fabs(r.chrf - 100.0) < 1e-12);
    CHECK_OK(score("ABC", (const char *[]){"abc"}, 1, true, EVAL_TOKENIZER_13A, &r));
    CHECK(fabs(r.chrf - 100.0) < 1e-12);
    CHECK_OK(score("\n", (const char *[]){"abc"}, 1, false, EVAL_TOKENIZER_13A, &r));
    CHECK(r.chrf == 0.0);
    int64_t zero[3 * EVAL_CHRF_ORDER] = {0};
    CHECK(chrf_score(zero) == 0.0);
}

static void test_errors(void)
{
    eval_result r;
    CHECK_STATUS(score("a\nb\n", (const char *[]){"a\n"}, 1, false, EVAL_TOKENIZER_13A, &r),
                 GLOSSA_STATUS_BAD_INPUT);
    CHECK(strstr(glossa_last_error(), "hyp has 2 lines but ref has 1") != NULL);
    CHECK_STATUS(score("", (const char *[]){""}, 1, false, EVAL_TOKENIZER_13A, &r),
                 GLOSSA_STATUS_BAD_INPUT);
    CHECK(strstr(glossa_last_error(), "no lines") != NULL);
    CHECK_STATUS(score("ok\nb\xFF", (const char *[]){"a\nb"}, 1, false, EVAL_TOKENIZER_13A, &r),
                 GLOSSA_STATUS_BAD_INPUT);
    CHECK_STREQ(glossa_last_error(), "hyp:2: invalid UTF-8 at byte 2");
    eval_params p = eval_default_params();
    const char *paths[] = {"/nonexistent/ref.txt"};
    CHECK_STATUS(eval_corpus_files(&p, "/nonexistent/hyp.txt", paths, 1, &r),
                 GLOSSA_STATUS_IO_ERROR);
    eval_text h = {"a", 1, NULL};
    CHECK_STATUS(eval_corpus(&p, &h, &h, 0, &r), GLOSSA_STATUS_INVALID_ARGUMENT);
}

int main(void)
{
    test_13a();
    test_zh();
    test_intl();
    test_char_none();
    test_text();
    test_bleu();
    test_chrf();
    test_errors();
    TEST_MAIN_END();
}
