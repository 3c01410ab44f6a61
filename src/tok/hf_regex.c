/* hf_regex compilation (tok/hf_regex.h): the pattern parsed into an AST, compiled into the program
 * hf_regex_match.c runs (tok/hf_regex_prog.h); and the tokenizer.json pattern objects. */
#include "tok/hf_regex.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "tok/hf_json.h"
#include "tok/hf_regex_prog.h"
#include "tok/hf_unicode.h"

#define RE_MAX_PROG 20000
#define RE_MAX_REPEAT 1000

/* ------------------------------------------------------------------------------------------- */
/* Parsing into an AST                                                                          */

enum { N_EMPTY, N_CHAR, N_ANY, N_SET, N_CAT, N_ALT, N_REP, N_ASSERT, N_LOOK };

typedef struct re_node {
    int type;
    uint32_t c;      /* CHAR code point, SET index, ASSERT op */
    int min, max;    /* REP (max -1: unbounded) */
    bool greedy, neg;
    struct re_node *a, *b;
} re_node;

typedef struct re_parser {
    const char *p, *end, *pat;
    size_t pat_len;
    hf_regex *re;
    arena nodes;
    int depth;
} re_parser;

static glossa_status unsupported(re_parser *ps, const char *what)
{
    return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "regex /%.*s/: %s is not supported",
                        (int)(ps->pat_len > 200 ? 200 : ps->pat_len), ps->pat, what);
}

static glossa_status syntax(re_parser *ps, const char *what)
{
    return glossa_error(GLOSSA_STATUS_BAD_MODEL, "regex /%.*s/: %s at offset %zu",
                        (int)(ps->pat_len > 200 ? 200 : ps->pat_len), ps->pat, what,
                        (size_t)(ps->p - ps->pat));
}

static re_node *mk(re_parser *ps, int type)
{
    re_node *n = arena_calloc(&ps->nodes, 1, sizeof *n);
    if (n) n->type = type;
    return n;
}

static glossa_status oom(void) { return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "regex"); }

static bool grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap) return true;
    uint32_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p) return false;
    *arr = p;
    *cap = nc;
    return true;
}

static glossa_status add_item(re_parser *ps, uint8_t kind, bool neg, uint32_t lo, uint32_t hi)
{
    hf_regex *re = ps->re;
    if (!grow((void **)&re->items, &re->items_cap, re->nitems + 1, sizeof *re->items)) return oom();
    re->items[re->nitems++] = (re_item){kind, neg, lo, hi};
    return GLOSSA_STATUS_OK;
}

static glossa_status new_set(re_parser *ps, bool neg, uint32_t *idx)
{
    hf_regex *re = ps->re;
    if (!grow((void **)&re->sets, &re->sets_cap, re->nsets + 1, sizeof *re->sets)) return oom();
    re->sets[re->nsets] = (re_set){re->nitems, 0, neg};
    *idx = re->nsets++;
    return GLOSSA_STATUS_OK;
}

/* Category bitmask of a \p{} name (utf8proc categories: Lu=1 .. Co=29, Cn=0). */
static bool cat_mask(const char *s, size_t len, uint32_t *mask)
{
    static const struct { const char *name; uint32_t mask; } tab[] = {
        {"L", 0x3Eu}, {"Letter", 0x3Eu}, {"Lu", 1u << 1}, {"Ll", 1u << 2}, {"Lt", 1u << 3},
        {"Lm", 1u << 4}, {"Lo", 1u << 5}, {"M", 0x1C0u}, {"Mark", 0x1C0u}, {"Mn", 1u << 6},
        {"Mc", 1u << 7}, {"Me", 1u << 8}, {"N", 0xE00u}, {"Number", 0xE00u}, {"Nd", 1u << 9},
        {"Nl", 1u << 10}, {"No", 1u << 11}, {"P", 0x7F000u}, {"Punctuation", 0x7F000u},
        {"Pc", 1u << 12}, {"Pd", 1u << 13}, {"Ps", 1u << 14}, {"Pe", 1u << 15}, {"Pi", 1u << 16},
        {"Pf", 1u << 17}, {"Po", 1u << 18}, {"S", 0x780000u}, {"Symbol", 0x780000u},
        {"Sm", 1u << 19}, {"Sc", 1u << 20}, {"Sk", 1u << 21}, {"So", 1u << 22},
        {"Z", 0x3800000u}, {"Separator", 0x3800000u}, {"Zs", 1u << 23}, {"Zl", 1u << 24},
        {"Zp", 1u << 25}, {"C", 0x3C000001u}, {"Other", 0x3C000001u}, {"Cc", 1u << 26},
        {"Cf", 1u << 27}, {"Cs", 1u << 28}, {"Co", 1u << 29}, {"Cn", 1u},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strlen(tab[i].name) == len && memcmp(tab[i].name, s, len) == 0) {
            *mask = tab[i].mask;
            return true;
        }
    return false;
}

