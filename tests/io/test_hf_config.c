/* config.json / generation_config.json: the hub configs of the five reference models (4.x form),
 * a 5.x-style directory, transformers' defaults for absent keys, and bad inputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/hf_config.h"
#include "test.h"

#define DIR_OF(name) GLOSSA_FIXTURES "/configs/" name

static glossa_status parse(const char *json, model_config *c)
{
    return hf_config_parse(json, strlen(json), c);
}

static glossa_status parse_gen(const char *gen, const char *cfg, generation_config *g)
{
    return hf_generation_config_parse(gen, gen ? strlen(gen) : 0, cfg, cfg ? strlen(cfg) : 0, g);
}

static void test_mbart50(void)
{
    model_config c;
    generation_config g;
    CHECK_OK(hf_config_load_dir(DIR_OF("mbart-large-50-many-to-many-mmt"), &c, &g));
    CHECK(c.arch == MODEL_ARCH_MBART);
    CHECK_STREQ(c.model_type, "mbart");
    CHECK(c.d_model == 1024 && c.encoder_layers == 12 && c.decoder_layers == 12);
    CHECK(c.encoder_heads == 16 && c.decoder_heads == 16 && c.encoder_ffn == 4096 && c.decoder_ffn == 4096);
    CHECK(c.vocab_size == 250054 && c.decoder_vocab_size == 250054 && c.max_position_embeddings == 1024);
    CHECK(c.activation == GL_ACT_RELU);
    CHECK(c.scale_embedding && c.tie_word_embeddings);
    CHECK(c.pre_ln && c.layernorm_embedding && c.final_layer_norm);
    CHECK(c.pos_kind == MODEL_POS_LEARNED && c.pos_offset == 2);
    CHECK(c.pad_token_id == 1 && c.bos_token_id == 0 && c.eos_token_id == 2 && c.decoder_start_token_id == 2);
    CHECK(c.layer_norm_eps == 1e-5f);
    CHECK_STREQ(c.dtype, "");
    CHECK(g.max_length == 200 && g.num_beams == 5 && g.early_stopping == 1);
    CHECK(g.max_new_tokens == -1 && g.min_length == 0 && g.min_new_tokens == -1);
    CHECK(g.decoder_start_token_id == 2 && g.bos_token_id == 0 && g.pad_token_id == 1);
    CHECK(g.n_eos == 1 && g.eos_token_ids[0] == 2);
    CHECK(g.forced_eos_token_id == 2 && g.forced_bos_token_id == -1);
    CHECK(g.n_bad_words == 0 && !g.do_sample && g.top_k == 50 && g.top_p == 1.0f && g.temperature == 1.0f);
    CHECK(g.length_penalty == 1.0f && g.repetition_penalty == 1.0f && g.no_repeat_ngram_size == 0);
    CHECK(g.num_return_sequences == 1);
}

static void test_m2m100_nllb(void)
{
    model_config c;
    generation_config g;
    CHECK_OK(hf_config_load_dir(DIR_OF("m2m100_418M"), &c, &g));
    CHECK(c.arch == MODEL_ARCH_M2M100 && c.vocab_size == 128112 && c.activation == GL_ACT_RELU);
    CHECK(c.pre_ln && !c.layernorm_embedding && c.final_layer_norm);
    CHECK(c.pos_kind == MODEL_POS_SINUSOIDAL_FAIRSEQ && c.pos_offset == 2);
    CHECK(c.scale_embedding && c.decoder_start_token_id == 2);
    CHECK(g.max_length == 200 && g.num_beams == 5 && g.early_stopping == 1);
    CHECK(g.forced_eos_token_id == -1 && g.forced_bos_token_id == -1 && g.decoder_start_token_id == 2);

    CHECK_OK(hf_config_load_dir(DIR_OF("nllb-200-distilled-600M"), &c, &g));
    CHECK(c.arch == MODEL_ARCH_M2M100 && c.vocab_size == 256206 && c.d_model == 1024);
    CHECK(c.encoder_layers == 12 && c.decoder_layers == 12 && c.pos_offset == 2);
    CHECK_STREQ(c.dtype, "float32");
    CHECK(g.max_length == 200 && g.num_beams == 1 && g.early_stopping == 0);
    CHECK(g.n_eos == 1 && g.eos_token_ids[0] == 2 && g.forced_eos_token_id == -1);
}

static void test_marian(void)
{
    model_config c;
    generation_config g;
    CHECK_OK(hf_config_load_dir(DIR_OF("opus-mt-en-de"), &c, &g));
    CHECK(c.arch == MODEL_ARCH_MARIAN && c.d_model == 512 && c.encoder_layers == 6 && c.decoder_layers == 6);
    CHECK(c.encoder_heads == 8 && c.encoder_ffn == 2048 && c.max_position_embeddings == 512);
    CHECK(c.vocab_size == 58101 && c.decoder_vocab_size == 58101 && c.share_encoder_decoder_embeddings);
    CHECK(c.activation == GL_ACT_SILU && c.scale_embedding);
    CHECK(!c.pre_ln && !c.layernorm_embedding && !c.final_layer_norm);
    CHECK(c.pos_kind == MODEL_POS_SINUSOIDAL_MARIAN && c.pos_offset == 0);
    CHECK(c.pad_token_id == 58100 && c.eos_token_id == 0 && c.decoder_start_token_id == 58100);
    CHECK(g.max_length == 512 && g.num_beams == 4);
    CHECK(g.n_bad_words == 1 && g.bad_words_ids[0] == 58100);
    CHECK(g.forced_eos_token_id == 0 && g.decoder_start_token_id == 58100 && g.pad_token_id == 58100);

    /* MarianConfig defaults; decoder_vocab_size: `or vocab_size`, unused when sharing */
    CHECK_OK(parse("{\"model_type\":\"marian\"}", &c));
    CHECK(c.vocab_size == 58101 && c.decoder_vocab_size == 58101 && c.d_model == 1024 && c.encoder_layers == 12);
    CHECK(c.activation == GL_ACT_GELU && !c.scale_embedding && c.share_encoder_decoder_embeddings);
    CHECK(c.pad_token_id == 58100 && c.bos_token_id == -1 && c.eos_token_id == 0 && c.decoder_start_token_id == 58100);
    CHECK_OK(parse_gen(NULL, "{\"model_type\":\"marian\"}", &g));
    CHECK(g.forced_eos_token_id == 0 && g.n_eos == 1 && g.eos_token_ids[0] == 0 && g.bos_token_id == -1);
    CHECK_OK(parse("{\"model_type\":\"marian\",\"vocab_size\":1000,\"decoder_vocab_size\":null,"
                   "\"pad_token_id\":5,\"decoder_start_token_id\":5}", &c));
    CHECK(c.decoder_vocab_size == 1000);
    CHECK_OK(parse("{\"model_type\":\"marian\",\"vocab_size\":1000,\"decoder_vocab_size\":700,"
                   "\"pad_token_id\":5,\"decoder_start_token_id\":5}", &c));
    CHECK(c.decoder_vocab_size == 1000);
    CHECK_OK(parse("{\"model_type\":\"marian\",\"vocab_size\":1000,\"decoder_vocab_size\":700,"
                   "\"share_encoder_decoder_embeddings\":false,\"pad_token_id\":5,\"decoder_start_token_id\":5}", &c));
    CHECK(c.decoder_vocab_size == 700 && !c.share_encoder_decoder_embeddings);
    CHECK_STATUS(parse("{\"model_type\":\"marian\",\"vocab_size\":1000,\"decoder_vocab_size\":700,"
                       "\"share_encoder_decoder_embeddings\":false,\"pad_token_id\":5,\"decoder_start_token_id\":800}", &c),
                 GLOSSA_STATUS_BAD_MODEL);
}

