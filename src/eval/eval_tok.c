#include "eval/eval_tok.h"

#include <string.h>
#include <utf8proc.h>

#include "core/status.h"
#include "eval/eval_text.h"

void eval_tok_ws_free(eval_tok_ws *ws)
{
    idvec_free(&ws->a);
    idvec_free(&ws->b);
}

static void swap(idvec *a, idvec *b)
{
    idvec t = *a;
    *a = *b;
    *b = t;
}

/* --- character classes --------------------------------------------------------------------- */

static bool is_ascii_digit(uint32_t c)
{
    return c >= '0' && c <= '9';
}

/* 13a's first class: [\{-\~\[-\` -\&\(-\+\:-\@\/] */
static bool is_13a_sym(uint32_t c)
{
    return (c >= 0x7B && c <= 0x7E) || (c >= 0x5B && c <= 0x60) || (c >= 0x20 && c <= 0x26) ||
           (c >= 0x28 && c <= 0x2B) || (c >= 0x3A && c <= 0x40) || c == 0x2F;
}

static bool is_13a_not_digit(uint32_t c)
{
    return !is_ascii_digit(c);
}

static bool is_period_comma(uint32_t c)
{
    return c == '.' || c == ',';
}

static bool is_dash(uint32_t c)
{
    return c == '-';
}

static int category(uint32_t c)
{
    return (int)utf8proc_category((utf8proc_int32_t)c);
}

