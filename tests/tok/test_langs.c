/* Language-code tables and lookups (tok/langs.h) and the public language API on the fixtures. */
#include <string.h>

#include "glossa.h"
#include "test.h"
#include "tok/langs.h"

#define FIX GLOSSA_FIXTURES "/hf/"

static const char *code_of(glossa_tokenizer_family f, const char *lang)
{
    size_t n;
    const tok_lang *t = tok_langs_table(f, &n);
    int i = tok_langs_find(f, lang);
    return i >= 0 ? t[i].code : "(none)";
}

static void tables(void)
{
    size_t n;
    const tok_lang *t = tok_langs_table(GLOSSA_FAMILY_MBART50, &n);
    CHECK(n == 52);
    CHECK_STREQ(t[0].code, "ar_AR");
    CHECK_STREQ(t[3].code, "en_XX");
    CHECK_STREQ(t[51].code, "sl_SI");
    CHECK_STREQ(t[3].name, "English");
    t = tok_langs_table(GLOSSA_FAMILY_NLLB, &n);
    CHECK(n == 202);
    CHECK_STREQ(t[0].code, "ace_Arab");
    CHECK_STREQ(t[46].code, "eng_Latn");
    CHECK_STREQ(t[52].code, "pes_Arab");
    CHECK_STREQ(t[199].code, "zho_Hans");
    CHECK_STREQ(t[201].code, "zul_Latn");
    CHECK_STREQ(t[199].name, "Chinese (Simplified)");
    t = tok_langs_table(GLOSSA_FAMILY_M2M100, &n);
    CHECK(n == 100);
    CHECK_STREQ(t[0].code, "af");
    CHECK_STREQ(t[18].code, "en");
    CHECK_STREQ(t[98].code, "zh");
    CHECK_STREQ(t[99].code, "zu");
    CHECK(tok_langs_table(GLOSSA_FAMILY_MARIAN, &n) == NULL && n == 0);
    /* every code unique, every name present */
    glossa_tokenizer_family fams[3] = {GLOSSA_FAMILY_MBART50, GLOSSA_FAMILY_NLLB, GLOSSA_FAMILY_M2M100};
    for (int f = 0; f < 3; f++) {
        t = tok_langs_table(fams[f], &n);
        for (size_t i = 0; i < n; i++) {
            CHECK_MSG(t[i].name && *t[i].name, "%s has no name", t[i].code);
            CHECK_MSG(tok_langs_find(fams[f], t[i].code) == (int)i, "%s", t[i].code);
        }
    }
}

