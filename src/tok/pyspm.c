/* transformers' Python tokenizers of M2M100 and Marian (see pyspm.h). */
#include "tok/pyspm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/file.h"
#include "tok/langs.h"
#include "tok/pytext.h"
#include "tok/spm.h"
#include "tok/spm_model.h"
#include "tok/vocab_json.h"

#define PYSPM_MAX_SPECIAL 4
#define SPACE_SYMBOL "\xE2\x96\x81" /* U+2581 */

typedef struct pyspm_side {
    spm_processor *sp;
    bool strip_bos_ws; /* DecodePieces drops the U+2581 that starts the text (add_dummy_prefix or
                          remove_extra_whitespaces) */
} pyspm_side;

typedef struct pyspm_stok {
    const char *s; /* points into the vocabulary's strings */
    size_t len;
    int32_t id;
} pyspm_stok;

struct pyspm {
    glossa_tokenizer_family family;
    pyspm_side src, tgt;
    bool has_tgt; /* Marian: target.spm loaded (else tgt = src) */
    tok_vocab_json enc, tgt_enc;
    bool separate;
    pyspm_stok special[PYSPM_MAX_SPECIAL];
    size_t n_special;
    int32_t bos, eos, unk, pad;
    const char *unk_s; /* the unk token's string */
    size_t unk_len;
    int32_t enc_size;       /* len(encoder): M2M100's first language id */
    char (*m2m_tok)[16];    /* (TOK_LANGS_M2M100_N) "__xx__" */
    const char **mlang;     /* Marian >>xx<< tokens (into enc's strings) */
    int32_t *mlang_id;
    size_t n_mlang;
};

static glossa_status side_load(pyspm_side *s, const char *path)
{
    GLOSSA_TRY(spm_load_file(path, &s->sp));
    /* the normalizer flags that DecodePieces looks at */
    file_map m;
    GLOSSA_TRY(file_map_open(path, &m));
    spm_model model;
    glossa_status st = spm_model_parse(m.data, m.size, &model);
    file_map_close(&m);
    if (st != GLOSSA_STATUS_OK) return st;
    s->strip_bos_ws = !model.normalizer.present || model.normalizer.add_dummy_prefix ||
                      model.normalizer.remove_extra_whitespaces;
    spm_model_free(&model);
    return GLOSSA_STATUS_OK;
}

static glossa_status add_special(pyspm *p, const char *tok, int32_t *id_out, bool required)
{
    *id_out = -1;
    if (!tok) return GLOSSA_STATUS_OK;
    size_t len = strlen(tok);
    int32_t k = tok_vocab_find(&p->enc.keys, tok, len);
    if (k < 0) {
        if (required) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "vocab.json has no \"%s\" token", tok);
        return GLOSSA_STATUS_OK;
    }
    int32_t id = p->enc.key_id[k];
    const char *s = p->enc.keys.piece[k];
    p->special[p->n_special++] = (pyspm_stok){s, len, id};
    *id_out = id;
    return GLOSSA_STATUS_OK;
}

static glossa_status marian_langs(pyspm *p)
{
    const tok_vocab *k = &p->enc.keys;
    p->mlang = malloc(((size_t)k->n + 1) * sizeof *p->mlang);
    p->mlang_id = malloc(((size_t)k->n + 1) * sizeof *p->mlang_id);
    if (!p->mlang || !p->mlang_id) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "marian languages");
    for (int32_t id = 0; id < p->enc.n_ids; id++) { /* id order */
        size_t len;
        const char *s = tok_vocab_json_key(&p->enc, id, &len);
        if (s && len > 4 && !memcmp(s, ">>", 2) && !memcmp(s + len - 2, "<<", 2)) {
            p->mlang[p->n_mlang] = s;
            p->mlang_id[p->n_mlang++] = id;
        }
    }
    return GLOSSA_STATUS_OK;
}

