#include "tok/bpe.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "core/utf8.h"

#define RESEGMENT_MAX_DEPTH 4096

typedef struct bpe_sym {
    uint32_t begin, len; /* len 0: merged into its left neighbour */
    int32_t prev, next;  /* -1 at the ends */
    int32_t id;          /* HF: piece id; SPM: unused until the end */
    int32_t freeze;      /* SPM: a user-defined symbol, never merged */
} bpe_sym;

/* A candidate merge. Better = larger key, then smaller left. */
/* A candidate merge. key = prio << 32 | (UINT32_MAX - left): larger is better, so the best
 * priority wins and ties go to the leftmost pair (sentencepiece's SymbolPairComparator, HF's
 * Merge ordering). */
typedef struct bpe_pair {
    uint64_t key;
    int32_t right;
    int32_t new_id; /* the merged piece */
} bpe_pair;

typedef struct bpe_heap {
    bpe_pair *a;
    size_t n;
} bpe_heap;

typedef struct rev_slot {
    int32_t id; /* -1 empty */
    uint32_t left_len;
} rev_slot;

typedef struct bpe_state {
    const bpe_model *m;
    const char *s;
    bpe_sym *sym;
    bpe_heap heap;
    rev_slot *rev;     /* SPM with UNUSED pieces */
    uint32_t rev_mask;
    tok_seg *out;
    size_t n_out;
} bpe_state;

bpe_options bpe_default_options(void)
{
    bpe_options o;
    memset(&o, 0, sizeof o);
    o.mode = BPE_MODE_SPM;
    o.unk_id = 0;
    o.fuse_unk = true;
    return o;
}

#define SPM_TABLE_MAX_LEN 64 /* SPM pairs of known pieces up to this many bytes merge by id */

static inline int pair_better(const bpe_pair *a, const bpe_pair *b)
{
    return a->key > b->key;
}

static inline int32_t pair_left(const bpe_pair *p)
{
    return (int32_t)(UINT32_MAX - (uint32_t)p->key);
}

static inline uint64_t pair_key(uint32_t prio, int32_t left)
{
    return ((uint64_t)prio << 32) | (UINT32_MAX - (uint32_t)left);
}

/* Order-preserving map of a float score to uint32 (-0 and +0 equal, as float comparison has it). */
static inline uint32_t score_prio(float f)
{
    uint32_t b;
    if (f == 0.0f) f = 0.0f;
    memcpy(&b, &f, sizeof b);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

static inline int mergeable(uint8_t t)
{
    return t == TOK_PIECE_NORMAL || t == TOK_PIECE_USER_DEFINED || t == TOK_PIECE_UNUSED;
}

static void heap_push(bpe_heap *h, bpe_pair p)
{
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_better(&p, &h->a[parent])) break;
        h->a[i] = h->a[parent];
        i = parent;
    }
    h->a[i] = p;
}

static bpe_pair heap_pop(bpe_heap *h)
{
    bpe_pair top = h->a[0];
    bpe_pair last = h->a[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_better(&h->a[c + 1], &h->a[c])) c++;
        if (!pair_better(&h->a[c], &last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (n) h->a[i] = last;
    return top;
}

static inline uint64_t merge_key(int32_t l, int32_t r)
{
    return (((uint64_t)(uint32_t)l << 32) | (uint32_t)r) + 1;
}

static inline uint32_t merge_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (uint32_t)k;
}

static const bpe_merge_slot *merge_find(const bpe_model *m, int32_t l, int32_t r)
{
    if (!m->merges || l < 0 || r < 0) return NULL;
    uint64_t key = merge_key(l, r);
    uint32_t mask = m->merge_cap - 1;
    for (uint32_t h = merge_hash(key) & mask;; h = (h + 1) & mask) {
        const bpe_merge_slot *s = &m->merges[h];
        if (s->key == key) return s;
        if (s->key == 0) return NULL;
    }
}

/* Allocate an empty table for at least n entries. */
static glossa_status table_alloc(bpe_model *m, size_t n)
{
    uint32_t cap = 16;
    while (cap < n * 2 + 2) {
        if (cap > (1u << 29)) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "bpe: too many merges");
        cap *= 2;
    }
    m->merges = calloc(cap, sizeof *m->merges);
    if (!m->merges) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "bpe merge table");
    m->merge_cap = cap;
    return GLOSSA_STATUS_OK;
}

