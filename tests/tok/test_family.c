/* Vocabulary families: the pipeline built from sentencepiece.bpe.model equals the tokenizer.json
 * transformers saved; templates, special ids, decoder start / forced BOS, default languages,
 * bad languages, directory detection and errors. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "glossa.h"
#include "test.h"
#include "tok/spm_convert.h"

#define FIX GLOSSA_FIXTURES "/hf/"

static void same_json(json_t *a, json_t *b, const char *what)
{
    int eq = json_equal(a, b);
    if (!eq) {
        char *sa = json_dumps(a, JSON_COMPACT), *sb = json_dumps(b, JSON_COMPACT);
        fprintf(stderr, "%s:\n  ours %.300s\n  hf   %.300s\n", what, sa ? sa : "null", sb ? sb : "null");
        free(sa);
        free(sb);
    }
    CHECK_MSG(eq, "%s differs", what);
}

/* The converted pipeline against the tokenizer.json transformers 5.17 saved from the same file. */
static void conversion(glossa_tokenizer_family fam, const char *name)
{
    char spm[256], saved[256];
    snprintf(spm, sizeof spm, FIX "%s/spm/sentencepiece.bpe.model", name);
    snprintf(saved, sizeof saved, FIX "%s/hf/tokenizer.json", name);
    char *json = NULL;
    size_t len = 0;
    bool is_bpe = false;
    CHECK_OK(spm_convert_family(fam, spm, &json, &len, &is_bpe));
    CHECK(is_bpe == (fam == GLOSSA_FAMILY_NLLB));
    json_error_t err;
    json_t *ours = json ? json_loadb(json, len, 0, &err) : NULL, *hf = json_load_file(saved, 0, &err);
    free(json);
    CHECK(ours && hf);
    if (ours && hf) {
        same_json(json_object_get(ours, "added_tokens"), json_object_get(hf, "added_tokens"), "added_tokens");
        same_json(json_object_get(ours, "normalizer"), json_object_get(hf, "normalizer"), "normalizer");
        same_json(json_object_get(ours, "pre_tokenizer"), json_object_get(hf, "pre_tokenizer"), "pre_tokenizer");
        same_json(json_object_get(ours, "decoder"), json_object_get(hf, "decoder"), "decoder");
        json_t *mo = json_object_get(ours, "model"), *mh = json_object_get(hf, "model");
        same_json(json_object_get(mo, "type"), json_object_get(mh, "type"), "model.type");
        if (is_bpe) {
            same_json(json_object_get(mo, "vocab"), json_object_get(mh, "vocab"), "model.vocab");
            same_json(json_object_get(mo, "merges"), json_object_get(mh, "merges"), "model.merges");
            same_json(json_object_get(mo, "fuse_unk"), json_object_get(mh, "fuse_unk"), "model.fuse_unk");
        } else {
            same_json(json_object_get(mo, "unk_id"), json_object_get(mh, "unk_id"), "model.unk_id");
            json_t *vo = json_object_get(mo, "vocab"), *vh = json_object_get(mh, "vocab");
            CHECK(json_array_size(vo) == json_array_size(vh) && json_array_size(vo) > 8000);
            int bad = 0;
            for (size_t i = 0; i < json_array_size(vo) && i < json_array_size(vh); i++) {
                json_t *a = json_array_get(vo, i), *b = json_array_get(vh, i);
                double sa = json_number_value(json_array_get(a, 1)), sb = json_number_value(json_array_get(b, 1));
                if (!json_equal(json_array_get(a, 0), json_array_get(b, 0)) || fabs(sa - sb) > 1e-6 * (1 + fabs(sb)))
                    bad++;
            }
            CHECK_MSG(bad == 0, "%d unigram vocabulary entries differ", bad);
        }
    }
    json_decref(ours);
    json_decref(hf);
}

static void encode_ids(glossa_tokenizer *tok, const char *text, const char *src, const char *tgt, bool target,
                       glossa_tokens *out)
{
    glossa_encode_params p = glossa_encode_default_params();
    p.src_lang = src;
    p.tgt_lang = tgt;
    if (target) CHECK_OK(glossa_tokenizer_encode_target(tok, text, strlen(text), &p, out));
    else CHECK_OK(glossa_tokenizer_encode(tok, text, strlen(text), &p, out));
}

