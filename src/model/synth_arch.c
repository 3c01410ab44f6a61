/* The architectures `glossa synth` writes (hyper-parameters of their hub checkpoints), their
 * resolution against the user's overrides, and config.json / generation_config.json / README.txt
 * as transformers 5 writes them (sorted keys, indent 2, generation settings in
 * generation_config.json, "dtype"). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/file.h"
#include "model/synth.h"

#define JSON_FLAGS (JSON_INDENT(2) | JSON_REAL_PRECISION(7))

/* Special tokens the tokenizer families add beside the sentencepiece pieces. */
#define MBART50_CODES 52
#define NLLB_CODES 202
#define NLLB_UNUSED_ROWS 2   /* facebook/nllb-200-*: vocab_size 256206, tokenizer 256204 */
#define M2M100_CODES 100
#define M2M100_MADEUP 8
#define MIN_SPM_PIECES 16

static const synth_arch k_archs[] = {
    {"mbart-large-50", "facebook/mbart-large-50-many-to-many-mmt", SYNTH_MODEL_MBART, SYNTH_TOK_MBART50,
     1024, 12, 16, 4096, 250054, 1024, -1, "gelu", true, 0.1f, 0.0f, 0.0f, 5, 200, true},
    {"m2m100-418m", "facebook/m2m100_418M", SYNTH_MODEL_M2M100, SYNTH_TOK_M2M100,
     1024, 12, 16, 4096, 128112, 1024, -1, "relu", true, 0.1f, 0.1f, 0.0f, 5, 200, true},
    {"nllb-200-distilled-600m", "facebook/nllb-200-distilled-600M", SYNTH_MODEL_M2M100, SYNTH_TOK_NLLB,
     1024, 12, 16, 4096, 256206, 1024, -1, "relu", true, 0.1f, 0.1f, 0.0f, 0, 200, false},
    {"opus-mt-en-de", "Helsinki-NLP/opus-mt-en-de", SYNTH_MODEL_MARIAN, SYNTH_TOK_MARIAN,
     512, 6, 8, 2048, 58101, 512, -1, "swish", true, 0.1f, 0.0f, 0.0f, 4, 512, false},
    {"bart-base", "facebook/bart-base", SYNTH_MODEL_BART, SYNTH_TOK_NONE,
     768, 6, 12, 3072, 50265, 1024, 0, "gelu", false, 0.1f, 0.1f, 0.1f, 4, 0, true},
    {"tiny", "(none: an mBART-50-style model of a few hundred KB)", SYNTH_MODEL_MBART, SYNTH_TOK_MBART50,
     32, 2, 4, 64, 1054, 256, -1, "gelu", true, 0.1f, 0.0f, 0.0f, 5, 200, true},
};

#define N_ARCHS (sizeof k_archs / sizeof k_archs[0])

const synth_arch *synth_arch_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < N_ARCHS; i++)
        if (!strcmp(k_archs[i].name, name)) return &k_archs[i];
    return NULL;
}

const char *synth_arch_names(void)
{
    return "mbart-large-50, m2m100-418m, nllb-200-distilled-600m, opus-mt-en-de, bart-base, tiny";
}

/* Tokens of the family beside the sentencepiece pieces: vocab = spm_pieces + extra. */
static int32_t tok_extra(synth_tok t)
{
    switch (t) {
    case SYNTH_TOK_MBART50: return 1 + MBART50_CODES + 1;            /* offset, codes, <mask> */
    case SYNTH_TOK_NLLB: return 1 + NLLB_CODES + 1 + NLLB_UNUSED_ROWS;
    case SYNTH_TOK_M2M100: return 1 + M2M100_CODES + M2M100_MADEUP; /* vocab.json = pieces + 1 */
    case SYNTH_TOK_MARIAN: return 0; /* vocab.json: </s> <unk> normal pieces <pad> */
    default: return 0;
    }
}

/* d_model / 64 rounded to a divisor of d_model, at least 1. */
static int32_t heads_for(int32_t d)
{
    int32_t h = (d + 32) / 64;
    if (h < 1) h = 1;
    for (int32_t k = 0; k < h; k++) {
        if (h - k >= 1 && d % (h - k) == 0) return h - k;
        if (d % (h + k) == 0) return h + k;
    }
    return 1;
}