/* Insert or overwrite (a repeated pair: the last one wins, as HF's HashMap collect). */
static void table_put(bpe_model *m, int32_t l, int32_t r, uint32_t prio, int32_t id)
{
    uint64_t key = merge_key(l, r);
    uint32_t mask = m->merge_cap - 1;
    for (uint32_t h = merge_hash(key) & mask;; h = (h + 1) & mask) {
        bpe_merge_slot *s = &m->merges[h];
        if (s->key == 0 || s->key == key) {
            s->key = key;
            s->prio = prio;
            s->id = id;
            return;
        }
    }
}

/* HF: the merges list, rank = index. */
static glossa_status build_hf_merges(bpe_model *m, const int32_t *merges, size_t n_merges)
{
    const tok_vocab *v = m->vocab;
    GLOSSA_TRY(table_alloc(m, n_merges));
    char *buf = NULL;
    size_t buf_cap = 0;
    glossa_status st = GLOSSA_STATUS_OK;
    for (size_t i = 0; i < n_merges; i++) {
        int32_t l = merges[2 * i], r = merges[2 * i + 1];
        if (l < 0 || l >= v->n || r < 0 || r >= v->n) {
            st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "merge %zu: piece id out of range", i);
            break;
        }
        size_t n = (size_t)v->piece_len[l] + v->piece_len[r];
        if (n > buf_cap) {
            char *nb = realloc(buf, n);
            if (!nb) {
                st = glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "bpe merges");
                break;
            }
            buf = nb;
            buf_cap = n;
        }
        memcpy(buf, v->piece[l], v->piece_len[l]);
        memcpy(buf + v->piece_len[l], v->piece[r], v->piece_len[r]);
        int32_t id = tok_vocab_find(v, buf, n);
        if (id < 0) {
            st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "merge %zu (\"%s\" \"%s\"): result not in the vocab",
                              i, v->piece[l], v->piece[r]);
            break;
        }
        table_put(m, l, r, UINT32_MAX - (uint32_t)i, id);
    }
    free(buf);
    return st;
}

/* SPM: every split of a mergeable piece (of at most SPM_TABLE_MAX_LEN bytes) into two mergeable
 * pieces, so that two adjacent known symbols merge by an id lookup instead of a string lookup.
 * Same result: the concatenation of two pieces is a mergeable piece exactly when that pair is one
 * of its splits. */
static glossa_status build_spm_pairs(bpe_model *m)
{
    const tok_vocab *v = m->vocab;
    size_t count = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) GLOSSA_TRY(table_alloc(m, count));
        for (int32_t id = 0; id < v->n; id++) {
            uint32_t len = v->piece_len[id];
            if (!mergeable(v->type[id]) || len < 2 || len > SPM_TABLE_MAX_LEN) continue;
            for (uint32_t k = 1; k < len; k++) {
                int32_t l = tok_vocab_find(v, v->piece[id], k);
                if (l < 0 || !mergeable(v->type[l])) continue;
                int32_t r = tok_vocab_find(v, v->piece[id] + k, len - k);
                if (r < 0 || !mergeable(v->type[r])) continue;
                if (pass == 0) count++;
                else table_put(m, l, r, score_prio(v->score[id]), id);
            }
        }
    }
    for (int c = 0; c < 128; c++) {
        char ch = (char)c;
        int32_t id = tok_vocab_find(v, &ch, 1);
        m->ascii_id[c] = id >= 0 && mergeable(v->type[id]) ? id : -1;
    }
    return GLOSSA_STATUS_OK;
}