static void templates(void)
{
    glossa_tokenizer *tok = NULL;
    glossa_tokens t = {0};
    int32_t id;
    /* NLLB: [lang] X </s>; defaults from tokenizer_config (eng_Latn / fra_Latn) */
    CHECK_OK(glossa_tokenizer_load_dir(FIX "nllb/hf", &tok));
    if (tok) {
        glossa_special_ids s = glossa_tokenizer_special_ids(tok);
        CHECK(s.bos == 0 && s.pad == 1 && s.eos == 2 && s.unk == 3 && s.decoder_start == 2);
        CHECK(glossa_tokenizer_vocab_size(tok) == 8204);
        encode_ids(tok, "Hello", NULL, NULL, false, &t);
        CHECK(t.n >= 3 && t.ids[0] == 8047 && t.ids[t.n - 1] == 2);
        encode_ids(tok, "Hello", NULL, NULL, true, &t);
        CHECK(t.n >= 3 && t.ids[0] == 8001 + 56 && t.ids[t.n - 1] == 2); /* fra_Latn */
        encode_ids(tok, "Hello", "de", "zh-TW", true, &t);
        CHECK(t.n >= 3 && t.ids[0] == 8001 + 200);
        CHECK_OK(glossa_tokenizer_forced_bos_id(tok, "fra_Latn", &id));
        CHECK(id == 8057);
        CHECK_OK(glossa_tokenizer_forced_bos_id(tok, NULL, &id));
        CHECK(id == 8057);
        glossa_encode_params p = glossa_encode_default_params();
        p.src_lang = "xx_Fake";
        CHECK_STATUS(glossa_tokenizer_encode(tok, "Hello", 5, &p, &t), GLOSSA_STATUS_BAD_INPUT);
        CHECK(strstr(glossa_last_error(), "xx_Fake") != NULL && t.n == 0);
        p.src_lang = NULL;
        p.tgt_lang = "qq";
        CHECK_STATUS(glossa_tokenizer_encode_target(tok, "Hello", 5, &p, &t), GLOSSA_STATUS_BAD_INPUT);
        CHECK(strstr(glossa_last_error(), "qq") != NULL);
        CHECK_STATUS(glossa_tokenizer_forced_bos_id(tok, "qq", &id), GLOSSA_STATUS_BAD_INPUT);
        p.add_special_tokens = false; /* no template: the language is not looked at */
        CHECK_OK(glossa_tokenizer_encode_target(tok, "Hello", 5, &p, &t));
        glossa_tokenizer_free(tok);
    }
    /* NLLB legacy: X </s> [lang] */
    CHECK_OK(glossa_tokenizer_load_dir(FIX "nllb_legacy/spm", &tok));
    if (tok) {
        encode_ids(tok, "Hello", "deu_Latn", NULL, false, &t);
        CHECK(t.n >= 3 && t.ids[t.n - 2] == 2 && t.ids[t.n - 1] == 8001 + 41);
        glossa_tokenizer_free(tok);
    }
    /* mBART-50 */
    CHECK_OK(glossa_tokenizer_load_dir(FIX "mbart50/spm", &tok));
    if (tok) {
        glossa_special_ids s = glossa_tokenizer_special_ids(tok);
        CHECK(s.eos == 2 && s.decoder_start == 2);
        CHECK(glossa_tokenizer_vocab_size(tok) == 8054);
        encode_ids(tok, "Hello", "ro", NULL, false, &t);
        CHECK(t.n >= 3 && t.ids[0] == 8001 + 19 && t.ids[t.n - 1] == 2);
        CHECK_OK(glossa_tokenizer_forced_bos_id(tok, NULL, &id)); /* tgt_lang ro_RO */
        CHECK(id == 8020);
        CHECK(glossa_tokenizer_piece_to_id(tok, "<mask>") == 8053);
        CHECK_STREQ(glossa_tokenizer_id_to_piece(tok, 8004), "en_XX");
        glossa_tokenizer_free(tok);
    }
    /* M2M100: __src__ X </s> */
    CHECK_OK(glossa_tokenizer_load_dir(FIX "m2m100/spm", &tok));
    if (tok) {
        glossa_special_ids s = glossa_tokenizer_special_ids(tok);
        CHECK(s.bos == 0 && s.pad == 1 && s.eos == 2 && s.unk == 3 && s.decoder_start == 2);
        CHECK(glossa_tokenizer_vocab_size(tok) == 7986 + 100);
        encode_ids(tok, "Hello", "ja", NULL, false, &t);
        CHECK(t.n >= 3 && t.ids[0] == 7986 + 42 && t.ids[t.n - 1] == 2);
        CHECK_OK(glossa_tokenizer_forced_bos_id(tok, "de", &id));
        CHECK(id == 7986 + 16);
        CHECK_STREQ(glossa_tokenizer_id_to_piece(tok, 7986 + 16), "__de__");
        glossa_tokenizer_free(tok);
    }
    /* Marian: X </s>; decoder starts from <pad>; a multi-target >>xx<< token from tgt_lang */
    CHECK_OK(glossa_tokenizer_load_dir(FIX "marian/spm", &tok));
    if (tok) {
        glossa_special_ids s = glossa_tokenizer_special_ids(tok);
        CHECK(s.eos == 0 && s.unk == 1 && s.pad == 8659 && s.decoder_start == 8659 && s.bos == -1);
        CHECK_OK(glossa_tokenizer_forced_bos_id(tok, "de", &id));
        CHECK(id == -1);
        glossa_tokens u = {0};
        encode_ids(tok, "Bonjour le monde.", NULL, "fr", false, &t);
        encode_ids(tok, ">>fra<< Bonjour le monde.", NULL, NULL, false, &u);
        CHECK(t.n == u.n && t.n > 2 && t.ids[0] == 2 && !memcmp(t.ids, u.ids, t.n * sizeof *t.ids));
        glossa_tokens_free(&u);
        glossa_tokenizer_free(tok);
    }
    glossa_tokens_free(&t);
}