static void short_codes(void)
{
    /* ISO 639-1 to each family */
    static const char *const rows[][4] = {
        /* iso, mbart50, nllb, m2m100 */
        {"zh", "zh_CN", "zho_Hans", "zh"}, {"ar", "ar_AR", "arb_Arab", "ar"}, {"ru", "ru_RU", "rus_Cyrl", "ru"},
        {"sw", "sw_KE", "swh_Latn", "sw"}, {"en", "en_XX", "eng_Latn", "en"}, {"de", "de_DE", "deu_Latn", "de"},
        {"fr", "fr_XX", "fra_Latn", "fr"}, {"cs", "cs_CZ", "ces_Latn", "cs"}, {"hi", "hi_IN", "hin_Deva", "hi"},
        {"ja", "ja_XX", "jpn_Jpan", "ja"}, {"ko", "ko_KR", "kor_Hang", "ko"}, {"fa", "fa_IR", "pes_Arab", "fa"},
        {"el", "(none)", "ell_Grek", "el"}, {"am", "(none)", "amh_Ethi", "am"}, {"he", "he_IL", "heb_Hebr", "he"},
        {"ms", "(none)", "zsm_Latn", "ms"}, {"no", "(none)", "nob_Latn", "no"}, {"te", "te_IN", "tel_Telu", "(none)"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        CHECK_STREQ(code_of(GLOSSA_FAMILY_MBART50, rows[i][0]), rows[i][1]);
        CHECK_STREQ(code_of(GLOSSA_FAMILY_NLLB, rows[i][0]), rows[i][2]);
        CHECK_STREQ(code_of(GLOSSA_FAMILY_M2M100, rows[i][0]), rows[i][3]);
    }
    /* spellings */
    CHECK_STREQ(code_of(GLOSSA_FAMILY_MBART50, "zh-CN"), "zh_CN");
    CHECK_STREQ(code_of(GLOSSA_FAMILY_MBART50, "ZH_cn"), "zh_CN");
    CHECK_STREQ(code_of(GLOSSA_FAMILY_MBART50, "pt-BR"), "pt_XX");
    CHECK_STREQ(code_of(GLOSSA_FAMILY_NLLB, "zh_CN"), "zho_Hans");
    CHECK_STREQ(code_of(GLOSSA_FAMILY_NLLB, "zh-TW"), "zho_Hant");
    CHECK_STREQ(code_of(GLOSSA_FAMILY_NLLB, "zh-Hant"), "zho_Hant");
    CHECK_STREQ(code_of(GLOSSA_FAMILY_NLLB, "eng_latn"), "eng_Latn");
    CHECK_STREQ(code_of(GLOSSA_FAMILY_NLLB, "eng"), "eng_Latn");
    CHECK_STREQ(code_of(GLOSSA_FAMILY_NLLB, "yue"), "yue_Hant");
    CHECK_STREQ(code_of(GLOSSA_FAMILY_NLLB, "en-US"), "eng_Latn");
    CHECK_STREQ(code_of(GLOSSA_FAMILY_M2M100, "__de__"), "de");
    CHECK_STREQ(code_of(GLOSSA_FAMILY_M2M100, "zh_CN"), "zh");
    CHECK_STREQ(code_of(GLOSSA_FAMILY_M2M100, "ast"), "ast");
    CHECK(tok_langs_find(GLOSSA_FAMILY_NLLB, "xx") < 0);
    CHECK(tok_langs_find(GLOSSA_FAMILY_NLLB, "") < 0);
    CHECK(tok_langs_find(GLOSSA_FAMILY_NLLB, NULL) < 0);
    CHECK(tok_langs_find(GLOSSA_FAMILY_MBART50, "el") < 0);
    CHECK(tok_langs_find(GLOSSA_FAMILY_PLAIN, "en") < 0);
    CHECK(tok_langs_find(GLOSSA_FAMILY_M2M100, "________________________________________________________________________") < 0);
}

static void api(void)
{
    glossa_tokenizer *tok = NULL;
    int32_t id = 0;
    CHECK_OK(glossa_tokenizer_load_dir(FIX "nllb/hf", &tok));
    if (tok) {
        CHECK(glossa_tokenizer_lang_count(tok) == 202);
        const char *code, *name;
        CHECK_OK(glossa_tokenizer_lang_at(tok, 46, &code, &name));
        CHECK_STREQ(code, "eng_Latn");
        CHECK_STREQ(name, "English");
        CHECK_STATUS(glossa_tokenizer_lang_at(tok, 202, &code, &name), GLOSSA_STATUS_INVALID_ARGUMENT);
        CHECK_OK(glossa_tokenizer_lang_id(tok, "eng_Latn", &id));
        CHECK(id == 8047); /* 8000 pieces + the fairseq offset + 46 */
        CHECK_OK(glossa_tokenizer_lang_id(tok, "zh", &id));
        CHECK(id == 8001 + 199);
        CHECK_OK(glossa_tokenizer_lang_id(tok, "arb_Arab", &id));
        CHECK(id == 8011);
        CHECK_STATUS(glossa_tokenizer_lang_id(tok, "klingon", &id), GLOSSA_STATUS_BAD_INPUT);
        CHECK(strstr(glossa_last_error(), "klingon") != NULL);
        glossa_tokenizer_free(tok);
    }
    CHECK_OK(glossa_tokenizer_load_dir(FIX "mbart50/spm", &tok));
    if (tok) {
        CHECK(glossa_tokenizer_lang_count(tok) == 52);
        CHECK_OK(glossa_tokenizer_lang_id(tok, "en_XX", &id));
        CHECK(id == 8004);
        CHECK_OK(glossa_tokenizer_lang_id(tok, "sl", &id));
        CHECK(id == 8052);
        CHECK_STATUS(glossa_tokenizer_lang_id(tok, "el", &id), GLOSSA_STATUS_BAD_INPUT);
        CHECK(strstr(glossa_last_error(), "'el'") != NULL);
        glossa_tokenizer_free(tok);
    }
    CHECK_OK(glossa_tokenizer_load_dir(FIX "m2m100/spm", &tok));
    if (tok) {
        CHECK(glossa_tokenizer_lang_count(tok) == 100);
        CHECK_OK(glossa_tokenizer_lang_id(tok, "en", &id));
        CHECK(id == 7986 + 18); /* len(vocab.json) + index */
        CHECK_OK(glossa_tokenizer_lang_id(tok, "__zu__", &id));
        CHECK(id == 7986 + 99);
        glossa_tokenizer_free(tok);
    }
    CHECK_OK(glossa_tokenizer_load_dir(FIX "marian/spm", &tok));
    if (tok) {
        CHECK(glossa_tokenizer_lang_count(tok) == 2);
        const char *code;
        CHECK_OK(glossa_tokenizer_lang_at(tok, 0, &code, NULL));
        CHECK_STREQ(code, "fra");
        CHECK_OK(glossa_tokenizer_lang_id(tok, ">>deu<<", &id));
        CHECK(id == 3);
        CHECK_OK(glossa_tokenizer_lang_id(tok, "fr", &id));
        CHECK(id == 2);
        CHECK_STATUS(glossa_tokenizer_lang_id(tok, "ja", &id), GLOSSA_STATUS_BAD_INPUT);
        glossa_tokenizer_free(tok);
    }
    CHECK_OK(glossa_tokenizer_load_spm(GLOSSA_FIXTURES "/spm/uni_8k_nmtnfkc.model", &tok));
    if (tok) {
        CHECK(glossa_tokenizer_lang_count(tok) == 0);
        CHECK_STATUS(glossa_tokenizer_lang_id(tok, "en", &id), GLOSSA_STATUS_BAD_INPUT);
        glossa_tokenizer_free(tok);
    }
}

int main(void)
{
    tables();
    short_codes();
    api();
    TEST_MAIN_END();
}