glossa_status synth_config_resolve(const glossa_synth_params *p, synth_config *c)
{
    memset(c, 0, sizeof *c);
    const synth_arch *a = synth_arch_find(p->arch);
    if (!a)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "synth: unknown architecture '%s' (known: %s)",
                            p->arch ? p->arch : "(null)", synth_arch_names());
    c->arch = a;
    c->d_model = a->d_model;
    c->heads = a->heads;
    c->ffn = a->ffn;
    if (p->d_model > 0) {
        if (p->d_model > 16384) return glossa_error(GLOSSA_STATUS_BAD_INPUT, "synth: --d-model %d too large", (int)p->d_model);
        c->d_model = p->d_model;
        c->heads = heads_for(p->d_model);
        c->ffn = 4 * p->d_model;
    }
    c->layers = p->layers > 0 ? p->layers : a->layers;
    if (c->layers > 256) return glossa_error(GLOSSA_STATUS_BAD_INPUT, "synth: --layers %d too many", (int)c->layers);
    c->vocab = p->vocab > 0 ? p->vocab : a->vocab;
    c->max_positions = a->max_positions;
    int32_t extra = tok_extra(a->tok);
    if (a->tok != SYNTH_TOK_NONE) {
        c->spm_pieces = c->vocab - extra;
        if (c->spm_pieces < MIN_SPM_PIECES || c->vocab > (1 << 22))
            return glossa_error(GLOSSA_STATUS_BAD_INPUT, "synth: %s: --vocab takes %d..%d (%d sentencepiece pieces + %d)",
                                a->name, MIN_SPM_PIECES + extra, 1 << 22, MIN_SPM_PIECES, (int)extra);
    } else if (c->vocab < MIN_SPM_PIECES || c->vocab > (1 << 22)) {
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "synth: %s: --vocab takes %d..%d", a->name, MIN_SPM_PIECES, 1 << 22);
    }
    if (a->model == SYNTH_MODEL_MARIAN) { /* </s> 0, <unk> 1, <pad> last (the decoder start) */
        c->bos = 0; /* as the hub config has it (Marian has no <s>) */
        c->eos = 0;
        c->unk = 1;
        c->pad = c->vocab - 1;
        c->decoder_start = c->pad;
    } else { /* fairseq: <s> 0, <pad> 1, </s> 2, <unk> 3 */
        c->bos = 0;
        c->pad = 1;
        c->eos = 2;
        c->unk = 3;
        c->decoder_start = 2;
    }
    /* transformers' 0.02 by default; tiny (a demo and test model) 0.2, so that its greedy output
     * is not one repeated token */
    c->init_std = p->init_std > 0.0f ? p->init_std : strcmp(a->name, "tiny") == 0 ? 0.2f : 0.02f;
    if (!isfinite(p->eos_bias) || fabsf(p->eos_bias) > 1000.0f)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "synth: --eos-bias must be a number within -1000..1000");
    if (p->eos_bias != 0.0f && a->model == SYNTH_MODEL_M2M100)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT,
                            "synth: %s: --eos-bias needs a final_logits_bias, which m2m_100 models do not have "
                            "(mbart, bart and marian do)", a->name);
    if (!isfinite(p->eos_ramp) || fabsf(p->eos_ramp) > 100.0f)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "synth: --eos-ramp must be a number within -100..100");
    if (p->eos_ramp != 0.0f && a->model != SYNTH_MODEL_MBART && a->model != SYNTH_MODEL_BART)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT,
                            "synth: %s: --eos-ramp needs learned decoder positions (mbart, bart); its "
                            "positions are sinusoidal", a->name);
    c->eos_bias = p->eos_bias;
    c->eos_ramp = p->eos_ramp;
    c->fp16 = p->fp16;
    c->seed = p->seed;
    return GLOSSA_STATUS_OK;
}