/* After "\p" or "\P": {Name} or {^Name}. */
static glossa_status parse_prop(re_parser *ps, bool neg)
{
    if (ps->p >= ps->end || *ps->p != '{') return unsupported(ps, "\\p without braces");
    const char *q = memchr(ps->p, '}', (size_t)(ps->end - ps->p));
    if (!q) return syntax(ps, "unterminated \\p{");
    const char *name = ps->p + 1;
    if (name < q && *name == '^') {
        neg = !neg;
        name++;
    }
    uint32_t mask;
    size_t len = (size_t)(q - name);
    if (len == 5 && memcmp(name, "Alpha", 5) == 0) {
        GLOSSA_TRY(add_item(ps, CI_ALPHA, neg, 0, 0));
    } else if (len == 5 && memcmp(name, "Space", 5) == 0) {
        GLOSSA_TRY(add_item(ps, CI_SPACE, neg, 0, 0));
    } else if (len == 4 && memcmp(name, "Word", 4) == 0) {
        GLOSSA_TRY(add_item(ps, CI_WORD, neg, 0, 0));
    } else if (cat_mask(name, len, &mask)) {
        GLOSSA_TRY(add_item(ps, CI_CAT, neg, mask, 0));
    } else {
        return unsupported(ps, "this \\p{} property (scripts and binary properties)");
    }
    ps->p = q + 1;
    return GLOSSA_STATUS_OK;
}

/* A class escape after '\' (ps->p at the letter). Adds items; *cp gets a single character instead
 * when the escape denotes one (returns with *is_char set). */
