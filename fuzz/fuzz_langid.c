/* libFuzzer target: the built-in language identifier on arbitrary bytes (invalid UTF-8, NUL
 * bytes, placeholders, decomposed and mixed scripts, inputs past the 1,000-character cap). Every
 * call must return OK with a known language and a confidence in [0, 1], or BAD_INPUT; the
 * placeholder stripper and the text model must stay in bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "glossa.h"
#include "langid/text.h"

static glossa_langid *g_lid;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_lid && glossa_langid_create(&g_lid) != GLOSSA_STATUS_OK) abort();
    const char *text = (const char *)data;
    const char *lang = NULL;
    float conf = -1.0f;
    glossa_status st = glossa_langid_detect(g_lid, text, size, &lang, &conf);
    if (st == GLOSSA_STATUS_OK) {
        if (!lang || !(conf >= 0.0f && conf <= 1.0f)) abort();
        bool known = false;
        for (size_t i = 0; i < glossa_langid_count(g_lid); i++)
            known |= strcmp(lang, glossa_langid_lang_at(g_lid, i)) == 0;
        if (!known) abort();
    } else if (st != GLOSSA_STATUS_BAD_INPUT) {
        abort();
    }
    /* the text model: a boundary-marked sequence within its buffer */
    static langid_text t;
    langid_text_prepare(text, size, &t);
    if (t.n < 1 || t.n > LANGID_MAX_CHARS + 2 || t.seq[0] != ' ' || t.seq[t.n - 1] != ' ') abort();
    if ((t.letters == 0) != (st == GLOSSA_STATUS_BAD_INPUT)) abort();
    /* placeholders over raw code points (bytes here) never grow the text */
    uint32_t cps[256];
    size_t n = size < 256 ? size : 256;
    for (size_t i = 0; i < n; i++)
        cps[i] = data[i];
    if (langid_strip_placeholders(cps, n) > n) abort();
    return 0;
}
