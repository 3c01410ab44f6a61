/* The compiled form of an hf_regex (tok/hf_regex.h), shared by its compiler (hf_regex.c: parser,
 * AST, program) and its matcher (hf_regex_match.c: the backtracking VM). Internal to those two. */
#ifndef GLOSSA_TOK_HF_REGEX_PROG_H
#define GLOSSA_TOK_HF_REGEX_PROG_H

#include <stdbool.h>
#include <stdint.h>

#include "tok/hf_regex.h"

enum { OP_CHAR, OP_ANY, OP_SET, OP_SPLIT, OP_JMP, OP_BOL, OP_EOL, OP_BOT, OP_EOT, OP_EOTNL,
       OP_WB, OP_NWB, OP_LOOK, OP_NLOOK, OP_MATCH };

typedef struct re_inst {
    uint8_t op;
    uint32_t x, y; /* SPLIT: preferred x, then y; JMP / LOOK: continue at x; SET: set index */
    uint32_t c;    /* CHAR */
} re_inst;

/* Oniguruma's Unicode definitions: \w = [:word:] = Alphabetic|M|Nd|Pc, \d = Nd, \s = Zs|Zl|Zp|\t-\r|\x85. */
enum { CI_RANGE, CI_CAT, CI_SPACE, CI_WORD, CI_PWORD, CI_DIGIT, CI_XDIGIT, CI_ALPHA, CI_ALNUM, CI_BLANK };

typedef struct re_item {
    uint8_t kind, neg;
    uint32_t lo, hi; /* CI_RANGE; CI_CAT: lo = bitmask of utf8proc categories */
} re_item;

typedef struct re_set {
    uint32_t first, count;
    bool neg;
} re_set;

struct hf_regex {
    re_inst *prog;
    uint32_t n, cap;
    re_set *sets;
    uint32_t nsets, sets_cap;
    re_item *items;
    uint32_t nitems, items_cap;
};

/* Value of a hex digit, -1 when c is none */
static inline int re_hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

#endif