glossa_status pyspm_load(const pyspm_config *cfg, pyspm **out)
{
    *out = NULL;
    pyspm *p = calloc(1, sizeof *p);
    if (!p) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "tokenizer");
    p->family = cfg->family;
    glossa_status st = side_load(&p->src, cfg->spm);
    if (st == GLOSSA_STATUS_OK && cfg->tgt_spm) {
        st = side_load(&p->tgt, cfg->tgt_spm);
        p->has_tgt = true;
    }
    if (!p->has_tgt) p->tgt = p->src;
    if (st == GLOSSA_STATUS_OK) st = tok_vocab_json_load(cfg->vocab, &p->enc);
    if (st == GLOSSA_STATUS_OK && cfg->tgt_vocab) {
        st = tok_vocab_json_load(cfg->tgt_vocab, &p->tgt_enc);
        p->separate = true;
    }
    if (st == GLOSSA_STATUS_OK) {
        p->enc_size = p->enc.keys.n;
        st = add_special(p, cfg->unk, &p->unk, true);
        if (st == GLOSSA_STATUS_OK) {
            p->unk_s = p->special[p->n_special - 1].s;
            p->unk_len = p->special[p->n_special - 1].len;
        }
    }
    if (st == GLOSSA_STATUS_OK) st = add_special(p, cfg->bos, &p->bos, false);
    if (st == GLOSSA_STATUS_OK) st = add_special(p, cfg->eos, &p->eos, true);
    if (st == GLOSSA_STATUS_OK) st = add_special(p, cfg->pad, &p->pad, false);
    if (st == GLOSSA_STATUS_OK && p->family == GLOSSA_FAMILY_M2M100) {
        p->m2m_tok = calloc(TOK_LANGS_M2M100_N, sizeof *p->m2m_tok);
        if (!p->m2m_tok) st = glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "m2m100 languages");
        for (size_t i = 0; st == GLOSSA_STATUS_OK && i < TOK_LANGS_M2M100_N; i++)
            snprintf(p->m2m_tok[i], sizeof p->m2m_tok[i], "__%s__", tok_langs_m2m100[i].code);
    }
    if (st == GLOSSA_STATUS_OK && p->family == GLOSSA_FAMILY_MARIAN && !p->separate) st = marian_langs(p);
    if (st != GLOSSA_STATUS_OK) {
        pyspm_free(p);
        return st;
    }
    *out = p;
    return GLOSSA_STATUS_OK;
}

void pyspm_free(pyspm *p)
{
    if (!p) return;
    spm_free(p->src.sp);
    if (p->has_tgt) spm_free(p->tgt.sp);
    tok_vocab_json_free(&p->enc);
    tok_vocab_json_free(&p->tgt_enc);
    free(p->m2m_tok);
    free(p->mlang);
    free(p->mlang_id);
    free(p);
}

int32_t pyspm_vocab_size(const pyspm *p) { return p->enc_size; }

void pyspm_special(const pyspm *p, int32_t *bos, int32_t *eos, int32_t *unk, int32_t *pad)
{
    *bos = p->bos;
    *eos = p->eos;
    *unk = p->unk;
    *pad = p->pad;
}

size_t pyspm_marian_langs(const pyspm *p, const char ***codes, const int32_t **ids)
{
    *codes = p->mlang;
    *ids = p->mlang_id;
    return p->n_mlang;
}

static int m2m_lang_index(const pyspm *p, const char *s, size_t len)
{
    if (p->family != GLOSSA_FAMILY_M2M100 || len < 5 || len > 9 || memcmp(s, "__", 2)) return -1;
    for (size_t i = 0; i < TOK_LANGS_M2M100_N; i++)
        if (strlen(p->m2m_tok[i]) == len && !memcmp(p->m2m_tok[i], s, len)) return (int)i;
    return -1;
}

int32_t pyspm_token_to_id(const pyspm *p, const char *tok, size_t len)
{
    for (size_t i = 0; i < p->n_special; i++)
        if (p->special[i].len == len && !memcmp(p->special[i].s, tok, len)) return p->special[i].id;
    int li = m2m_lang_index(p, tok, len);
    if (li >= 0) return p->enc_size + li;
    return tok_vocab_json_find(&p->enc, tok, len);
}

/* The token of an id as convert_ids_to_tokens gives it; *is_special when it is one of the
 * special tokens' strings. NULL (BAD_INPUT for the caller) when there is none. */
static const char *id_token(const pyspm *p, int32_t id, size_t *len)
{
    if (id < 0) return NULL;
    for (size_t i = 0; i < p->n_special; i++)
        if (p->special[i].id == id) {
            *len = p->special[i].len;
            return p->special[i].s;
        }
    if (p->family == GLOSSA_FAMILY_M2M100) {
        if (id >= p->enc_size && id < p->enc_size + TOK_LANGS_M2M100_N) {
            const char *s = p->m2m_tok[id - p->enc_size];
            *len = strlen(s);
            return s;
        }
        const char *s = tok_vocab_json_key(&p->enc, id, len);
        if (s) return s;
        *len = 5;
        return "<unk>"; /* decoder.get(index, unk_token) */
    }
    const tok_vocab_json *dec = p->separate ? &p->tgt_enc : &p->enc;
    const char *s = tok_vocab_json_key(dec, id, len);
    if (s) return s;
    const tok_vocab *sv = spm_get_vocab(p->separate ? p->tgt.sp : p->src.sp);
    if (id >= sv->n) return NULL; /* sentencepiece's IdToPiece raises */
    if (!sv->piece_len[id]) {
        *len = 5;
        return "<unk>";
    }
    *len = sv->piece_len[id];
    return sv->piece[id];
}