static glossa_status parse_escape(re_parser *ps, bool in_class, bool *is_char, uint32_t *cp)
{
    *is_char = false;
    if (ps->p >= ps->end) return syntax(ps, "trailing backslash");
    char c = *ps->p++;
    switch (c) {
    case 'd': return add_item(ps, CI_DIGIT, false, 0, 0);
    case 'D': return add_item(ps, CI_DIGIT, true, 0, 0);
    case 'w': return add_item(ps, CI_WORD, false, 0, 0);
    case 'W': return add_item(ps, CI_WORD, true, 0, 0);
    case 's': return add_item(ps, CI_SPACE, false, 0, 0);
    case 'S': return add_item(ps, CI_SPACE, true, 0, 0);
    case 'h': return add_item(ps, CI_XDIGIT, false, 0, 0);
    case 'H': return add_item(ps, CI_XDIGIT, true, 0, 0);
    case 'p': return parse_prop(ps, false);
    case 'P': return parse_prop(ps, true);
    case 't': *cp = '\t'; break;
    case 'n': *cp = '\n'; break;
    case 'r': *cp = '\r'; break;
    case 'f': *cp = '\f'; break;
    case 'v': *cp = 0x0B; break;
    case 'a': *cp = 0x07; break;
    case 'e': *cp = 0x1B; break;
    case 'b':
        if (!in_class) return syntax(ps, "internal: \\b");
        *cp = 0x08;
        break;
    case 'x': {
        uint32_t v = 0;
        if (ps->p < ps->end && *ps->p == '{') {
            const char *q = ps->p + 1;
            int nd = 0;
            for (; q < ps->end && *q != '}'; q++, nd++) {
                int h = re_hexval(*q);
                if (h < 0 || nd >= 8) return syntax(ps, "bad \\x{...}");
                v = v * 16 + (uint32_t)h;
            }
            if (q >= ps->end || nd == 0) return syntax(ps, "bad \\x{...}");
            ps->p = q + 1;
        } else {
            int nd = 0;
            while (nd < 2 && ps->p < ps->end && re_hexval(*ps->p) >= 0) {
                v = v * 16 + (uint32_t)re_hexval(*ps->p++);
                nd++;
            }
            if (nd == 0) return syntax(ps, "bad \\x");
        }
        if (v > 0x10FFFF) return syntax(ps, "code point out of range");
        *cp = v;
        break;
    }
    case 'u': {
        uint32_t v = 0;
        for (int k = 0; k < 4; k++) {
            if (ps->p >= ps->end || re_hexval(*ps->p) < 0) return syntax(ps, "bad \\u");
            v = v * 16 + (uint32_t)re_hexval(*ps->p++);
        }
        *cp = v;
        break;
    }
    default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            return unsupported(ps, "this escape (backreferences, octal, \\G \\K \\R \\X ...)");
        if ((unsigned char)c >= 0x80) {
            size_t l;
            ps->p--;
            *cp = hfu_decode(ps->p, (size_t)(ps->end - ps->p), &l);
            ps->p += l;
        } else {
            *cp = (unsigned char)c;
        }
    }
    *is_char = true;
    return GLOSSA_STATUS_OK;
}

static glossa_status parse_posix(re_parser *ps)
{
    /* ps->p just after "[:" */
    bool neg = false;
    if (ps->p < ps->end && *ps->p == '^') {
        neg = true;
        ps->p++;
    }
    const char *q = ps->p;
    while (q + 1 < ps->end && !(q[0] == ':' && q[1] == ']')) q++;
    if (q + 1 >= ps->end) return syntax(ps, "unterminated [:class:]");
    size_t len = (size_t)(q - ps->p);
    const char *nm = ps->p;
    ps->p = q + 2;
#define IS(s) (len == sizeof(s) - 1 && memcmp(nm, s, len) == 0)
    if (IS("space")) return add_item(ps, CI_SPACE, neg, 0, 0);
    if (IS("digit")) return add_item(ps, CI_DIGIT, neg, 0, 0);
    if (IS("word")) return add_item(ps, CI_PWORD, neg, 0, 0);
    if (IS("xdigit")) return add_item(ps, CI_XDIGIT, neg, 0, 0);
    if (IS("alpha")) return add_item(ps, CI_ALPHA, neg, 0, 0);
    if (IS("alnum")) return add_item(ps, CI_ALNUM, neg, 0, 0);
    if (IS("blank")) return add_item(ps, CI_BLANK, neg, 0, 0);
    if (IS("upper")) return add_item(ps, CI_CAT, neg, 1u << 1, 0);
    if (IS("lower")) return add_item(ps, CI_CAT, neg, 1u << 2, 0);
    if (IS("cntrl")) return add_item(ps, CI_CAT, neg, 0x3C000001u, 0);
#undef IS
    return unsupported(ps, "this POSIX class");
}

