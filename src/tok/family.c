#include "tok/family.h"

#include <stdio.h>
#include <string.h>

const char *tok_family_name(glossa_tokenizer_family family)
{
    switch (family) {
    case GLOSSA_FAMILY_MBART50: return "mbart50";
    case GLOSSA_FAMILY_NLLB: return "nllb";
    case GLOSSA_FAMILY_M2M100: return "m2m100";
    case GLOSSA_FAMILY_MARIAN: return "marian";
    default: return "plain";
    }
}

bool tok_family_from_class(const char *cls, glossa_tokenizer_family *out)
{
    static const struct {
        const char *name;
        glossa_tokenizer_family family;
    } map[] = {
        {"MBart50Tokenizer", GLOSSA_FAMILY_MBART50},
        {"NllbTokenizer", GLOSSA_FAMILY_NLLB},
        {"M2M100Tokenizer", GLOSSA_FAMILY_M2M100},
        {"MarianTokenizer", GLOSSA_FAMILY_MARIAN},
    };
    if (!cls) return false;
    size_t len = strlen(cls);
    if (len > 4 && !strcmp(cls + len - 4, "Fast")) len -= 4; /* the 4.x fast classes */
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strlen(map[i].name) == len && !strncmp(cls, map[i].name, len)) {
            *out = map[i].family;
            return true;
        }
    }
    return false;
}

const char *tok_family_default_src(glossa_tokenizer_family family)
{
    switch (family) {
    case GLOSSA_FAMILY_MBART50: return "en_XX";
    case GLOSSA_FAMILY_NLLB: return "eng_Latn";
    case GLOSSA_FAMILY_M2M100: return "en";
    default: return NULL;
    }
}

bool tok_family_lang_token(glossa_tokenizer_family family, const char *code, char *buf, size_t cap)
{
    int n = family == GLOSSA_FAMILY_M2M100 ? snprintf(buf, cap, "__%s__", code) : snprintf(buf, cap, "%s", code);
    return n >= 0 && (size_t)n < cap;
}

tok_template tok_family_template(glossa_tokenizer_family family, bool legacy, int32_t lang,
                                 int32_t eos)
{
    tok_template t = {{0, 0}, {0, 0}, 0, 0};
    switch (family) {
    case GLOSSA_FAMILY_MBART50:
    case GLOSSA_FAMILY_M2M100:
    case GLOSSA_FAMILY_NLLB:
        if (family == GLOSSA_FAMILY_NLLB && legacy) {
            t.suffix[t.n_suffix++] = eos;
            if (lang >= 0) t.suffix[t.n_suffix++] = lang;
        } else {
            if (lang >= 0) t.prefix[t.n_prefix++] = lang;
            t.suffix[t.n_suffix++] = eos;
        }
        break;
    case GLOSSA_FAMILY_MARIAN:
        if (lang >= 0) t.prefix[t.n_prefix++] = lang; /* a >>xx<< target-language token */
        t.suffix[t.n_suffix++] = eos;
        break;
    default:
        break;
    }
    return t;
}