glossa_status synth_text_write(const char *dir, const char *name, const char *text, size_t len)
{
    char path[4096];
    GLOSSA_TRY(path_join(path, sizeof path, dir, name));
    FILE *f = fopen(path, "wb");
    if (!f) return glossa_error(GLOSSA_STATUS_IO_ERROR, "synth: cannot create %s", path);
    size_t w = fwrite(text, 1, len, f);
    if (fclose(f) != 0 || w != len) return glossa_error(GLOSSA_STATUS_IO_ERROR, "synth: write failed: %s", path);
    return GLOSSA_STATUS_OK;
}

glossa_status synth_json_write(const char *dir, const char *name, void *json, bool sort_keys)
{
    json_t *j = json;
    if (!j) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "synth: %s", name);
    size_t flags = JSON_FLAGS | (sort_keys ? JSON_SORT_KEYS : JSON_PRESERVE_ORDER);
    char *text = json_dumps(j, flags);
    json_decref(j);
    if (!text) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "synth: %s", name);
    size_t len = strlen(text);
    char *t2 = realloc(text, len + 2);
    if (!t2) {
        free(text);
        return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "synth: %s", name);
    }
    t2[len] = '\n'; /* as transformers writes it */
    t2[len + 1] = '\0';
    glossa_status st = synth_text_write(dir, name, t2, len + 1);
    free(t2);
    return st;
}

static void set_int(json_t *o, const char *k, int64_t v)
{
    json_object_set_new(o, k, json_integer(v));
}

static void set_real(json_t *o, const char *k, double v)
{
    json_object_set_new(o, k, json_real(v));
}

static void set_bool(json_t *o, const char *k, bool v)
{
    json_object_set_new(o, k, json_boolean(v));
}

static void set_str(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, json_string(v));
}

static const char *model_class(synth_model m)
{
    switch (m) {
    case SYNTH_MODEL_MBART: return "MBartForConditionalGeneration";
    case SYNTH_MODEL_M2M100: return "M2M100ForConditionalGeneration";
    case SYNTH_MODEL_MARIAN: return "MarianMTModel";
    default: return "BartForConditionalGeneration";
    }
}

static const char *model_type(synth_model m)
{
    switch (m) {
    case SYNTH_MODEL_MBART: return "mbart";
    case SYNTH_MODEL_M2M100: return "m2m_100";
    case SYNTH_MODEL_MARIAN: return "marian";
    default: return "bart";
    }
}

/* forced_eos_token_id: the hub configs of BART, mBART-50 and Marian set it; M2M100 and NLLB not. */
static bool has_forced_eos(const synth_config *c)
{
    return c->arch->model != SYNTH_MODEL_M2M100;
}

static void special_ids(json_t *o, const synth_config *c)
{
    set_int(o, "bos_token_id", c->bos);
    set_int(o, "pad_token_id", c->pad);
    set_int(o, "eos_token_id", c->eos);
    set_int(o, "decoder_start_token_id", c->decoder_start);
    if (has_forced_eos(c)) set_int(o, "forced_eos_token_id", c->eos);
}