static glossa_status parse_class(re_parser *ps, re_node **out)
{
    /* ps->p just after '[' */
    bool neg = false;
    if (ps->p < ps->end && *ps->p == '^') {
        neg = true;
        ps->p++;
    }
    uint32_t idx;
    GLOSSA_TRY(new_set(ps, neg, &idx));
    bool first = true;
    for (;;) {
        if (ps->p >= ps->end) return syntax(ps, "unterminated character class");
        char c = *ps->p;
        if (c == ']' && !first) {
            ps->p++;
            break;
        }
        first = false;
        if (c == '[') {
            if (ps->p + 1 < ps->end && ps->p[1] == ':') {
                ps->p += 2;
                GLOSSA_TRY(parse_posix(ps));
                continue;
            }
            return unsupported(ps, "a nested character class");
        }
        if (c == '&' && ps->p + 1 < ps->end && ps->p[1] == '&')
            return unsupported(ps, "class intersection (&&)");
        uint32_t lo;
        bool is_char = true;
        if (c == '\\') {
            ps->p++;
            GLOSSA_TRY(parse_escape(ps, true, &is_char, &lo));
            if (!is_char) continue;
        } else {
            size_t l;
            lo = hfu_decode(ps->p, (size_t)(ps->end - ps->p), &l);
            ps->p += l;
        }
        uint32_t hi = lo;
        if (ps->p + 1 < ps->end && *ps->p == '-' && ps->p[1] != ']') {
            ps->p++;
            if (*ps->p == '\\') {
                ps->p++;
                bool ic;
                GLOSSA_TRY(parse_escape(ps, true, &ic, &hi));
                if (!ic) return syntax(ps, "bad range in character class");
            } else {
                size_t l;
                hi = hfu_decode(ps->p, (size_t)(ps->end - ps->p), &l);
                ps->p += l;
            }
            if (hi < lo) return syntax(ps, "empty range in character class");
        }
        GLOSSA_TRY(add_item(ps, CI_RANGE, false, lo, hi));
    }
    ps->re->sets[idx].count = ps->re->nitems - ps->re->sets[idx].first;
    re_node *n = mk(ps, N_SET);
    if (!n) return oom();
    n->c = idx;
    *out = n;
    return GLOSSA_STATUS_OK;
}

static glossa_status parse_alt(re_parser *ps, re_node **out);

static glossa_status parse_group(re_parser *ps, re_node **out)
{
    /* ps->p just after '(' */
    int look = 0; /* 1: (?=  2: (?! */
    if (ps->p < ps->end && *ps->p == '?') {
        const char *q = ps->p + 1;
        if (q >= ps->end) return syntax(ps, "unterminated group");
        if (*q == ':') {
            ps->p = q + 1;
        } else if (*q == '=') {
            look = 1;
            ps->p = q + 1;
        } else if (*q == '!') {
            look = 2;
            ps->p = q + 1;
        } else if (*q == '<' && q + 1 < ps->end && (q[1] == '=' || q[1] == '!')) {
            return unsupported(ps, "lookbehind");
        } else if (*q == '<' || (*q == 'P' && q + 1 < ps->end && q[1] == '<')) {
            const char *e = memchr(q, '>', (size_t)(ps->end - q));
            if (!e) return syntax(ps, "unterminated group name");
            ps->p = e + 1;
        } else {
            return unsupported(ps, "inline options, atomic groups and other (?...) groups");
        }
    }
    if (++ps->depth > 200) return unsupported(ps, "groups nested this deep");
    re_node *inner = NULL;
    GLOSSA_TRY(parse_alt(ps, &inner));
    ps->depth--;
    if (ps->p >= ps->end || *ps->p != ')') return syntax(ps, "missing )");
    ps->p++;
    if (look) {
        re_node *n = mk(ps, N_LOOK);
        if (!n) return oom();
        n->neg = look == 2;
        n->a = inner;
        inner = n;
    }
    *out = inner;
    return GLOSSA_STATUS_OK;
}