static glossa_status build_user_defined(bpe_model *m)
{
    const tok_vocab *v = m->vocab;
    size_t n = 0;
    for (int32_t id = 0; id < v->n; id++) {
        if (v->type[id] == TOK_PIECE_USER_DEFINED) n++;
        if (v->type[id] == TOK_PIECE_UNUSED) m->has_unused = true;
    }
    const char **keys = malloc((n + 1) * sizeof *keys);
    uint32_t *lens = malloc((n + 1) * sizeof *lens);
    int32_t *vals = malloc((n + 1) * sizeof *vals);
    glossa_status st;
    if (!keys || !lens || !vals) {
        st = glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "bpe user-defined symbols");
    } else {
        size_t k = 0;
        for (int32_t id = 0; id < v->n; id++) {
            if (v->type[id] != TOK_PIECE_USER_DEFINED) continue;
            keys[k] = v->piece[id];
            lens[k] = v->piece_len[id];
            vals[k] = id;
            k++;
        }
        st = tok_trie_build(&m->user_defined, n, keys, lens, vals);
        m->has_user_defined = n > 0;
    }
    free(keys);
    free(lens);
    free(vals);
    return st;
}

glossa_status bpe_init(bpe_model *m, const tok_vocab *vocab, const bpe_options *opt)
{
    memset(m, 0, sizeof *m);
    m->vocab = vocab;
    m->opt = opt ? *opt : bpe_default_options();
    m->opt.merges = NULL;
    for (int i = 0; i < 256; i++) m->byte_id[i] = -1;
    for (int i = 0; i < 128; i++) m->ascii_id[i] = -1;
    glossa_status st = GLOSSA_STATUS_OK;
    if (!vocab->index) return glossa_error(GLOSSA_STATUS_INTERNAL, "bpe: vocabulary index not built");
    int spm = m->opt.mode == BPE_MODE_SPM;
    if (spm && (m->opt.unk_id < 0 || m->opt.unk_id >= vocab->n))
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "bpe: unk id %d out of range", m->opt.unk_id);
    if (!spm && m->opt.unk_id >= vocab->n)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "bpe: unk id %d out of range", m->opt.unk_id);

    if (spm) {
        st = build_user_defined(m);
        if (st == GLOSSA_STATUS_OK) st = build_spm_pairs(m);
        m->split_words = !m->has_unused;
        for (int32_t id = 0; id < vocab->n && m->split_words; id++) {
            if (!mergeable(vocab->type[id])) continue;
            const char *p = vocab->piece[id];
            uint32_t len = vocab->piece_len[id];
            for (uint32_t k = 1; k + 3 <= len; k++)
                if (memcmp(p + k, "\xe2\x96\x81", 3) == 0) m->split_words = false;
        }
    } else if (opt && opt->n_merges && !opt->merges) {
        st = glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "bpe: merges is NULL");
    } else {
        st = build_hf_merges(m, opt ? opt->merges : NULL, opt ? opt->n_merges : 0);
    }
    if (st == GLOSSA_STATUS_OK && m->opt.byte_fallback) {
        int all = tok_byte_ids_find(vocab, spm, m->byte_id);
        if (!all && spm)
            st = glossa_error(GLOSSA_STATUS_BAD_MODEL,
                              "byte_fallback is on but not all 256 byte pieces <0x00>..<0xFF> exist");
    }
    if (st != GLOSSA_STATUS_OK) bpe_free(m);
    return st;
}

void bpe_free(bpe_model *m)
{
    tok_trie_free(&m->user_defined);
    free(m->merges);
    memset(m, 0, sizeof *m);
}

/* ---- sentencepiece mode ------------------------------------------------------------------- */

static void rev_put(bpe_state *st, int32_t id, uint32_t left_len)
{
    for (uint32_t h = ((uint32_t)id * 2654435761u) & st->rev_mask;; h = (h + 1) & st->rev_mask) {
        if (st->rev[h].id == id || st->rev[h].id == -1) {
            st->rev[h].id = id;
            st->rev[h].left_len = left_len;
            return;
        }
    }
}

static int rev_get(const bpe_state *st, int32_t id, uint32_t *left_len)
{
    if (!st->rev) return 0;
    for (uint32_t h = ((uint32_t)id * 2654435761u) & st->rev_mask;; h = (h + 1) & st->rev_mask) {
        if (st->rev[h].id == id) {
            *left_len = st->rev[h].left_len;
            return 1;
        }
        if (st->rev[h].id == -1) return 0;
    }
}

