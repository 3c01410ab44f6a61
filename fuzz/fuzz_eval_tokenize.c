/* libFuzzer target: glossa eval on arbitrary bytes, i.e. sacreBLEU's tokenisers, Python's
 * str.lower and the BLEU / chrF corpus driver.
 *
 * The first byte picks the BLEU tokeniser (bits 0-2, mod 5), lowercasing (bit 3), 1 to 3
 * references (bits 4-5) and whether the references are copies of the hypothesis (bit 6); the rest
 * is split at 0xFF bytes (never part of UTF-8) into the hypothesis text and the references.
 * eval_corpus must return OK or BAD_INPUT (invalid UTF-8, unequal line counts, no lines), and on
 * OK its statistics must hang together (matches <= n-grams, scores in [0, 100], identical texts
 * match fully). Every tokeniser and str.lower also run on the whole text when it is valid UTF-8:
 * tokens are joined by single spaces, with no other whitespace, in valid UTF-8. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "eval/eval.h"
#include "eval/eval_text.h"
#include "eval/eval_tok.h"

static void check_tokens(const strbuf *out, eval_tokenizer t, size_t n_nonspace)
{
    const char *s = out->data ? out->data : "";
    size_t n = out->len, tokens = 0;
    if (!utf8_valid(s, n)) abort();
    if (n && (s[0] == ' ' || s[n - 1] == ' ')) abort();
    for (size_t i = 0; i < n;) {
        size_t l;
        uint32_t c = utf8_decode(s + i, n - i, &l);
        if (c == ' ' && i + 1 < n && s[i + 1] == ' ') abort();
        if (c != ' ' && eval_isspace(c)) abort();
        if (c == ' ' || i == 0) tokens++;
        i += l;
    }
    if (t == EVAL_TOKENIZER_CHAR && tokens != n_nonspace) abort();
}

static void fuzz_tokenizers(const char *text, size_t len)
{
    static idvec cp, lo;
    static strbuf out;
    static eval_tok_ws ws;
    if (eval_decode(text, len, &cp) != GLOSSA_STATUS_OK) return;
    size_t n_nonspace = 0;
    for (size_t i = 0; i < cp.len; i++)
        n_nonspace += !eval_isspace((uint32_t)cp.data[i]);
    for (int t = EVAL_TOKENIZER_13A; t <= EVAL_TOKENIZER_NONE; t++) {
        if (eval_tokenize((eval_tokenizer)t, cp.data, cp.len, &ws, &out) != GLOSSA_STATUS_OK)
            abort();
        check_tokens(&out, (eval_tokenizer)t, n_nonspace);
    }
    if (eval_lower(cp.data, cp.len, &lo) != GLOSSA_STATUS_OK || lo.len < cp.len) abort();
}

static void check_result(const eval_result *r, bool identical)
{
    const eval_bleu *b = &r->bleu;
    if (b->totals[0] != b->sys_len || b->ref_len < 0) abort();
    for (int n = 0; n < EVAL_BLEU_ORDER; n++) {
        if (b->counts[n] < 0 || b->counts[n] > b->totals[n]) abort();
        if (n && b->totals[n] > b->totals[n - 1]) abort();
        if (identical && b->counts[n] != b->totals[n]) abort();
    }
    if (!(b->score >= 0.0 && b->score <= 100.0 + 1e-9) || !(b->bp >= 0.0 && b->bp <= 1.0)) abort();
    if (!(r->chrf >= 0.0 && r->chrf <= 100.0 + 1e-9)) abort();
    for (int n = 0; n < EVAL_CHRF_ORDER; n++) {
        const int64_t *s = &r->chrf_stats[3 * n];
        if (s[2] < 0 || s[2] > s[0] || s[2] > s[1]) abort();
        if (identical && (s[0] != s[1] || s[1] != s[2])) abort();
    }
    if (identical && r->chrf_stats[0] > 0 && r->chrf != 100.0) abort();
    if (identical && b->totals[EVAL_BLEU_ORDER - 1] > 0 && !(b->score > 100.0 - 1e-9)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    uint8_t mode = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    eval_params p = eval_default_params();
    p.tokenize = (eval_tokenizer)((mode & 7) % 5);
    p.lowercase = (mode >> 3) & 1;
    size_t n_refs = 1 + ((mode >> 4) & 3) % 3;
    bool identical = (mode >> 6) & 1;

    eval_text parts[4];
    size_t n_parts = 0, start = 0;
    for (size_t i = 0; i <= len && n_parts < 4; i++)
        if (i == len || (unsigned char)text[i] == 0xFF) {
            parts[n_parts].data = text + start;
            parts[n_parts].len = i - start;
            parts[n_parts++].name = NULL;
            start = i + 1;
        }
    for (; n_parts < 4; n_parts++)
        parts[n_parts] = (eval_text){"", 0, NULL};
    if (identical)
        for (size_t r = 1; r <= n_refs; r++)
            parts[r] = parts[0];

    eval_result res;
    glossa_status st = eval_corpus(&p, &parts[0], &parts[1], n_refs, &res);
    if (st == GLOSSA_STATUS_OK)
        check_result(&res, identical);
    else if (st != GLOSSA_STATUS_BAD_INPUT)
        abort();
    fuzz_tokenizers(parts[0].data, parts[0].len);
    return 0;
}