static glossa_status parse_atom(re_parser *ps, re_node **out)
{
    char c = *ps->p;
    re_node *n = NULL;
    switch (c) {
    case '(':
        ps->p++;
        return parse_group(ps, out);
    case '[':
        ps->p++;
        return parse_class(ps, out);
    case '.':
        ps->p++;
        n = mk(ps, N_ANY);
        break;
    case '^':
    case '$':
        ps->p++;
        n = mk(ps, N_ASSERT);
        if (n) n->c = c == '^' ? OP_BOL : OP_EOL;
        break;
    case '*': case '+': case '?':
        return syntax(ps, "target of repeat operator is not specified");
    case ')':
        return syntax(ps, "unmatched )");
    case '\\': {
        ps->p++;
        if (ps->p < ps->end && strchr("bBAzZ", *ps->p) && *ps->p) {
            char e = *ps->p++;
            n = mk(ps, N_ASSERT);
            if (n) n->c = e == 'b' ? OP_WB : e == 'B' ? OP_NWB : e == 'A' ? OP_BOT : e == 'z' ? OP_EOT : OP_EOTNL;
            break;
        }
        bool is_char;
        uint32_t cp, idx;
        uint32_t before = ps->re->nitems;
        GLOSSA_TRY(new_set(ps, false, &idx));
        GLOSSA_TRY(parse_escape(ps, false, &is_char, &cp));
        if (is_char) {
            ps->re->nsets--; /* unused */
            n = mk(ps, N_CHAR);
            if (n) n->c = cp;
        } else {
            ps->re->sets[idx].count = ps->re->nitems - before;
            n = mk(ps, N_SET);
            if (n) n->c = idx;
        }
        break;
    }
    default: {
        size_t l;
        uint32_t cp = hfu_decode(ps->p, (size_t)(ps->end - ps->p), &l);
        ps->p += l;
        n = mk(ps, N_CHAR);
        if (n) n->c = cp;
    }
    }
    if (!n) return oom();
    *out = n;
    return GLOSSA_STATUS_OK;
}

/* {n}, {n,}, {n,m}, {,m} at ps->p; false (ps->p unchanged) when it is not an interval. */
static bool parse_interval(re_parser *ps, int *min, int *max)
{
    const char *q = ps->p + 1;
    long a = -1, b = -1;
    if (q < ps->end && *q >= '0' && *q <= '9') {
        a = 0;
        while (q < ps->end && *q >= '0' && *q <= '9' && a <= 100000) a = a * 10 + (*q++ - '0');
    }
    bool comma = q < ps->end && *q == ',';
    if (comma) {
        q++;
        if (q < ps->end && *q >= '0' && *q <= '9') {
            b = 0;
            while (q < ps->end && *q >= '0' && *q <= '9' && b <= 100000) b = b * 10 + (*q++ - '0');
        }
    }
    if (q >= ps->end || *q != '}' || (a < 0 && b < 0)) return false;
    if (!comma) b = a;
    if (a < 0) a = 0;
    *min = (int)a;
    *max = comma && b < 0 ? -1 : (int)b;
    ps->p = q + 1;
    return true;
}

static glossa_status parse_repeat(re_parser *ps, re_node **out)
{
    re_node *atom = NULL;
    GLOSSA_TRY(parse_atom(ps, &atom));
    while (ps->p < ps->end) {
        int min, max;
        char c = *ps->p;
        if (c == '*') { min = 0; max = -1; ps->p++; }
        else if (c == '+') { min = 1; max = -1; ps->p++; }
        else if (c == '?') { min = 0; max = 1; ps->p++; }
        else if (c == '{' && parse_interval(ps, &min, &max)) {
            if (min > RE_MAX_REPEAT || max > RE_MAX_REPEAT) return unsupported(ps, "repeat counts over 1000");
            if (max >= 0 && max < min) return syntax(ps, "bad repeat interval");
        } else break;
        bool greedy = true;
        if (ps->p < ps->end && *ps->p == '?') { greedy = false; ps->p++; }
        else if (ps->p < ps->end && *ps->p == '+') return unsupported(ps, "possessive quantifiers");
        if (atom->type == N_ASSERT || atom->type == N_LOOK)
            return syntax(ps, "target of repeat operator is invalid");
        re_node *r = mk(ps, N_REP);
        if (!r) return oom();
        r->min = min;
        r->max = max;
        r->greedy = greedy;
        r->a = atom;
        atom = r;
    }
    *out = atom;
    return GLOSSA_STATUS_OK;
}