const char *pyspm_id_to_token(const pyspm *p, int32_t id)
{
    size_t len;
    return id_token(p, id, &len);
}

/* ---- encoding ---------------------------------------------------------------------------- */

/* The longest special token starting at text[i] (Trie.split), or NULL. */
static const pyspm_stok *special_at(const pyspm *p, const char *text, size_t len, size_t i)
{
    const pyspm_stok *best = NULL;
    for (size_t k = 0; k < p->n_special; k++) {
        const pyspm_stok *sp = &p->special[k];
        if (sp->len <= len - i && !memcmp(text + i, sp->s, sp->len) && (!best || sp->len > best->len))
            best = sp;
    }
    return best;
}

static int32_t piece_id(const pyspm *p, const tok_vocab_json *enc, const char *s, size_t len)
{
    int li = m2m_lang_index(p, s, len);
    if (li >= 0) return p->enc_size + li;
    int32_t id = tok_vocab_json_find(enc, s, len);
    if (id >= 0) return id;
    if (enc == &p->tgt_enc) { /* current_encoder[unk_token] */
        int32_t u = tok_vocab_json_find(enc, p->unk_s, p->unk_len);
        if (u >= 0) return u;
    }
    return p->unk;
}

/* One segment between special tokens: _tokenize + convert_tokens_to_ids. */
static glossa_status encode_segment(const pyspm *p, const char *s, size_t len, bool target,
                                    tok_ws *ws, idvec *out)
{
    const tok_vocab_json *enc = target && p->separate ? &p->tgt_enc : &p->enc;
    const pyspm_side *side = target ? &p->tgt : &p->src;
    if (p->family == GLOSSA_FAMILY_MARIAN && len >= 2 && !memcmp(s, ">>", 2)) {
        for (size_t e = 0; e + 1 < len; e++) {
            if (s[e] == '<' && s[e + 1] == '<') { /* text.find("<<") */
                GLOSSA_TRY(idvec_push(out, piece_id(p, enc, s, e + 2)));
                s += e + 2;
                len -= e + 2;
                break;
            }
        }
    }
    strbuf *pieces = &ws->tmp;
    GLOSSA_TRY(spm_encode_pieces(side->sp, s, len, ws, pieces));
    size_t b = 0;
    for (size_t i = 0; i <= pieces->len; i++) {
        if (i < pieces->len && pieces->data[i] != ' ') continue;
        if (i > b) GLOSSA_TRY(idvec_push(out, piece_id(p, enc, pieces->data + b, i - b)));
        b = i + 1;
    }
    return GLOSSA_STATUS_OK;
}

glossa_status pyspm_encode(const pyspm *p, const char *text, size_t len, bool target, tok_ws *ws,
                           idvec *out)
{
    out->len = 0;
    size_t seg = 0, i = 0;
    while (i < len) {
        const pyspm_stok *sp = special_at(p, text, len, i);
        if (!sp) {
            i++;
            continue;
        }
        if (i > seg) GLOSSA_TRY(encode_segment(p, text + seg, i - seg, target, ws, out));
        GLOSSA_TRY(idvec_push(out, sp->id));
        i += sp->len;
        seg = i;
    }
    if (len > seg) GLOSSA_TRY(encode_segment(p, text + seg, len - seg, target, ws, out));
    return GLOSSA_STATUS_OK;
}

glossa_status pyspm_encode_pieces(const pyspm *p, const char *text, size_t len, tok_ws *ws,
                                  strbuf *out)
{
    return spm_encode_pieces(p->src.sp, text, len, ws, out);
}

/* ---- decoding ---------------------------------------------------------------------------- */

typedef struct piece_run {
    idvec ids;   /* spm ids of the current run of pieces the model knows */
    bool lead_ws; /* the run's first visible piece starts with U+2581 */
    bool started;
    strbuf tmp;
} piece_run;

