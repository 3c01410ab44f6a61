/* GET /languages and language-code resolution (see languages.h). The public code of a language
 * is the two-letter ISO 639-1 code the tokenizer maps to it (found by asking the tokenizer about
 * every two-letter code once at start-up, so no table is duplicated here), else its family code. */
#include "languages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

bool langs_build(srv *s)
{
    size_t n = glossa_tokenizer_lang_count(s->tok);
    s->langs = n ? calloc(n, sizeof *s->langs) : NULL;
    if (n && !s->langs) return false;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *code = NULL, *name = NULL;
        int32_t id = -1;
        if (glossa_tokenizer_lang_at(s->tok, i, &code, &name) != GLOSSA_STATUS_OK || !code) continue;
        if (glossa_tokenizer_lang_id(s->tok, code, &id) != GLOSSA_STATUS_OK) continue;
        srv_lang *l = &s->langs[k++];
        l->family_code = code;
        l->name = name ? name : "";
        l->id = id;
        snprintf(l->code, sizeof l->code, "%s", code);
    }
    s->n_langs = k;
    /* two-letter codes, in alphabetical order: the first that maps to a language names it
     * (so "he" wins over the old "iw", "id" over "in") */
    for (char a = 'a'; a <= 'z'; a++) {
        for (char b = 'a'; b <= 'z'; b++) {
            char cc[3] = {a, b, 0};
            int32_t id;
            if (glossa_tokenizer_lang_id(s->tok, cc, &id) != GLOSSA_STATUS_OK) continue;
            for (size_t i = 0; i < s->n_langs; i++) {
                srv_lang *l = &s->langs[i];
                if (l->id == id && strlen(l->code) > 2) {
                    memcpy(l->code, cc, 3);
                    break;
                }
            }
        }
    }
    return true;
}

void langs_free(srv *s)
{
    free(s->langs);
    s->langs = NULL;
    s->n_langs = 0;
}

bool langs_check(const srv *s, const char *code, const char *field, rp_error *err)
{
    if (s->n_langs == 0) return true;
    int32_t id;
    if (glossa_tokenizer_lang_id(s->tok, code, &id) == GLOSSA_STATUS_OK) return true;
    return rp_fail(err, 400, "invalid_request_error", "unknown_language",
                   "\"%s\": unknown language '%s' for this model; GET /languages lists the "
                   "supported codes",
                   field, code);
}

const char *langs_public_code(const srv *s, const char *code)
{
    int32_t id;
    if (!code || glossa_tokenizer_lang_id(s->tok, code, &id) != GLOSSA_STATUS_OK) return code;
    for (size_t i = 0; i < s->n_langs; i++)
        if (s->langs[i].id == id) return s->langs[i].code;
    return code;
}

/* GET /languages: [{"code", "name", "targets": [...]}]; every language translates to every other
 * (many-to-many models). */
void languages_handle(srv_call *c)
{
    const srv *s = c->s;
    json_t *all = json_array();
    for (size_t i = 0; all && i < s->n_langs; i++) {
        json_t *targets = json_array();
        for (size_t j = 0; targets && j < s->n_langs; j++)
            if (j != i) json_array_append_new(targets, json_string(s->langs[j].code));
        json_t *o = json_pack("{s:s, s:s, s:o}", "code", s->langs[i].code, "name",
                              s->langs[i].name, "targets", targets ? targets : json_array());
        if (o) json_array_append_new(all, o);
    }
    call_reply_json(c, 200, all);
}