static json_t *config_json(const synth_config *c)
{
    const synth_arch *a = c->arch;
    json_t *o = json_object();
    if (!o) return NULL;
    json_t *archs = json_array();
    json_array_append_new(archs, json_string(model_class(a->model)));
    json_object_set_new(o, "architectures", archs);
    set_str(o, "model_type", model_type(a->model));
    set_real(o, "activation_dropout", a->activation_dropout);
    set_str(o, "activation_function", a->activation);
    set_real(o, "attention_dropout", a->attention_dropout);
    set_real(o, "dropout", a->dropout);
    set_int(o, "d_model", c->d_model);
    set_int(o, "encoder_layers", c->layers);
    set_int(o, "decoder_layers", c->layers);
    set_int(o, "encoder_attention_heads", c->heads);
    set_int(o, "decoder_attention_heads", c->heads);
    set_int(o, "encoder_ffn_dim", c->ffn);
    set_int(o, "decoder_ffn_dim", c->ffn);
    set_real(o, "encoder_layerdrop", 0.0);
    set_real(o, "decoder_layerdrop", 0.0);
    set_real(o, "init_std", c->init_std);
    set_bool(o, "is_encoder_decoder", true);
    set_int(o, "max_position_embeddings", c->max_positions);
    set_bool(o, "scale_embedding", a->scale_embedding);
    set_bool(o, "tie_word_embeddings", true);
    set_bool(o, "use_cache", true);
    set_int(o, "vocab_size", c->vocab);
    special_ids(o, c);
    if (a->model != SYNTH_MODEL_M2M100) set_bool(o, "is_decoder", false); /* as transformers 5 saves them */
    if (a->model == SYNTH_MODEL_BART || a->model == SYNTH_MODEL_MBART) set_real(o, "classifier_dropout", 0.0);
    if (a->model == SYNTH_MODEL_BART) { /* BartConfig's num_labels 3 */
        json_t *id2label = json_object(), *label2id = json_object();
        for (int i = 0; i < 3; i++) {
            char k[8], v[16];
            snprintf(k, sizeof k, "%d", i);
            snprintf(v, sizeof v, "LABEL_%d", i);
            json_object_set_new(id2label, k, json_string(v));
            json_object_set_new(label2id, v, json_integer(i));
        }
        json_object_set_new(o, "id2label", id2label);
        json_object_set_new(o, "label2id", label2id);
    }
    if (a->model == SYNTH_MODEL_MARIAN) {
        set_int(o, "decoder_vocab_size", c->vocab);
        set_bool(o, "share_encoder_decoder_embeddings", true);
    }
    if (a->tok == SYNTH_TOK_MBART50) set_str(o, "tokenizer_class", "MBart50Tokenizer");
    if (a->tok == SYNTH_TOK_NLLB) set_str(o, "tokenizer_class", "NllbTokenizer");
    set_str(o, "dtype", c->fp16 ? "float16" : "float32");
    set_str(o, "transformers_version", "5.17.0");
    return o;
}

static json_t *generation_json(const synth_config *c)
{
    const synth_arch *a = c->arch;
    json_t *o = json_object();
    if (!o) return NULL;
    special_ids(o, c);
    if (a->num_beams > 1) set_int(o, "num_beams", a->num_beams);
    if (a->max_length > 0) set_int(o, "max_length", a->max_length);
    if (a->early_stopping) set_bool(o, "early_stopping", true);
    if (a->model == SYNTH_MODEL_MARIAN) {
        json_t *bad = json_array(), *one = json_array();
        json_array_append_new(one, json_integer(c->pad));
        json_array_append_new(bad, one);
        json_object_set_new(o, "bad_words_ids", bad);
        set_bool(o, "renormalize_logits", true);
    }
    if (a->model == SYNTH_MODEL_BART) {
        set_int(o, "forced_bos_token_id", c->bos);
        set_int(o, "no_repeat_ngram_size", 3);
    }
    set_str(o, "transformers_version", "5.17.0");
    return o;
}

static const char *positions_note(synth_model m)
{
    switch (m) {
    case SYNTH_MODEL_M2M100:
        return "sinusoidal (a non-persistent buffer in transformers): not saved";
    case SYNTH_MODEL_MARIAN:
        return "sinusoidal (transformers' _keys_to_ignore_on_save): not saved";
    default:
        return "learned, (max_position_embeddings + 2, d_model) with the offset 2";
    }
}

