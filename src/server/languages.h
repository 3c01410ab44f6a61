/* The loaded model's languages: public codes (ISO 639-1 where one maps to the language), names,
 * and resolution of request codes through the tokenizer. */
#ifndef GLOSSA_SERVER_LANGUAGES_H
#define GLOSSA_SERVER_LANGUAGES_H

#include "request_parse.h"
#include "server.h"

/* Build s->langs from s->tok. false on out of memory. */
bool langs_build(srv *s);
void langs_free(srv *s);

/* Check a client's language code (any form the tokenizer takes: en, en_XX, eng_Latn, EN-us)
 * against the model. field names it in the 400. Models without language codes accept anything. */
bool langs_check(const srv *s, const char *code, const char *field, rp_error *err);

/* The public code of a tokenizer-known code ("de_DE" -> "de"); the input when unknown. */
const char *langs_public_code(const srv *s, const char *code);

#endif