static void test_bart(void)
{
    model_config c;
    generation_config g;
    CHECK_OK(hf_config_load_dir(DIR_OF("bart-base"), &c, &g));
    CHECK(c.arch == MODEL_ARCH_BART && c.d_model == 768 && c.encoder_heads == 12 && c.encoder_ffn == 3072);
    CHECK(c.encoder_layers == 6 && c.decoder_layers == 6 && c.vocab_size == 50265);
    CHECK(c.activation == GL_ACT_GELU && !c.scale_embedding);
    CHECK(!c.pre_ln && c.layernorm_embedding && !c.final_layer_norm);
    CHECK(c.pos_kind == MODEL_POS_LEARNED && c.pos_offset == 2);
    CHECK_STREQ(c.dtype, "float32");
    CHECK(g.max_length == 20 && g.num_beams == 4 && g.early_stopping == 1 && g.no_repeat_ngram_size == 3);
    CHECK(g.forced_bos_token_id == 0 && g.forced_eos_token_id == 2 && g.decoder_start_token_id == 2);

    /* BartConfig: force_bos_token_to_be_generated (old CNN checkpoints) means forced_bos = bos */
    CHECK_OK(parse_gen(NULL, "{\"model_type\":\"bart\",\"force_bos_token_to_be_generated\":true}", &g));
    CHECK(g.forced_bos_token_id == 0);
    CHECK_OK(parse_gen(NULL, "{\"model_type\":\"bart\"}", &g));
    CHECK(g.forced_bos_token_id == -1 && g.forced_eos_token_id == 2 && g.decoder_start_token_id == 2);
    /* mbart has no decoder_start default: generate() starts from bos */
    CHECK_OK(parse_gen(NULL, "{\"model_type\":\"mbart\"}", &g));
    CHECK(g.decoder_start_token_id == 0);
    CHECK_OK(parse("{\"model_type\":\"mbart\"}", &c));
    CHECK(c.decoder_start_token_id == -1 && c.activation == GL_ACT_GELU && !c.scale_embedding);
}