static glossa_status parse_cat(re_parser *ps, re_node **out)
{
    re_node *acc = mk(ps, N_EMPTY);
    if (!acc) return oom();
    while (ps->p < ps->end && *ps->p != '|' && *ps->p != ')') {
        re_node *r = NULL;
        GLOSSA_TRY(parse_repeat(ps, &r));
        if (acc->type == N_EMPTY) {
            acc = r;
        } else {
            re_node *c = mk(ps, N_CAT);
            if (!c) return oom();
            c->a = acc;
            c->b = r;
            acc = c;
        }
    }
    *out = acc;
    return GLOSSA_STATUS_OK;
}

static glossa_status parse_alt(re_parser *ps, re_node **out)
{
    re_node *acc = NULL;
    GLOSSA_TRY(parse_cat(ps, &acc));
    while (ps->p < ps->end && *ps->p == '|') {
        ps->p++;
        re_node *r = NULL;
        GLOSSA_TRY(parse_cat(ps, &r));
        re_node *a = mk(ps, N_ALT);
        if (!a) return oom();
        a->a = acc;
        a->b = r;
        acc = a;
    }
    *out = acc;
    return GLOSSA_STATUS_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Compilation                                                                                  */

static glossa_status emit(re_parser *ps, uint8_t op, uint32_t x, uint32_t y, uint32_t c,
                          uint32_t *at)
{
    hf_regex *re = ps->re;
    if (re->n >= RE_MAX_PROG) return unsupported(ps, "a pattern this large");
    if (!grow((void **)&re->prog, &re->cap, re->n + 1, sizeof *re->prog)) return oom();
    if (at) *at = re->n;
    re->prog[re->n++] = (re_inst){op, x, y, c};
    return GLOSSA_STATUS_OK;
}

static glossa_status compile(re_parser *ps, const re_node *n, int depth)
{
    hf_regex *re = ps->re;
    if (depth > 2000) return unsupported(ps, "a pattern nested this deep");
    uint32_t at, at2;
    switch (n->type) {
    case N_EMPTY: return GLOSSA_STATUS_OK;
    case N_CHAR: return emit(ps, OP_CHAR, 0, 0, n->c, NULL);
    case N_ANY: return emit(ps, OP_ANY, 0, 0, 0, NULL);
    case N_SET: return emit(ps, OP_SET, n->c, 0, 0, NULL);
    case N_ASSERT: return emit(ps, (uint8_t)n->c, 0, 0, 0, NULL);
    case N_CAT:
        GLOSSA_TRY(compile(ps, n->a, depth + 1));
        return compile(ps, n->b, depth + 1);
    case N_ALT:
        GLOSSA_TRY(emit(ps, OP_SPLIT, 0, 0, 0, &at));
        re->prog[at].x = re->n;
        GLOSSA_TRY(compile(ps, n->a, depth + 1));
        GLOSSA_TRY(emit(ps, OP_JMP, 0, 0, 0, &at2));
        re->prog[at].y = re->n;
        GLOSSA_TRY(compile(ps, n->b, depth + 1));
        re->prog[at2].x = re->n;
        return GLOSSA_STATUS_OK;
    case N_LOOK:
        GLOSSA_TRY(emit(ps, n->neg ? OP_NLOOK : OP_LOOK, 0, 0, 0, &at));
        GLOSSA_TRY(compile(ps, n->a, depth + 1));
        GLOSSA_TRY(emit(ps, OP_MATCH, 0, 0, 0, NULL));
        re->prog[at].x = re->n;
        return GLOSSA_STATUS_OK;
    case N_REP:
        for (int i = 0; i < n->min; i++) GLOSSA_TRY(compile(ps, n->a, depth + 1));
        if (n->max < 0) {
            uint32_t loop = re->n;
            GLOSSA_TRY(emit(ps, OP_SPLIT, 0, 0, 0, &at));
            uint32_t body = re->n;
            GLOSSA_TRY(compile(ps, n->a, depth + 1));
            GLOSSA_TRY(emit(ps, OP_JMP, loop, 0, 0, NULL));
            re->prog[at].x = n->greedy ? body : re->n;
            re->prog[at].y = n->greedy ? re->n : body;
            return GLOSSA_STATUS_OK;
        }
        uint32_t first = re->n;
        for (int i = n->min; i < n->max; i++) {
            GLOSSA_TRY(emit(ps, OP_SPLIT, 0, 0, 0, &at));
            uint32_t body = re->n;
            GLOSSA_TRY(compile(ps, n->a, depth + 1));
            /* Skipping any optional copy skips all the following ones too (they would be the
             * same empty choice): jump to the end, patched below by a second pass. */
            re->prog[at].x = n->greedy ? body : UINT32_MAX;
            re->prog[at].y = n->greedy ? UINT32_MAX : body;
        }
        for (uint32_t k = first; k < re->n; k++) {
            if (re->prog[k].op != OP_SPLIT) continue;
            if (re->prog[k].x == UINT32_MAX) re->prog[k].x = re->n;
            if (re->prog[k].y == UINT32_MAX) re->prog[k].y = re->n;
        }
        return GLOSSA_STATUS_OK;
    }
    return GLOSSA_STATUS_OK;
}

glossa_status hf_regex_compile(const char *pattern, size_t len, hf_regex **out)
{
    *out = NULL;
    hf_regex *re = calloc(1, sizeof *re);
    if (!re) return oom();
    re_parser ps = {pattern, pattern + len, pattern, len, re, {0}, 0};
    arena_init(&ps.nodes, 16 * 1024);
    glossa_status st = GLOSSA_STATUS_OK;
    size_t bad;
    for (size_t i = 0; i < len;) {
        size_t l = hfu_utf8_step(pattern + i, len - i, &bad);
        if (!l) {
            st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "regex is not valid UTF-8");
            goto done;
        }
        i += l;
    }
    re_node *root = NULL;
    st = parse_alt(&ps, &root);
    if (st == GLOSSA_STATUS_OK && ps.p != ps.end) st = syntax(&ps, "unmatched )");
    if (st == GLOSSA_STATUS_OK) st = compile(&ps, root, 0);
    if (st == GLOSSA_STATUS_OK) st = emit(&ps, OP_MATCH, 0, 0, 0, NULL);
done:
    arena_free(&ps.nodes);
    if (st != GLOSSA_STATUS_OK) {
        hf_regex_free(re);
        return st;
    }
    *out = re;
    return GLOSSA_STATUS_OK;
}