/* bpe_model.cc MaybeAddNewSymbolPair. */
static void spm_maybe_add(bpe_state *st, int32_t left, int32_t right)
{
    if (left == -1 || right == -1) return;
    const bpe_sym *L = &st->sym[left], *R = &st->sym[right];
    if (L->freeze || R->freeze) return;
    const bpe_model *m = st->m;
    uint32_t size = L->len + R->len;
    int32_t id;
    uint32_t prio;
    if (L->id >= 0 && R->id >= 0 && size <= SPM_TABLE_MAX_LEN) {
        const bpe_merge_slot *ms = merge_find(m, L->id, R->id);
        if (!ms) return;
        id = ms->id;
        prio = ms->prio;
    } else {
        id = tok_vocab_find(m->vocab, st->s + L->begin, size);
        if (id < 0 || !mergeable(m->vocab->type[id])) return;
        prio = score_prio(m->vocab->score[id]);
    }
    bpe_pair p = {pair_key(prio, left), right, id};
    heap_push(&st->heap, p);
    if (st->rev && m->vocab->type[id] == TOK_PIECE_UNUSED) rev_put(st, id, L->len);
}

/* Model::Encode's resegment: an UNUSED piece is split back into the pieces it was merged from. */
static void spm_emit(bpe_state *st, uint32_t begin, uint32_t len, int32_t id, int depth)
{
    const tok_vocab *v = st->m->vocab;
    if (id < 0) id = tok_vocab_find(v, st->s + begin, len); /* PieceToId */
    if (id < 0) id = st->m->opt.unk_id;
    uint32_t left_len;
    if (v->type[id] == TOK_PIECE_UNUSED && depth < RESEGMENT_MAX_DEPTH &&
        rev_get(st, id, &left_len) && left_len > 0 && left_len < len) {
        spm_emit(st, begin, left_len, -1, depth + 1);
        spm_emit(st, begin + left_len, len - left_len, -1, depth + 1);
        return;
    }
    tok_seg *g = &st->out[st->n_out++];
    g->begin = begin;
    g->len = len;
    g->id = id;
}

static size_t spm_init_symbols(bpe_state *st, size_t len)
{
    const bpe_model *m = st->m;
    size_t n = 0, pos = 0;
    while (pos < len) {
        int32_t v;
        size_t l = m->has_user_defined ? tok_trie_longest(&m->user_defined, st->s + pos, len - pos, &v) : 0;
        int freeze = l > 0;
        int32_t id = -1; /* a frozen symbol never merges: its id is looked up at the end */
        if (!l) {
            unsigned char c = (unsigned char)st->s[pos];
            if (c < 0x80) {
                l = 1;
                id = m->ascii_id[c];
            } else {
                l = utf8_len_lead(c);
                if (l > len - pos) l = len - pos;
                id = tok_vocab_find(m->vocab, st->s + pos, l);
                if (id >= 0 && !mergeable(m->vocab->type[id])) id = -1;
            }
        }
        bpe_sym *y = &st->sym[n];
        y->begin = (uint32_t)pos;
        y->len = (uint32_t)l;
        y->prev = (int32_t)n - 1;
        pos += l;
        y->next = pos < len ? (int32_t)n + 1 : -1;
        y->id = id;
        y->freeze = freeze;
        n++;
    }
    return n;
}

/* Run the merge queue until it is empty. */
static void spm_drain(bpe_state *st)
{
    bpe_sym *sym = st->sym;
    while (st->heap.n) {
        bpe_pair top = heap_pop(&st->heap);
        int32_t left = pair_left(&top);
        bpe_sym *L = &sym[left], *R = &sym[top.right];
        if (L->len == 0 || R->len == 0 || L->len + R->len != st->m->vocab->piece_len[top.new_id])
            continue; /* stale: one side changed since the pair was queued */
        L->len += R->len;
        L->id = top.new_id;
        L->next = R->next;
        if (R->next >= 0) sym[R->next].prev = left;
        R->len = 0;
        spm_maybe_add(st, L->prev, left);
        spm_maybe_add(st, left, L->next);
    }
}

