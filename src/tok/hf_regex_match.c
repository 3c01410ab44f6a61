/* hf_regex matching (tok/hf_regex.h): the backtracking VM over the program hf_regex.c compiles,
 * with a visited bitmap over (instruction, position) (or a step budget where the bitmap would be
 * too large), and the Oniguruma-style match iteration. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "tok/hf_regex.h"
#include "tok/hf_regex_prog.h"
#include "tok/hf_unicode.h"

#define RE_NOMEMO_BUDGET (1L << 22)
#define RE_MAX_VISITED_BYTES ((size_t)64 << 20)

/* ------------------------------------------------------------------------------------------- */
/* Matching                                                                                     */

static bool onig_word(uint32_t cp)
{
    return cp != 0x200C && cp != 0x200D && hfu_is_word(cp); /* Rust's \w less Join_Control */
}

static bool item_match(const re_item *it, uint32_t cp)
{
    bool r;
    switch (it->kind) {
    case CI_RANGE: return cp >= it->lo && cp <= it->hi;
    case CI_CAT: r = ((1u << hfu_category(cp)) & it->lo) != 0; break;
    case CI_SPACE: r = hfu_is_space(cp); break;
    case CI_WORD: r = onig_word(cp); break;
    case CI_PWORD: r = onig_word(cp); break;
    case CI_DIGIT: r = hfu_is_digit(cp); break;
    case CI_XDIGIT: r = cp < 0x80 && re_hexval((char)cp) >= 0; break;
    case CI_ALPHA: r = hfu_is_letter(cp) || hfu_is_mark(cp); break;
    case CI_ALNUM: r = hfu_is_letter(cp) || hfu_is_mark(cp) || hfu_is_digit(cp); break;
    case CI_BLANK: r = cp == '\t' || cp == ' ' || cp == 0xA0 || cp == 0x1680 ||
                       (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F || cp == 0x205F || cp == 0x3000;
        break;
    default: r = false;
    }
    return it->neg ? !r : r;
}

static bool set_match(const hf_regex *re, uint32_t idx, uint32_t cp)
{
    const re_set *s = &re->sets[idx];
    bool m = false;
    for (uint32_t i = 0; i < s->count && !m; i++) m = item_match(&re->items[s->first + i], cp);
    return s->neg ? !m : m;
}

typedef struct re_thread {
    uint32_t pc;
    size_t pos;
} re_thread;

typedef struct re_run {
    const hf_regex *re;
    const char *s;
    size_t n;
    arena *a;
    re_thread *stack;
    size_t sp, cap;
    unsigned char *visited; /* NULL: no memo, budget applies */
    long budget;
    bool failed; /* out of memory or budget */
} re_run;

static bool push(re_run *r, uint32_t pc, size_t pos)
{
    if (r->sp == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 64;
        re_thread *ns = arena_alloc(r->a, nc * sizeof *ns);
        if (!ns) {
            r->failed = true;
            return false;
        }
        if (r->sp) memcpy(ns, r->stack, r->sp * sizeof *ns);
        r->stack = ns;
        r->cap = nc;
    }
    r->stack[r->sp++] = (re_thread){pc, pos};
    return true;
}

static bool is_word_at(const char *s, size_t n, size_t pos, bool before)
{
    if (before) {
        if (pos == 0) return false;
        size_t p = pos - 1;
        while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
        size_t l;
        return onig_word(hfu_decode(s + p, n - p, &l));
    }
    if (pos >= n) return false;
    size_t l;
    return onig_word(hfu_decode(s + pos, n - pos, &l));
}

static bool run_from(re_run *r, uint32_t pc0, size_t start, size_t *end, bool memo);

static bool step_assert(re_run *r, uint8_t op, size_t pos)
{
    const char *s = r->s;
    size_t n = r->n;
    switch (op) {
    case OP_BOL: return pos == 0 || s[pos - 1] == '\n';
    case OP_EOL: return pos == n || s[pos] == '\n';
    case OP_BOT: return pos == 0;
    case OP_EOT: return pos == n;
    case OP_EOTNL: return pos == n || (pos + 1 == n && s[pos] == '\n');
    case OP_WB: return is_word_at(s, n, pos, true) != is_word_at(s, n, pos, false);
    case OP_NWB: return is_word_at(s, n, pos, true) == is_word_at(s, n, pos, false);
    }
    return false;
}

/* Depth-first search for MATCH from (pc0, start), highest priority first. */
static bool run_from(re_run *r, uint32_t pc0, size_t start, size_t *end, bool memo)
{
    const hf_regex *re = r->re;
    size_t base = r->sp;
    if (!push(r, pc0, start)) return false;
    size_t stride = r->n + 1;
    while (r->sp > base) {
        re_thread t = r->stack[--r->sp];
        uint32_t pc = t.pc;
        size_t pos = t.pos;
        for (;;) {
            if (memo) {
                size_t bit = (size_t)pc * stride + pos;
                if (r->visited[bit >> 3] & (1u << (bit & 7))) break;
                r->visited[bit >> 3] |= (unsigned char)(1u << (bit & 7));
            } else if (--r->budget < 0) {
                r->failed = true;
                r->sp = base;
                return false;
            }
            const re_inst *in = &re->prog[pc];
            if (in->op == OP_MATCH) {
                *end = pos;
                r->sp = base;
                return true;
            }
            if (in->op == OP_CHAR || in->op == OP_ANY || in->op == OP_SET) {
                if (pos >= r->n) break;
                size_t l;
                uint32_t cp = hfu_decode(r->s + pos, r->n - pos, &l);
                bool ok = in->op == OP_CHAR ? cp == in->c
                          : in->op == OP_ANY ? cp != '\n' : set_match(re, in->x, cp);
                if (!ok) break;
                pos += l;
                pc++;
            } else if (in->op == OP_SPLIT) {
                if (!push(r, in->y, pos)) return false;
                pc = in->x;
            } else if (in->op == OP_JMP) {
                pc = in->x;
            } else if (in->op == OP_LOOK || in->op == OP_NLOOK) {
                size_t e;
                bool m = run_from(r, pc + 1, pos, &e, false);
                if (r->failed) return false;
                if (m != (in->op == OP_LOOK)) break;
                pc = in->x;
            } else {
                if (!step_assert(r, in->op, pos)) break;
                pc++;
            }
        }
    }
    return false;
}

void hf_match_iter_init(hf_match_iter *it, const hf_regex *re, const char *lit, size_t lit_len,
                        const char *s, size_t n, arena *scratch)
{
    memset(it, 0, sizeof *it);
    it->re = re;
    it->lit = lit;
    it->lit_len = lit_len;
    it->s = s;
    it->n = n;
    it->last_end = SIZE_MAX;
    it->scratch = scratch;
}

static bool search(hf_match_iter *it, size_t from, size_t *ms, size_t *me, glossa_status *st)
{
    if (!it->re) {
        if (it->lit_len == 0) {
            *ms = *me = from;
            return true;
        }
        for (size_t i = from; i + it->lit_len <= it->n; i++)
            if (it->s[i] == it->lit[0] && memcmp(it->s + i, it->lit, it->lit_len) == 0) {
                *ms = i;
                *me = i + it->lit_len;
                return true;
            }
        return false;
    }
    const hf_regex *re = it->re;
    re_run r = {re, it->s, it->n, it->scratch, NULL, 0, 0, NULL, RE_NOMEMO_BUDGET, false};
    size_t stride = it->n + 1;
    if (!it->visited && re->n <= RE_MAX_VISITED_BYTES * 8 / stride) {
        it->visited_bytes = ((size_t)re->n * stride + 7) / 8;
        it->visited = arena_calloc(it->scratch, it->visited_bytes, 1);
        if (!it->visited) {
            *st = glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "regex search of %zu bytes", it->n);
            return false;
        }
    }
    r.visited = it->visited;
    for (size_t start = from; start <= it->n;) {
        size_t e;
        if (run_from(&r, 0, start, &e, r.visited != NULL)) {
            *ms = start;
            *me = e;
            return true;
        }
        if (r.failed) {
            *st = glossa_error(GLOSSA_STATUS_BAD_INPUT, "regex search ran out of %s on %zu bytes",
                               r.visited ? "memory" : "its step budget", it->n);
            return false;
        }
        if (start == it->n) break;
        start += hfu_char_len((unsigned char)it->s[start]);
    }
    return false;
}

bool hf_match_next(hf_match_iter *it, size_t *start, size_t *end, glossa_status *st)
{
    while (it->pos <= it->n) {
        size_t ms, me;
        if (!search(it, it->pos, &ms, &me, st)) {
            it->pos = it->n + 1;
            return false;
        }
        if (ms == me && me == it->last_end) {
            it->pos = me < it->n ? me + hfu_char_len((unsigned char)it->s[me]) : it->n + 1;
            continue;
        }
        it->last_end = me;
        it->pos = me;
        if (it->visited) {
            /* States at the match end may lie on the successful path: forget them. */
            size_t stride = it->n + 1;
            for (uint32_t pc = 0; pc < it->re->n; pc++) {
                size_t bit = (size_t)pc * stride + me;
                it->visited[bit >> 3] &= (unsigned char)~(1u << (bit & 7));
            }
        }
        *start = ms;
        *end = me;
        return true;
    }
    return false;
}