static void test_v5(void)
{
    model_config c;
    generation_config g;
    CHECK_OK(hf_config_load_dir(DIR_OF("v5-mbart50-tiny"), &c, &g));
    CHECK(c.arch == MODEL_ARCH_MBART && c.d_model == 64 && c.encoder_layers == 3 && c.decoder_layers == 2);
    CHECK(c.encoder_ffn == 256 && c.decoder_ffn == 128 && c.max_position_embeddings == 128);
    CHECK_STREQ(c.dtype, "bfloat16");
    CHECK(g.max_length == 200 && g.max_new_tokens == 64 && g.num_beams == 5 && g.early_stopping == 2);
    CHECK(g.n_eos == 2 && g.eos_token_ids[0] == 2 && g.eos_token_ids[1] == 3);
    CHECK(g.forced_bos_token_id == -1 && g.forced_eos_token_id == 2);
    CHECK(g.n_bad_words == 2 && g.bad_words_ids[0] == 5 && g.bad_words_ids[1] == 9);
    CHECK(g.length_penalty > 1.19f && g.length_penalty < 1.21f);

    /* generation_config.json, when present, is the whole generation config (over the defaults;
     * transformers' GenerationConfig.from_pretrained): config.json's keys do not count */
    CHECK_OK(parse_gen("{\"num_beams\":2,\"forced_bos_token_id\":null}",
                       "{\"model_type\":\"mbart\",\"num_beams\":5,\"max_length\":99,\"forced_bos_token_id\":7}", &g));
    CHECK(g.num_beams == 2 && g.max_length == 20 && g.forced_bos_token_id == -1);
    /* without it, config.json's keys over the model class's defaults (from_model_config) */
    CHECK_OK(parse_gen(NULL, "{\"model_type\":\"mbart\",\"num_beams\":5,\"max_length\":99}", &g));
    CHECK(g.num_beams == 5 && g.max_length == 99 && g.forced_eos_token_id == 2);
    CHECK_OK(parse_gen(NULL, NULL, &g));
    CHECK(g.max_length == 20 && g.num_beams == 1 && g.top_k == 50 && g.n_eos == 0 && g.decoder_start_token_id == -1);
    CHECK_OK(parse_gen("{\"max_length\":null,\"do_sample\":true,\"temperature\":0.7,\"top_p\":0.9,\"top_k\":0,"
                       "\"repetition_penalty\":1,\"eos_token_id\":null,\"bad_words_ids\":null}", NULL, &g));
    CHECK(g.max_length == 20 && g.do_sample && g.top_k == 0 && g.n_eos == 0 && g.repetition_penalty == 1.0f);
    CHECK(g.temperature > 0.69f && g.temperature < 0.71f);
    /* dtype (5.x) wins over torch_dtype (4.x) */
    CHECK_OK(parse("{\"model_type\":\"m2m_100\",\"dtype\":\"float16\",\"torch_dtype\":\"float32\"}", &c));
    CHECK_STREQ(c.dtype, "float16");
    CHECK_OK(parse("{\"model_type\":\"m2m_100\",\"dtype\":null,\"torch_dtype\":\"bfloat16\"}", &c));
    CHECK_STREQ(c.dtype, "bfloat16");
    /* eos list in config.json; aliases; activations */
    CHECK_OK(parse("{\"model_type\":\"m2m_100\",\"eos_token_id\":[2,5],\"hidden_size\":512,"
                   "\"num_attention_heads\":8,\"activation_function\":\"gelu_new\",\"pad_token_id\":3}", &c));
    CHECK(c.eos_token_id == 2 && c.d_model == 512 && c.encoder_heads == 8 && c.activation == GL_ACT_GELU_TANH);
    CHECK(c.pos_offset == 4);
    CHECK_OK(parse("{\"model_type\":\"bart\",\"activation_function\":\"gelu_pytorch_tanh\"}", &c));
    CHECK(c.activation == GL_ACT_GELU_TANH);
    CHECK_OK(parse("{\"model_type\":\"bart\",\"activation_function\":\"silu\",\"tie_word_embeddings\":false}", &c));
    CHECK(c.activation == GL_ACT_SILU && !c.tie_word_embeddings);
    /* Python's 0 / 1 for False / True */
    CHECK_OK(parse("{\"model_type\":\"bart\",\"scale_embedding\":1,\"tie_word_embeddings\":0}", &c));
    CHECK(c.scale_embedding && !c.tie_word_embeddings);
    CHECK_OK(parse_gen("{\"early_stopping\":1,\"do_sample\":0}", NULL, &g));
    CHECK(g.early_stopping == 1 && !g.do_sample);
}