static inline int starts_with_space_symbol(const char *s, const bpe_sym *y)
{
    return y->len >= 3 && (unsigned char)s[y->begin] == 0xE2 &&
           (unsigned char)s[y->begin + 1] == 0x96 && (unsigned char)s[y->begin + 2] == 0x81;
}

static void spm_merge(bpe_state *st, size_t n)
{
    bpe_sym *sym = st->sym;
    if (st->m->split_words) {
        /* No piece has U+2581 past its start, so no merge spans the start of a symbol that begins
         * with U+2581: each such "word" is merged on its own, with a small queue, in the same
         * order as the sentence-wide queue would merge it. */
        size_t a = 0;
        while (a < n) {
            size_t b = a + 1;
            while (b < n && !starts_with_space_symbol(st->s, &sym[b])) b++;
            for (size_t i = a + 1; i < b; i++) spm_maybe_add(st, (int32_t)i - 1, (int32_t)i);
            spm_drain(st);
            a = b;
        }
    } else {
        for (size_t i = 1; i < n; i++) spm_maybe_add(st, (int32_t)i - 1, (int32_t)i);
        spm_drain(st);
    }
    for (int32_t i = 0; i != -1; i = sym[i].next) spm_emit(st, sym[i].begin, sym[i].len, sym[i].id, 0);
}

/* ---- Hugging Face mode -------------------------------------------------------------------- */

static void hf_add(bpe_state *st, size_t *n, uint32_t begin, uint32_t len, int32_t id)
{
    bpe_sym *y = &st->sym[*n];
    y->begin = begin;
    y->len = len;
    y->prev = (int32_t)*n - 1;
    y->next = -1;
    y->id = id;
    y->freeze = 0;
    if (*n) st->sym[*n - 1].next = (int32_t)*n;
    (*n)++;
}

static size_t hf_init_symbols(bpe_state *st, size_t len)
{
    const bpe_model *m = st->m;
    const tok_vocab *v = m->vocab;
    size_t n = 0, pos = 0;
    int64_t unk_begin = -1;
    uint32_t unk_len = 0;
    while (pos < len) {
        size_t l = utf8_len_lead((unsigned char)st->s[pos]);
        if (l > len - pos) l = len - pos;
        int32_t id = tok_vocab_find(v, st->s + pos, l);
        if (id >= 0) {
            if (unk_begin >= 0) hf_add(st, &n, (uint32_t)unk_begin, unk_len, m->opt.unk_id);
            unk_begin = -1;
            hf_add(st, &n, (uint32_t)pos, (uint32_t)l, id);
        } else {
            int done = 0;
            if (m->opt.byte_fallback) {
                int all = 1;
                for (size_t k = 0; k < l && all; k++) all = m->byte_id[(unsigned char)st->s[pos + k]] >= 0;
                if (all) {
                    if (unk_begin >= 0) hf_add(st, &n, (uint32_t)unk_begin, unk_len, m->opt.unk_id);
                    unk_begin = -1;
                    for (size_t k = 0; k < l; k++)
                        hf_add(st, &n, (uint32_t)(pos + k), 1, m->byte_id[(unsigned char)st->s[pos + k]]);
                    done = 1;
                }
            }
            if (!done && m->opt.unk_id >= 0) {
                if (unk_begin >= 0 && m->opt.fuse_unk) {
                    unk_len += (uint32_t)l;
                } else {
                    if (unk_begin >= 0) hf_add(st, &n, (uint32_t)unk_begin, unk_len, m->opt.unk_id);
                    unk_begin = (int64_t)pos;
                    unk_len = (uint32_t)l;
                }
            }
        }
        pos += l;
    }
    if (unk_begin >= 0) hf_add(st, &n, (uint32_t)unk_begin, unk_len, m->opt.unk_id);
    return n;
}

static void hf_maybe_add(bpe_state *st, int32_t left, int32_t right)
{
    if (left < 0 || right < 0) return;
    const bpe_merge_slot *ms = merge_find(st->m, st->sym[left].id, st->sym[right].id);
    if (!ms) return;
    bpe_pair p = {pair_key(ms->prio, left), right, ms->id};
    heap_push(&st->heap, p);
}