static glossa_status run_flush(const pyspm_side *side, piece_run *r, strbuf *out, size_t out_start)
{
    if (!r->ids.len) return GLOSSA_STATUS_OK;
    r->tmp.len = 0;
    GLOSSA_TRY(spm_decode(side->sp, r->ids.data, r->ids.len, &r->tmp));
    /* spm_decode treats the run as the start of a text; sentencepiece strips the leading
     * U+2581 only when nothing was written before it */
    if (r->lead_ws && side->strip_bos_ws && out->len > out_start) GLOSSA_TRY(strbuf_appendc(out, ' '));
    GLOSSA_TRY(strbuf_append(out, r->tmp.data ? r->tmp.data : "", r->tmp.len));
    r->ids.len = 0;
    r->started = false;
    r->lead_ws = false;
    return GLOSSA_STATUS_OK;
}

/* sentencepiece DecodePieces over toks[0..n) appended to out. */
static glossa_status decode_pieces(const pyspm_side *side, const char *const *tok, const size_t *tlen,
                                   size_t n, piece_run *r, strbuf *out)
{
    const tok_vocab *v = spm_get_vocab(side->sp);
    size_t out_start = out->len;
    for (size_t i = 0; i < n; i++) {
        int32_t id = tok_vocab_find(v, tok[i], tlen[i]);
        if (id < 0) { /* not a piece of the model: written as is */
            GLOSSA_TRY(run_flush(side, r, out, out_start));
            GLOSSA_TRY(strbuf_append(out, tok[i], tlen[i]));
            continue;
        }
        if (!r->started && v->type[id] != TOK_PIECE_CONTROL) {
            r->started = true;
            r->lead_ws = tlen[i] >= 3 && !memcmp(tok[i], SPACE_SYMBOL, 3) && v->type[id] == TOK_PIECE_NORMAL;
        }
        GLOSSA_TRY(idvec_push(&r->ids, id));
    }
    return run_flush(side, r, out, out_start);
}

static bool is_special_token(const pyspm *p, const char *s, size_t len)
{
    for (size_t k = 0; k < p->n_special; k++)
        if (p->special[k].len == len && !memcmp(p->special[k].s, s, len)) return true;
    return false;
}

static bool is_special_id(const pyspm *p, int32_t id)
{
    for (size_t k = 0; k < p->n_special; k++)
        if (p->special[k].id == id) return true;
    return false;
}

glossa_status pyspm_decode(const pyspm *p, const int32_t *ids, size_t n, bool skip_special,
                           strbuf *out)
{
    GLOSSA_TRY(strbuf_reserve(out, 0));
    strbuf_clear(out);
    const char **tok = malloc((n ? n : 1) * sizeof *tok);
    size_t *tlen = malloc((n ? n : 1) * sizeof *tlen);
    piece_run r = {0};
    glossa_status st = GLOSSA_STATUS_OK;
    if (!tok || !tlen) {
        st = glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "decode");
        goto done;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (skip_special && is_special_id(p, ids[i])) continue;
        tok[m] = id_token(p, ids[i], &tlen[m]);
        if (!tok[m]) {
            st = glossa_error(GLOSSA_STATUS_BAD_INPUT, "token id %d is out of range", ids[i]);
            goto done;
        }
        m++;
    }
    /* Marian decodes with source.spm unless its vocabularies are separate */
    const pyspm_side *side = p->family == GLOSSA_FAMILY_MARIAN && p->separate ? &p->tgt : &p->src;
    bool marian = p->family == GLOSSA_FAMILY_MARIAN;
    size_t b = 0;
    for (size_t i = 0; i < m && st == GLOSSA_STATUS_OK; i++) {
        if (!is_special_token(p, tok[i], tlen[i])) continue;
        st = decode_pieces(side, tok + b, tlen + b, i - b, &r, out);
        if (st == GLOSSA_STATUS_OK) st = strbuf_append(out, tok[i], tlen[i]);
        if (st == GLOSSA_STATUS_OK && marian) st = strbuf_appendc(out, ' ');
        b = i + 1;
    }
    if (st == GLOSSA_STATUS_OK) st = decode_pieces(side, tok + b, tlen + b, m - b, &r, out);
    if (st == GLOSSA_STATUS_OK) {
        if (marian) py_replace_shrink(out, SPACE_SYMBOL, " ");
        py_strip(out);
    }
done:
    free(tok);
    free(tlen);
    idvec_free(&r.ids);
    strbuf_free(&r.tmp);
    return st;
}