static void test_bad(void)
{
    model_config c;
    generation_config g;
    const glossa_status BAD = GLOSSA_STATUS_BAD_MODEL;
    struct {
        const char *json;
        const char *key; /* the message must name it */
    } bad[] = {
        {"{\"model_type\":\"mbart\",\"d_model\":\"1024\"}", "d_model"},
        {"{\"model_type\":\"mbart\",\"d_model\":1024.0}", "d_model"},
        {"{\"model_type\":\"mbart\",\"d_model\":null}", "d_model"},
        {"{\"model_type\":\"mbart\",\"d_model\":true}", "d_model"},
        {"{\"model_type\":\"mbart\",\"encoder_layers\":0}", "encoder_layers"},
        {"{\"model_type\":\"mbart\",\"decoder_layers\":-3}", "decoder_layers"},
        {"{\"model_type\":\"mbart\",\"decoder_layers\":2000000}", "decoder_layers"},
        {"{\"model_type\":\"mbart\",\"vocab_size\":33554432}", "vocab_size"},
        {"{\"model_type\":\"mbart\",\"encoder_ffn_dim\":[4096]}", "encoder_ffn_dim"},
        {"{\"model_type\":\"mbart\",\"d_model\":1000}", "encoder_attention_heads"},
        {"{\"model_type\":\"mbart\",\"decoder_attention_heads\":24}", "decoder_attention_heads"},
        {"{\"model_type\":\"mbart\",\"scale_embedding\":\"yes\"}", "scale_embedding"},
        {"{\"model_type\":\"mbart\",\"tie_word_embeddings\":2}", "tie_word_embeddings"},
        {"{\"model_type\":\"mbart\",\"eos_token_id\":\"2\"}", "eos_token_id"},
        {"{\"model_type\":\"mbart\",\"eos_token_id\":[2,\"x\"]}", "eos_token_id"},
        {"{\"model_type\":\"mbart\",\"pad_token_id\":-1}", "pad_token_id"},
        {"{\"model_type\":\"mbart\",\"pad_token_id\":50265}", "pad_token_id"},
        {"{\"model_type\":\"mbart\",\"activation_function\":7}", "activation_function"},
        {"{\"model_type\":\"mbart\",\"torch_dtype\":5}", "torch_dtype"},
        {"{\"model_type\":\"m2m_100\",\"pad_token_id\":null}", "pad_token_id"},
        {"{\"model_type\":\"marian\",\"decoder_vocab_size\":\"x\"}", "decoder_vocab_size"},
        {"{\"model_type\":\"marian\",\"share_encoder_decoder_embeddings\":null}", "share_encoder_decoder_embeddings"},
        {"{\"model_type\":7}", "model_type"},
        {"{\"d_model\":16}", "model_type"},
        {"[]", "config.json"},
        {"{\"model_type\":\"mbart\"", "config.json"},
        {"", "config.json"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        glossa_status st = parse(bad[i].json, &c);
        CHECK_MSG(st == BAD && strstr(glossa_last_error(), bad[i].key), "%s -> %s (%s)", bad[i].json,
                  glossa_status_name(st), glossa_last_error());
    }
    CHECK_STATUS(parse("{\"model_type\":\"t5\"}", &c), GLOSSA_STATUS_UNSUPPORTED);
    CHECK(strstr(glossa_last_error(), "t5") != NULL);
    CHECK_STATUS(parse("{\"model_type\":\"mbart\",\"activation_function\":\"quick_gelu\"}", &c), GLOSSA_STATUS_UNSUPPORTED);
    CHECK(strstr(glossa_last_error(), "quick_gelu") != NULL);

    struct {
        const char *gen;
        const char *key;
    } bad_gen[] = {
        {"{\"num_beams\":\"5\"}", "num_beams"},
        {"{\"num_beams\":0}", "num_beams"},
        {"{\"num_beams\":2.5}", "num_beams"},
        {"{\"max_new_tokens\":0}", "max_new_tokens"},
        {"{\"max_length\":-1}", "max_length"},
        {"{\"early_stopping\":\"maybe\"}", "early_stopping"},
        {"{\"early_stopping\":3}", "early_stopping"},
        {"{\"do_sample\":\"true\"}", "do_sample"},
        {"{\"temperature\":\"hot\"}", "temperature"},
        {"{\"length_penalty\":[1]}", "length_penalty"},
        {"{\"eos_token_id\":{\"a\":1}}", "eos_token_id"},
        {"{\"eos_token_id\":[1,2,3,4,5,6,7,8,9]}", "eos_token_id"},
        {"{\"forced_bos_token_id\":\"en_XX\"}", "forced_bos_token_id"},
        {"{\"forced_eos_token_id\":-2}", "forced_eos_token_id"},
        {"{\"bad_words_ids\":[1,2]}", "bad_words_ids"},
        {"{\"bad_words_ids\":[[1],[\"x\"]]}", "bad_words_ids"},
        {"{\"bad_words_ids\":{}}", "bad_words_ids"},
        {"{\"repetition_penalty\":0}", "repetition_penalty"},
        {"{\"do_sample\":true,\"temperature\":0}", "temperature"},
        {"{\"do_sample\":true,\"top_p\":1.5}", "top_p"},
        {"not json", "generation_config.json"},
    };
    for (size_t i = 0; i < sizeof bad_gen / sizeof bad_gen[0]; i++) {
        glossa_status st = parse_gen(bad_gen[i].gen, NULL, &g);
        CHECK_MSG((st == BAD || st == GLOSSA_STATUS_UNSUPPORTED) && strstr(glossa_last_error(), bad_gen[i].key),
                  "%s -> %s (%s)", bad_gen[i].gen, glossa_status_name(st), glossa_last_error());
    }
    /* the same keys are checked in config.json */
    CHECK_STATUS(parse_gen(NULL, "{\"model_type\":\"mbart\",\"num_beams\":\"4\"}", &g), BAD);
    CHECK(strstr(glossa_last_error(), "config.json") && strstr(glossa_last_error(), "num_beams"));
    /* 17 single-token bad words: more than glossa keeps */
    CHECK_STATUS(parse_gen("{\"bad_words_ids\":[[1],[2],[3],[4],[5],[6],[7],[8],[9],[10],[11],[12],[13],[14],[15],"
                           "[16],[17]]}", NULL, &g), GLOSSA_STATUS_UNSUPPORTED);
    /* ids past the vocabulary, found when both files are known */
    model_config cfg;
    char dir[] = "/tmp/glossa_cfg_XXXXXX", path[128];
    if (mkdtemp(dir)) {
        snprintf(path, sizeof path, "%s/config.json", dir);
        FILE *f = fopen(path, "w");
        if (f) {
            fputs("{\"model_type\":\"mbart\",\"vocab_size\":300,\"d_model\":32,\"encoder_attention_heads\":4,"
                  "\"decoder_attention_heads\":4}", f);
            fclose(f);
        }
        CHECK_OK(hf_config_load_dir(dir, &cfg, &g));
        CHECK(cfg.vocab_size == 300 && g.forced_eos_token_id == 2);
        snprintf(path, sizeof path, "%s/generation_config.json", dir);
        f = fopen(path, "w");
        if (f) {
            fputs("{\"forced_bos_token_id\":300}", f);
            fclose(f);
        }
        CHECK_STATUS(hf_config_load_dir(dir, &cfg, &g), BAD);
        CHECK(strstr(glossa_last_error(), "forced_bos_token_id") && strstr(glossa_last_error(), dir));
        remove(path);
        snprintf(path, sizeof path, "%s/config.json", dir);
        remove(path);
        rmdir(dir);
    }
    CHECK_STATUS(hf_config_load_dir(GLOSSA_FIXTURES "/configs/does-not-exist", &cfg, &g), GLOSSA_STATUS_NOT_FOUND);
    CHECK_STATUS(hf_config_parse(NULL, 0, &c), BAD);
}

int main(void)
{
    test_mbart50();
    test_m2m100_nllb();
    test_marian();
    test_bart();
    test_v5();
    test_bad();
    TEST_MAIN_END();
}
