/* sacreBLEU's BLEU tokenisers over code points: 13a (Tokenizer13a), zh (TokenizerZh), intl
 * (TokenizerV14International), char (TokenizerChar) and none. Each regular expression of theirs
 * is one left-to-right pass with re.sub's non-overlapping matches. */
#ifndef GLOSSA_EVAL_TOK_H
#define GLOSSA_EVAL_TOK_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "eval/eval.h"

/* Scratch buffers, reused across calls; zero-initialise, free with eval_tok_ws_free. */
typedef struct eval_tok_ws {
    idvec a, b;
} eval_tok_ws;

void eval_tok_ws_free(eval_tok_ws *ws);

/* Tokenise cp[0..n) as sacreBLEU's tokenizer t does, then split on whitespace as its n-gram
 * extraction does: out (cleared first) gets the tokens in UTF-8 joined by single spaces, with no
 * leading or trailing space (for 13a, zh and intl exactly the tokenizer's own output). */
glossa_status eval_tokenize(eval_tokenizer t, const int32_t *cp, size_t n, eval_tok_ws *ws,
                            strbuf *out);

/* The characters TokenizerZh surrounds with spaces (its _UCODE_RANGES as Python compares them:
 * the "\u20000".."\u2a6d6" and "\u2f800".."\u2fa1d" entries are two-character strings, so they
 * cover U+2001..U+2A6D and U+2F81..U+2FA1, not the supplementary planes). */
bool eval_zh_is_chinese(uint32_t c);

#endif