static glossa_status write_readme(const char *dir, const synth_config *c)
{
    const synth_arch *a = c->arch;
    char text[4096];
    int n = snprintf(text, sizeof text,
        "Random-weight model written by `glossa synth` (not a trained model: its output is noise).\n"
        "\n"
        "architecture   %s, the shape of %s\n"
        "model_type     %s (%s)\n"
        "sizes          d_model %d, %d encoder + %d decoder layers, %d heads, ffn %d, vocab %d,\n"
        "               max_position_embeddings %d\n"
        "weights        %s, seed %llu, init_std %g\n"
        "\n"
        "Weights: drawn from a seeded generator (the same seed gives byte-identical files), each\n"
        "tensor from its own stream. Linear and embedding weights ~ normal(0, init_std) as\n"
        "transformers' _init_weights, the padding row of the embedding zero. Unlike _init_weights,\n"
        "which sets biases to 0 and layer norms to 1/0, linear biases, final_logits_bias and layer\n"
        "norm biases are normal(0, init_std) and layer norm weights 1 + normal(0, init_std), so that\n"
        "tests exercise them.\n"
        "\n"
        "Tensors as transformers 5's save_pretrained writes them: the word embeddings once, as\n"
        "model.shared.weight (tied: model.encoder/decoder.embed_tokens.weight and lm_head.weight are\n"
        "not saved); positions %s.\n",
        a->name, a->hub_id, model_type(a->model), model_class(a->model), (int)c->d_model, (int)c->layers,
        (int)c->layers, (int)c->heads, (int)c->ffn, (int)c->vocab, (int)c->max_positions,
        c->fp16 ? "float16" : "float32", (unsigned long long)c->seed, (double)c->init_std,
        positions_note(a->model));
    if (n < 0 || (size_t)n >= sizeof text) return glossa_error(GLOSSA_STATUS_INTERNAL, "synth: README too long");
    const char *tok;
    switch (a->tok) {
    case SYNTH_TOK_MBART50:
        tok = "\nTokenizer: mBART-50 (sentencepiece.bpe.model + tokenizer_config.json): a unigram model cut\n"
              "from or padded (\xe2\x96\x81xq<n> fillers) from glossa's 8k fixture model; ids: <s> <pad> </s> <unk>,\n"
              "piece i >= 3 at i + 1, the 52 language codes, <mask>.\n";
        break;
    case SYNTH_TOK_NLLB:
        tok = "\nTokenizer: NLLB-200 (sentencepiece.bpe.model + tokenizer_config.json): pieces as mBART-50's,\n"
              "then the 202 language codes and <mask>; vocab_size has 2 unused rows past the tokenizer\n"
              "as facebook/nllb-200-* do.\n";
        break;
    case SYNTH_TOK_M2M100:
        tok = "\nTokenizer: M2M100 (sentencepiece.bpe.model + vocab.json + tokenizer_config.json): vocab.json\n"
              "<s> <pad> </s> <unk> then the pieces; the 100 __xx__ language tokens and 8 madeup words\n"
              "follow in the model's vocabulary.\n";
        break;
    case SYNTH_TOK_MARIAN:
        tok = "\nTokenizer: Marian (source.spm = target.spm + vocab.json + tokenizer_config.json): vocab.json\n"
              "</s> 0, <unk> 1, the pieces, <pad> last (the decoder start token).\n";
        break;
    default:
        tok = "\nTokenizer: NOT WRITTEN. BART uses a byte-level BPE tokenizer (vocab.json + merges.txt),\n"
              "which glossa does not read yet; only the model files are here (ids: <s> 0, <pad> 1,\n"
              "</s> 2, <unk> 3).\n";
        break;
    }
    if (c->eos_bias != 0.0f || c->eos_ramp != 0.0f) { /* only then: files without stay as they were */
        int m = snprintf(text + n, sizeof text - (size_t)n,
                         "\nOutput lengths: final_logits_bias[%d] (</s>) has %g added (--eos-bias) and decoder\n"
                         "position p's embedding %g * p along the </s> embedding (--eos-ramp), so that greedy\n"
                         "outputs end at varied, input-dependent lengths instead of running to max_new_tokens.\n",
                         (int)c->eos, (double)c->eos_bias, (double)c->eos_ramp);
        if (m < 0 || (size_t)m >= sizeof text - (size_t)n) return glossa_error(GLOSSA_STATUS_INTERNAL, "synth: README too long");
        n += m;
    }
    size_t len = (size_t)n, tl = strlen(tok);
    if (len + tl >= sizeof text) return glossa_error(GLOSSA_STATUS_INTERNAL, "synth: README too long");
    memcpy(text + len, tok, tl + 1);
    return synth_text_write(dir, "README.txt", text, len + tl);
}

glossa_status synth_write_configs(const char *dir, const synth_config *c)
{
    GLOSSA_TRY(synth_json_write(dir, "config.json", config_json(c), true));
    GLOSSA_TRY(synth_json_write(dir, "generation_config.json", generation_json(c), true));
    return write_readme(dir, c);
}