void hf_regex_free(hf_regex *re)
{
    if (!re) return;
    free(re->prog);
    free(re->sets);
    free(re->items);
    free(re);
}

glossa_status hf_pattern_load(const void *json, const char *what, hf_pattern *p)
{
    const json_t *j = json;
    memset(p, 0, sizeof *p);
    if (!json_is_object(j))
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: \"pattern\" is not an object", what);
    const char *s;
    size_t len;
    const json_t *str = json_object_get(j, "String");
    const json_t *rx = json_object_get(j, "Regex");
    if ((str != NULL) == (rx != NULL))
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: pattern must have one of \"String\" or \"Regex\"",
                            what);
    GLOSSA_TRY(hfj_str(j, what, str ? "String" : "Regex", false, &s, &len));
    if (rx) {
        glossa_status st = hf_regex_compile(s, len, &p->re);
        if (st != GLOSSA_STATUS_OK) return glossa_error_prefix(st, "%s: ", what);
        return GLOSSA_STATUS_OK;
    }
    p->lit = malloc(len + 1);
    if (!p->lit) return oom();
    memcpy(p->lit, s, len);
    p->lit[len] = '\0';
    p->lit_len = len;
    return GLOSSA_STATUS_OK;
}

void hf_pattern_free(hf_pattern *p)
{
    hf_regex_free(p->re);
    free(p->lit);
    memset(p, 0, sizeof *p);
}
