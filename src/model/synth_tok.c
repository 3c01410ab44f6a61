/* Tokenizer files of `glossa synth` model directories, laid out as the hub checkpoints of each
 * family have them without tokenizer.json, so that transformers' AutoTokenizer and
 * glossa_tokenizer_load_dir() both load them (the layout of tests/fixtures/hf/make_spm_dirs.py):
 *
 *   mBART-50 / NLLB  sentencepiece.bpe.model + tokenizer_config.json (the language codes in
 *                    additional_special_tokens and added_tokens_decoder at spm size + 1 + i)
 *   M2M100           sentencepiece.bpe.model + vocab.json (<s> <pad> </s> <unk>, then the pieces)
 *                    + tokenizer_config.json
 *   Marian           source.spm = target.spm + vocab.json (</s> <unk> pieces <pad>)
 *                    + tokenizer_config.json
 */
#include <jansson.h>
#include <stdlib.h>

#include "core/status.h"
#include "model/synth.h"
#include "tok/langs.h"

static json_t *added(const char *content, bool lstrip, bool normalized)
{
    json_t *o = json_object();
    json_object_set_new(o, "content", json_string(content));
    json_object_set_new(o, "lstrip", json_boolean(lstrip));
    json_object_set_new(o, "normalized", json_boolean(normalized));
    json_object_set_new(o, "rstrip", json_false());
    json_object_set_new(o, "single_word", json_false());
    json_object_set_new(o, "special", json_true());
    return o;
}

static void set_str(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, json_string(v));
}

static void set_id(json_t *o, int64_t id, json_t *v)
{
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)id);
    json_object_set_new(o, key, v);
}

static glossa_status write_spm(const char *dir, const char *name, int32_t n_pieces)
{
    unsigned char *data;
    size_t len;
    GLOSSA_TRY(synth_spm_build(n_pieces, &data, &len));
    glossa_status st = synth_text_write(dir, name, (const char *)data, len);
    free(data);
    return st;
}

/* The special tokens every family's tokenizer_config.json names. */
static void common_tokens(json_t *cfg, bool fairseq)
{
    set_str(cfg, "eos_token", "</s>");
    set_str(cfg, "unk_token", "<unk>");
    set_str(cfg, "pad_token", "<pad>");
    if (fairseq) {
        set_str(cfg, "bos_token", "<s>");
        set_str(cfg, "sep_token", "</s>");
    }
}

/* mBART-50 and NLLB: codes after the pieces (fairseq offset 1), then <mask>. */
static glossa_status write_fairseq(const char *dir, const synth_config *c, bool nllb)
{
    GLOSSA_TRY(write_spm(dir, "sentencepiece.bpe.model", c->spm_pieces));
    size_t n_codes;
    const tok_lang *codes = tok_langs_table(nllb ? GLOSSA_FAMILY_NLLB : GLOSSA_FAMILY_MBART50, &n_codes);
    json_t *cfg = json_object(), *atd = json_object(), *extra = json_array();
    if (!cfg || !atd || !extra) {
        json_decref(cfg);
        json_decref(atd);
        json_decref(extra);
        return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "synth: tokenizer_config.json");
    }
    static const char *const specials[4] = {"<s>", "<pad>", "</s>", "<unk>"};
    for (int i = 0; i < 4; i++) set_id(atd, i, added(specials[i], false, false));
    int64_t base = (int64_t)c->spm_pieces + 1;
    for (size_t i = 0; i < n_codes; i++) {
        set_id(atd, base + (int64_t)i, added(codes[i].code, false, false));
        json_array_append_new(extra, json_string(codes[i].code));
    }
    set_id(atd, base + (int64_t)n_codes, added("<mask>", true, true));
    json_object_set_new(cfg, "added_tokens_decoder", atd);
    json_object_set_new(cfg, "additional_special_tokens", extra);
    common_tokens(cfg, true);
    set_str(cfg, "cls_token", "<s>");
    set_str(cfg, "mask_token", "<mask>");
    json_object_set_new(cfg, "model_max_length", json_integer(1024));
    set_str(cfg, "tokenizer_class", nllb ? "NllbTokenizer" : "MBart50Tokenizer");
    set_str(cfg, "src_lang", nllb ? "eng_Latn" : "en_XX");
    set_str(cfg, "tgt_lang", nllb ? "fra_Latn" : "ro_RO");
    /* false for both: transformers 5 ignores (and warns about) true for NLLB's BPE pipeline */
    json_object_set_new(cfg, "clean_up_tokenization_spaces", json_false());
    if (nllb) json_object_set_new(cfg, "legacy_behaviour", json_false());
    return synth_json_write(dir, "tokenizer_config.json", cfg, true);
}

