/* The language identifier's text model (the C twin of tools/langid/lidcore.py): lenient UTF-8
 * decoding, printf placeholders removed, NFC, per-code-point lowercase, and the letters' words as
 * one boundary-marked sequence " w1 w2 ... " with letter counts per script. */
#ifndef GLOSSA_LANGID_TEXT_H
#define GLOSSA_LANGID_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "langid/profiles.h"

#define LANGID_MAX_CHARS 1000 /* code points of a text that are looked at; the rest is ignored */

typedef struct langid_text {
    uint32_t seq[LANGID_MAX_CHARS + 2]; /* (n) ' ' w1 ' ' w2 ... ' ' (letters and marks) */
    size_t n;
    uint32_t scripts[LANGID_NUM_SCRIPTS]; /* letters (not marks) per script */
    size_t letters;
} langid_text;

/* Fill t from text[0..len). Invalid UTF-8 bytes are skipped, NUL is a boundary like any other
 * non-letter; only the first LANGID_MAX_CHARS code points count. Uses about 20 KB of stack. */
void langid_text_prepare(const char *text, size_t len, langid_text *t);

/* The script of a letter (LANGID_SCRIPT_OTHER outside langid_script_ranges). */
int langid_script_of(uint32_t cp);

/* The script that picks the candidate languages: the non-Latin known script with the most letters
 * when it has at least a quarter as many as Latin, else Latin when there is any, else OTHER. */
int langid_dominant_script(const uint32_t scripts[LANGID_NUM_SCRIPTS]);

/* Replace printf conversions in cps[0..n) with one space each (see lidcore.strip_placeholders);
 * returns the new length. */
size_t langid_strip_placeholders(uint32_t *cps, size_t n);

#endif