/* Family detection without tokenizer_config.json, and missing files. */
static void detection(void)
{
    char dir[] = "/tmp/glossa_family_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[512];
    glossa_tokenizer *tok = NULL;
    CHECK_STATUS(glossa_tokenizer_load_dir(dir, &tok), GLOSSA_STATUS_NOT_FOUND);
    CHECK(tok == NULL);
    /* tokenizer.json alone: NLLB known by its language tokens */
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    CHECK(symlink(FIX "nllb/hf/tokenizer.json", path) == 0);
    CHECK_OK(glossa_tokenizer_load_dir(dir, &tok));
    CHECK(tok && glossa_tokenizer_get_family(tok) == GLOSSA_FAMILY_NLLB);
    glossa_tokenizer_free(tok);
    unlink(path);
    /* a tokenizer_config naming a family whose files are missing */
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("{\"tokenizer_class\": \"MarianTokenizer\"}", f);
        fclose(f);
    }
    CHECK_STATUS(glossa_tokenizer_load_dir(dir, &tok), GLOSSA_STATUS_NOT_FOUND);
    CHECK(strstr(glossa_last_error(), "source.spm") != NULL);
    f = fopen(path, "w");
    if (f) {
        fputs("{\"tokenizer_class\": ", f); /* truncated */
        fclose(f);
    }
    CHECK_STATUS(glossa_tokenizer_load_dir(dir, &tok), GLOSSA_STATUS_BAD_MODEL);
    unlink(path);
    rmdir(dir);
    /* the plain json loader keeps the file's own template */
    CHECK_OK(glossa_tokenizer_load_json(FIX "mbart50/hf/tokenizer.json", &tok));
    if (tok) {
        CHECK(glossa_tokenizer_get_family(tok) == GLOSSA_FAMILY_PLAIN);
        glossa_tokens t = {0};
        CHECK_OK(glossa_tokenizer_encode(tok, "Hello", 5, NULL, &t));
        CHECK(t.n >= 3 && t.ids[0] == 8004 && t.ids[t.n - 1] == 2); /* saved post_processor: en_XX X </s> */
        glossa_tokens_free(&t);
        glossa_tokenizer_free(tok);
    }
}

static void pieces(void)
{
    glossa_tokenizer *tok = NULL;
    glossa_text txt = {0};
    CHECK_OK(glossa_tokenizer_load_dir(FIX "nllb/spm", &tok));
    if (tok) {
        CHECK_OK(glossa_tokenizer_encode_pieces(tok, "Hello world", 11, &txt));
        CHECK(txt.len > 0 && strstr(txt.data, "\xE2\x96\x81") != NULL);
        int32_t bad = 9999999;
        CHECK_STATUS(glossa_tokenizer_decode(tok, &bad, 1, true, &txt), GLOSSA_STATUS_BAD_INPUT);
        glossa_tokenizer_free(tok);
    }
    CHECK_OK(glossa_tokenizer_load_dir(FIX "marian/spm", &tok));
    if (tok) {
        CHECK_OK(glossa_tokenizer_encode_pieces(tok, "Hello world", 11, &txt));
        CHECK_STREQ(txt.data, "\xE2\x96\x81H ell o \xE2\x96\x81w or ld"); /* spm_encode --output_format=piece */
        int32_t bad = 9999999;
        CHECK_STATUS(glossa_tokenizer_decode(tok, &bad, 1, true, &txt), GLOSSA_STATUS_BAD_INPUT);
        bad = -5;
        CHECK_STATUS(glossa_tokenizer_decode(tok, &bad, 1, false, &txt), GLOSSA_STATUS_BAD_INPUT);
        glossa_tokenizer_free(tok);
    }
    glossa_text_free(&txt);
}

