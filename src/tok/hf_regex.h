/* The regular expressions of tokenizer.json ({"Regex": "..."} patterns of Replace and Split),
 * matched as the tokenizers library's Oniguruma does: leftmost-first (Perl) semantics, Unicode
 * classes (\s White_Space, \d Nd, \w word characters, \p{L} general categories), '.' not matching
 * '\n', '^' and '$' at line boundaries, and Oniguruma's find_iter rule for empty matches (an empty
 * match right where the previous match ended is skipped).
 *
 * Supported: literals and escapes (\t \n \r \f \v \a \e \xHH \x{H..} \uHHHH, escaped
 * punctuation), '.', classes [...] with ranges, negation, \d \w \s \h and their negations,
 * \p{..} / \P{..} / \p{^..} general categories, POSIX [:name:] classes; groups (...), (?:...),
 * (?<name>...); alternation; greedy and lazy * + ? {n} {n,} {n,m} {,m}; anchors ^ $ \A \z \Z \b
 * \B; lookahead (?=...) (?!...). Anything else (lookbehind, backreferences, case-insensitive or
 * other inline options, possessive quantifiers, scripts in \p{}, class intersection) is refused
 * at compile time with GLOSSA_STATUS_UNSUPPORTED naming the feature.
 *
 * Matching is a backtracking VM with a visited bitmap over (instruction, position), so a search is
 * linear in pattern size times text length. A compiled regex is immutable and thread-safe; the
 * scratch memory of a search comes from a caller's arena. */
#ifndef GLOSSA_TOK_HF_REGEX_H
#define GLOSSA_TOK_HF_REGEX_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "glossa.h"

typedef struct hf_regex hf_regex;

glossa_status hf_regex_compile(const char *pattern, size_t len, hf_regex **out);
void hf_regex_free(hf_regex *re);

/* Iteration over the matches of a regex (or of a literal string) in s[0..n), Oniguruma-style. */
typedef struct hf_match_iter {
    const hf_regex *re;   /* NULL: literal search for lit[0..lit_len) */
    const char *lit;
    size_t lit_len;
    const char *s;
    size_t n;
    size_t pos;           /* where the next search starts */
    size_t last_end;      /* end of the previous match, or SIZE_MAX */
    arena *scratch;
    unsigned char *visited; /* (prog_len * (n + 1)) bits, lazily allocated */
    size_t visited_bytes;
} hf_match_iter;

void hf_match_iter_init(hf_match_iter *it, const hf_regex *re, const char *lit, size_t lit_len,
                        const char *s, size_t n, arena *scratch);

/* Next match: true with [*start, *end); false at the end. A search that runs out of memory or
 * exceeds the step budget (lookaheads only) sets *st (else left untouched) and returns false. */
bool hf_match_next(hf_match_iter *it, size_t *start, size_t *end, glossa_status *st);

/* A tokenizer.json pattern: {"String": "..."} (a literal) or {"Regex": "..."}. */
typedef struct hf_pattern {
    hf_regex *re;   /* NULL for a literal */
    char *lit;      /* owned copy of the literal */
    size_t lit_len;
} hf_pattern;

/* Parse a pattern object (jansson json_t *, passed as void * to keep jansson out of this header);
 * `what` names the component for messages. */
glossa_status hf_pattern_load(const void *json, const char *what, hf_pattern *p);
void hf_pattern_free(hf_pattern *p);

static inline void hf_pattern_iter(hf_match_iter *it, const hf_pattern *p, const char *s, size_t n,
                                   arena *scratch)
{
    hf_match_iter_init(it, p->re, p->lit, p->lit_len, s, n, scratch);
}

#endif