/* word.rs Word::merge_all (without dropout). */
static void hf_merge(bpe_state *st, size_t n)
{
    bpe_sym *sym = st->sym;
    for (size_t i = 1; i < n; i++) hf_maybe_add(st, (int32_t)i - 1, (int32_t)i);
    while (st->heap.n) {
        bpe_pair top = heap_pop(&st->heap);
        int32_t left = pair_left(&top);
        bpe_sym *L = &sym[left];
        if (L->len == 0 || L->next == -1) continue;
        int32_t next = L->next;
        bpe_sym *R = &sym[next];
        const bpe_merge_slot *ms = merge_find(st->m, L->id, R->id);
        if (!ms || ms->id != top.new_id) continue;
        L->id = top.new_id;
        L->len += R->len;
        L->next = R->next;
        R->len = 0;
        if (R->next >= 0) sym[R->next].prev = left;
        hf_maybe_add(st, L->prev, left);
        hf_maybe_add(st, left, L->next);
    }
    for (size_t i = 0; i < n; i++) {
        if (sym[i].len == 0) continue;
        tok_seg *g = &st->out[st->n_out++];
        g->begin = sym[i].begin;
        g->len = sym[i].len;
        g->id = sym[i].id;
    }
}

glossa_status bpe_segment(const bpe_model *m, const char *s, size_t len, tok_ws *ws,
                          const tok_seg **segs, size_t *n_segs)
{
    *segs = NULL;
    *n_segs = 0;
    if (len == 0) return GLOSSA_STATUS_OK;
    if (len >= INT32_MAX / 4)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "text of %zu bytes is too long", len);
    bpe_state st;
    memset(&st, 0, sizeof st);
    st.m = m;
    st.s = s;
    int spm = m->opt.mode == BPE_MODE_SPM;
    if (!spm && m->opt.ignore_merges) {
        int32_t id = tok_vocab_find(m->vocab, s, len);
        if (id >= 0) {
            tok_seg *g = tok_ws_ext(ws, 1, sizeof *g);
            if (!g) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "bpe segments");
            g->begin = 0;
            g->len = (uint32_t)len;
            g->id = id;
            *segs = g;
            *n_segs = 1;
            return GLOSSA_STATUS_OK;
        }
    }
    /* At most len symbols (one per byte) and len segments; at most 3 len queued pairs. */
    st.sym = tok_ws_ext(ws, 0, len * sizeof *st.sym);
    st.out = tok_ws_ext(ws, 1, len * sizeof *st.out);
    st.heap.a = tok_ws_ext(ws, 2, (3 * len + 4) * sizeof *st.heap.a);
    if (!st.sym || !st.out || !st.heap.a) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "bpe symbols");
    if (spm) {
        if (m->has_unused) {
            uint32_t cap = 16;
            while (cap < 6 * len + 8) cap *= 2;
            st.rev = tok_ws_ext(ws, 3, cap * sizeof *st.rev);
            if (!st.rev) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "bpe resegmentation");
            for (uint32_t i = 0; i < cap; i++) st.rev[i].id = -1;
            st.rev_mask = cap - 1;
        }
        size_t n = spm_init_symbols(&st, len);
        spm_merge(&st, n);
    } else {
        size_t n = hf_init_symbols(&st, len);
        hf_merge(&st, n);
    }
    *segs = st.out;
    *n_segs = st.n_out;
    return GLOSSA_STATUS_OK;
}

glossa_status bpe_encode(const bpe_model *m, const char *s, size_t len, tok_ws *ws, idvec *out)
{
    const tok_seg *segs;
    size_t n;
    GLOSSA_TRY(bpe_segment(m, s, len, ws, &segs, &n));
    if (m->opt.mode == BPE_MODE_HF) {
        /* Unknown characters were fused / byte-expanded when the symbols were made. */
        GLOSSA_TRY(idvec_reserve(out, n));
        for (size_t i = 0; i < n; i++) out->data[out->len++] = segs[i].id;
        return GLOSSA_STATUS_OK;
    }
    return tok_segs_to_ids(segs, n, s, m->opt.unk_id, true, m->opt.byte_fallback ? m->byte_id : NULL,
                           out);
}