/* Codes a model adds to its family's table (special tokens shaped like its codes): looked up by
 * code, case-folded code and base, listed after the table, used in the template. */
static void extra_languages(void)
{
    json_error_t err;
    json_t *root = json_load_file(FIX "mbart50/hf/tokenizer.json", 0, &err);
    CHECK(root != NULL);
    if (!root) return;
    json_t *added = json_object_get(root, "added_tokens");
    int64_t next = 0;
    for (size_t i = 0; i < json_array_size(added); i++) {
        int64_t id = json_integer_value(json_object_get(json_array_get(added, i), "id"));
        if (id >= next) next = id + 1;
    }
    static const char *const extra[4] = {"am_ET", "el_GR", "not_a_code", "xx_Yy"};
    for (int k = 0; k < 4; k++)
        json_array_append_new(added, json_pack("{sI ss sb sb sb sb sb}", "id", (json_int_t)(next + k), "content",
                                               extra[k], "single_word", 0, "lstrip", 0, "rstrip", 0,
                                               "normalized", 0, "special", k != 3));
    char dir[] = "/tmp/glossa_extra_XXXXXX", path[512];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    CHECK(json_dump_file(root, path, 0) == 0);
    json_decref(root);
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", dir);
    CHECK(symlink(FIX "mbart50/hf/tokenizer_config.json", cfg) == 0);
    glossa_tokenizer *tok = NULL;
    CHECK_OK(glossa_tokenizer_load_dir(dir, &tok));
    if (tok) {
        CHECK(glossa_tokenizer_lang_count(tok) == 54); /* the 52 codes, am_ET, el_GR */
        int32_t id = -1;
        CHECK_OK(glossa_tokenizer_lang_id(tok, "am_ET", &id));
        CHECK(id == next);
        CHECK_OK(glossa_tokenizer_lang_id(tok, "AM-et", &id));
        CHECK(id == next);
        CHECK_OK(glossa_tokenizer_lang_id(tok, "el", &id));
        CHECK(id == next + 1);
        CHECK_OK(glossa_tokenizer_lang_id(tok, "de", &id));
        CHECK(id != next && id != next + 1);
        CHECK_STATUS(glossa_tokenizer_lang_id(tok, "xx_Yy", &id), GLOSSA_STATUS_BAD_INPUT); /* not special */
        CHECK_STATUS(glossa_tokenizer_lang_id(tok, "not", &id), GLOSSA_STATUS_BAD_INPUT);
        CHECK_STATUS(glossa_tokenizer_lang_id(tok, "am_X", &id), GLOSSA_STATUS_BAD_INPUT);
        const char *code = NULL, *name = NULL;
        CHECK_OK(glossa_tokenizer_lang_at(tok, 52, &code, &name));
        CHECK_STREQ(code, "am_ET");
        CHECK_STREQ(name, "Amharic");
        CHECK_OK(glossa_tokenizer_lang_at(tok, 3, &code, &name));
        CHECK_STREQ(code, "en_XX");
        int32_t fb = -1;
        CHECK_OK(glossa_tokenizer_forced_bos_id(tok, "el", &fb));
        CHECK(fb == next + 1);
        glossa_tokens t = {0};
        encode_ids(tok, "Hello", "am", NULL, false, &t);
        CHECK(t.n >= 3 && t.ids[0] == next && t.ids[t.n - 1] == 2);
        glossa_tokens_free(&t);
        glossa_tokenizer_free(tok);
    }
    unlink(path);
    unlink(cfg);
    rmdir(dir);
}

int main(void)
{
    conversion(GLOSSA_FAMILY_MBART50, "mbart50");
    conversion(GLOSSA_FAMILY_NLLB, "nllb");
    templates();
    detection();
    pieces();
    extra_languages();
    TEST_MAIN_END();
}