static bool is_punct(uint32_t c) /* \p{P} */
{
    int k = category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

static bool is_not_number(uint32_t c) /* \P{N} */
{
    int k = category(c);
    return !(k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

static bool is_symbol(uint32_t c) /* \p{S} */
{
    int k = category(c);
    return k >= UTF8PROC_CATEGORY_SM && k <= UTF8PROC_CATEGORY_SO;
}

bool eval_zh_is_chinese(uint32_t c)
{
    static const uint32_t ranges[][2] = {
        {0x3400, 0x4DB5}, {0x4E00, 0x9FA5}, {0x9FA6, 0x9FBB}, {0xF900, 0xFA2D}, {0xFA30, 0xFA6A},
        {0xFA70, 0xFAD9}, {0x2001, 0x2A6D}, {0x2F81, 0x2FA1}, {0xFF00, 0xFFEF}, {0x2E80, 0x2EFF},
        {0x3000, 0x303F}, {0x31C0, 0x31EF}, {0x2F00, 0x2FDF}, {0x2FF0, 0x2FFF}, {0x3100, 0x312F},
        {0x31A0, 0x31BF}, {0xFE10, 0xFE1F}, {0xFE30, 0xFE4F}, {0x2600, 0x26FF}, {0x2700, 0x27BF},
        {0x3200, 0x32FF}, {0x3300, 0x33FF},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if (c >= ranges[i][0] && c <= ranges[i][1]) return true;
    return false;
}

/* --- passes: each reads in, writes out (cleared first) --------------------------------------- */

/* re.sub(r'(X)', r' \1 ', s) */
static glossa_status pass_surround(const idvec *in, idvec *out, bool (*x)(uint32_t))
{
    out->len = 0;
    GLOSSA_TRY(idvec_reserve(out, in->len));
    for (size_t i = 0; i < in->len; i++) {
        int32_t c = in->data[i];
        if (x((uint32_t)c)) {
            GLOSSA_TRY(idvec_reserve(out, 3));
            out->data[out->len++] = ' ';
            out->data[out->len++] = c;
            out->data[out->len++] = ' ';
        } else {
            GLOSSA_TRY(idvec_push(out, c));
        }
    }
    return GLOSSA_STATUS_OK;
}

/* re.sub(r'(A)(B)', r'\1 \2 ', s) when space_first is false, r' \1 \2' when it is true. A match
 * consumes both characters and the scan goes on after it, as re.sub does. */
static glossa_status pass_pair(const idvec *in, idvec *out, bool (*a)(uint32_t),
                               bool (*b)(uint32_t), bool space_first)
{
    out->len = 0;
    GLOSSA_TRY(idvec_reserve(out, in->len));
    size_t i = 0;
    while (i < in->len) {
        int32_t c = in->data[i];
        if (i + 1 < in->len && a((uint32_t)c) && b((uint32_t)in->data[i + 1])) {
            GLOSSA_TRY(idvec_reserve(out, 4));
            if (space_first) out->data[out->len++] = ' ';
            out->data[out->len++] = c;
            out->data[out->len++] = ' ';
            out->data[out->len++] = in->data[i + 1];
            if (!space_first) out->data[out->len++] = ' ';
            i += 2;
        } else {
            GLOSSA_TRY(idvec_push(out, c));
            i++;
        }
    }
    return GLOSSA_STATUS_OK;
}

/* str.replace(from, to) for ASCII from (non-empty) and to. */
static glossa_status pass_replace(const idvec *in, idvec *out, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    out->len = 0;
    GLOSSA_TRY(idvec_reserve(out, in->len));
    size_t i = 0;
    while (i < in->len) {
        size_t k = 0;
        while (k < fl && i + k < in->len && in->data[i + k] == (unsigned char)from[k])
            k++;
        if (k == fl) {
            for (size_t j = 0; j < tl; j++)
                GLOSSA_TRY(idvec_push(out, (unsigned char)to[j]));
            i += fl;
        } else {
            GLOSSA_TRY(idvec_push(out, in->data[i++]));
        }
    }
    return GLOSSA_STATUS_OK;
}

/* TokenizerRegexp's four substitutions, ws->a in, ws->a out. */
static glossa_status regexp_passes(eval_tok_ws *ws)
{
    GLOSSA_TRY(pass_surround(&ws->a, &ws->b, is_13a_sym));
    GLOSSA_TRY(pass_pair(&ws->b, &ws->a, is_13a_not_digit, is_period_comma, false));
    GLOSSA_TRY(pass_pair(&ws->a, &ws->b, is_period_comma, is_13a_not_digit, true));
    GLOSSA_TRY(pass_pair(&ws->b, &ws->a, is_ascii_digit, is_dash, false));
    return GLOSSA_STATUS_OK;
}

static glossa_status tok_13a(const int32_t *cp, size_t n, eval_tok_ws *ws)
{
    static const char *const rules[][2] = {
        {"<skipped>", ""}, {"-\n", ""},   {"\n", " "},   {"&quot;", "\""},
        {"&amp;", "&"},    {"&lt;", "<"}, {"&gt;", ">"},
    };
    ws->a.len = 0;
    GLOSSA_TRY(idvec_reserve(&ws->a, n + 2));
    ws->a.data[ws->a.len++] = ' '; /* " {} ".format(line) after the replacements: same result */
    if (n) memcpy(ws->a.data + ws->a.len, cp, n * sizeof *cp);
    ws->a.len += n;
    ws->a.data[ws->a.len++] = ' ';
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        GLOSSA_TRY(pass_replace(&ws->a, &ws->b, rules[r][0], rules[r][1]));
        swap(&ws->a, &ws->b);
    }
    return regexp_passes(ws);
}

static glossa_status tok_zh(const int32_t *cp, size_t n, eval_tok_ws *ws)
{
    size_t b = 0;
    n = eval_rstrip_len(cp, n); /* line.strip() */
    while (b < n && eval_isspace((uint32_t)cp[b]))
        b++;
    ws->a.len = 0;
    for (size_t i = b; i < n; i++) {
        if (eval_zh_is_chinese((uint32_t)cp[i])) {
            GLOSSA_TRY(idvec_reserve(&ws->a, 3));
            ws->a.data[ws->a.len++] = ' ';
            ws->a.data[ws->a.len++] = cp[i];
            ws->a.data[ws->a.len++] = ' ';
        } else {
            GLOSSA_TRY(idvec_push(&ws->a, cp[i]));
        }
    }
    return regexp_passes(ws);
}

static glossa_status tok_intl(const int32_t *cp, size_t n, eval_tok_ws *ws)
{
    ws->b.len = 0;
    GLOSSA_TRY(idvec_reserve(&ws->b, n));
    if (n) memcpy(ws->b.data, cp, n * sizeof *cp);
    ws->b.len = n;
    GLOSSA_TRY(pass_pair(&ws->b, &ws->a, is_not_number, is_punct, false));
    GLOSSA_TRY(pass_pair(&ws->a, &ws->b, is_punct, is_not_number, true));
    return pass_surround(&ws->b, &ws->a, is_symbol);
}

/* ' '.join(s.split()) in UTF-8; with each_char, every non-space character is its own token. */
static glossa_status join_tokens(const int32_t *cp, size_t n, bool each_char, strbuf *out)
{
    strbuf_clear(out);
    GLOSSA_TRY(strbuf_reserve(out, 4 * n + 1));
    bool in_token = false;
    for (size_t i = 0; i < n; i++) {
        if (eval_isspace((uint32_t)cp[i])) {
            in_token = false;
            continue;
        }
        if ((!in_token || each_char) && out->len) GLOSSA_TRY(strbuf_appendc(out, ' '));
        in_token = true;
        GLOSSA_TRY(eval_append_utf8(out, cp + i, 1));
    }
    return GLOSSA_STATUS_OK;
}

glossa_status eval_tokenize(eval_tokenizer t, const int32_t *cp, size_t n, eval_tok_ws *ws,
                            strbuf *out)
{
    switch (t) {
    case EVAL_TOKENIZER_13A:
        GLOSSA_TRY(tok_13a(cp, n, ws));
        break;
    case EVAL_TOKENIZER_ZH:
        GLOSSA_TRY(tok_zh(cp, n, ws));
        break;
    case EVAL_TOKENIZER_INTL:
        GLOSSA_TRY(tok_intl(cp, n, ws));
        break;
    case EVAL_TOKENIZER_CHAR:
        return join_tokens(cp, n, true, out);
    case EVAL_TOKENIZER_NONE:
        return join_tokens(cp, n, false, out);
    default:
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "unknown tokenizer %d", (int)t);
    }
    return join_tokens(ws->a.data, ws->a.len, false, out);
}