/* vocab.json: first the given specials, then the pieces of the model (M2M100: every piece past
 * the three specials; Marian: the normal ones), then the trailing specials. */
static glossa_status write_vocab(const char *dir, const synth_config *c, const char *const *head,
                                 int n_head, bool normal_only, const char *tail, int64_t expect)
{
    synth_spm_pieces *sp;
    GLOSSA_TRY(synth_spm_pieces_open(c->spm_pieces, &sp));
    json_t *v = json_object();
    int64_t id = 0;
    for (int i = 0; v && i < n_head; i++) json_object_set_new(v, head[i], json_integer(id++));
    for (int32_t i = 3; v && i < c->spm_pieces; i++) {
        int type;
        const char *piece = synth_spm_piece(sp, i, &type);
        if (normal_only && type != 1) continue;
        json_object_set_new(v, piece, json_integer(id++));
    }
    if (v && tail) json_object_set_new(v, tail, json_integer(id++));
    synth_spm_pieces_free(sp);
    if (v && (int64_t)json_object_size(v) != expect) {
        json_decref(v);
        return glossa_error(GLOSSA_STATUS_INTERNAL, "synth: vocab.json has %zu entries, not %lld",
                            json_object_size(v), (long long)expect);
    }
    return synth_json_write(dir, "vocab.json", v, false);
}

static glossa_status write_m2m100(const char *dir, const synth_config *c)
{
    GLOSSA_TRY(write_spm(dir, "sentencepiece.bpe.model", c->spm_pieces));
    static const char *const head[4] = {"<s>", "<pad>", "</s>", "<unk>"};
    GLOSSA_TRY(write_vocab(dir, c, head, 4, false, NULL, (int64_t)c->spm_pieces + 1));
    json_t *cfg = json_object();
    if (!cfg) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "synth: tokenizer_config.json");
    common_tokens(cfg, true);
    set_str(cfg, "tokenizer_class", "M2M100Tokenizer");
    set_str(cfg, "src_lang", "en");
    set_str(cfg, "tgt_lang", "fr");
    set_str(cfg, "language_codes", "m2m100");
    json_object_set_new(cfg, "num_madeup_words", json_integer(8));
    json_object_set_new(cfg, "model_max_length", json_integer(1024));
    json_object_set_new(cfg, "clean_up_tokenization_spaces", json_true());
    return synth_json_write(dir, "tokenizer_config.json", cfg, true);
}

static glossa_status write_marian(const char *dir, const synth_config *c)
{
    GLOSSA_TRY(write_spm(dir, "source.spm", c->spm_pieces));
    GLOSSA_TRY(write_spm(dir, "target.spm", c->spm_pieces));
    static const char *const head[2] = {"</s>", "<unk>"};
    GLOSSA_TRY(write_vocab(dir, c, head, 2, true, "<pad>", c->vocab));
    json_t *cfg = json_object();
    if (!cfg) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "synth: tokenizer_config.json");
    common_tokens(cfg, false);
    set_str(cfg, "tokenizer_class", "MarianTokenizer");
    set_str(cfg, "source_lang", "en");
    set_str(cfg, "target_lang", "de");
    json_object_set_new(cfg, "separate_vocabs", json_false());
    json_object_set_new(cfg, "model_max_length", json_integer(512));
    json_object_set_new(cfg, "clean_up_tokenization_spaces", json_true());
    return synth_json_write(dir, "tokenizer_config.json", cfg, true);
}

glossa_status synth_write_tokenizer(const char *dir, const synth_config *c)
{
    switch (c->arch->tok) {
    case SYNTH_TOK_MBART50: return write_fairseq(dir, c, false);
    case SYNTH_TOK_NLLB: return write_fairseq(dir, c, true);
    case SYNTH_TOK_M2M100: return write_m2m100(dir, c);
    case SYNTH_TOK_MARIAN: return write_marian(dir, c);
    default: return GLOSSA_STATUS_OK;
    }
}
