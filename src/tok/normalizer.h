/* Sentencepiece's text normalizer (normalizer.cc Normalizer::Normalize, 0.1.97):
 *   - each step takes the longest of: a user-defined symbol (copied as is), a charsmap rule
 *     (replaced), else one UTF-8 character (copied; an invalid byte becomes U+FFFD, consuming 1);
 *   - remove_extra_whitespaces: leading spaces dropped, runs of spaces collapsed, trailing spaces
 *     dropped (a "space" is ' ' after the charsmap);
 *   - add_dummy_prefix: U+2581 (or ' ') put in front, or at the end with
 *     treat_whitespace_as_suffix;
 *   - escape_whitespaces: ' ' written as U+2581.
 * An immutable normalizer may be shared between threads.
 */
#ifndef GLOSSA_TOK_NORMALIZER_H
#define GLOSSA_TOK_NORMALIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "tok/charsmap.h"
#include "tok/trie.h"

typedef struct spm_normalizer {
    tok_charsmap charsmap;
    bool has_charsmap;
    const tok_trie *user_defined; /* borrowed prefix matcher of user-defined symbols, or NULL */
    bool add_dummy_prefix;
    bool remove_extra_whitespaces;
    bool escape_whitespaces;
    bool treat_whitespace_as_suffix;
    uint8_t plain[128]; /* ASCII byte that no rule and no user-defined symbol starts with */
} spm_normalizer;

/* charsmap may be NULL / 0 (no rules). The flags are NormalizerSpec's (and TrainerSpec's
 * treat_whitespace_as_suffix). user_defined (may be NULL) must outlive the normalizer; it is
 * read at init (for the plain[] fast path), so set it only through this call. */
glossa_status spm_normalizer_init(spm_normalizer *n, const void *charsmap, size_t charsmap_len,
                                  bool add_dummy_prefix, bool remove_extra_whitespaces,
                                  bool escape_whitespaces, bool treat_whitespace_as_suffix,
                                  const tok_trie *user_defined);
void spm_normalizer_free(spm_normalizer *n);

/* Normalize in[0..len) into out (cleared first). norm_to_orig, when not NULL, is cleared and gets
 * out->len + 1 entries: for each output byte the offset of the input byte it came from, then the
 * end (sentencepiece's norm_to_orig). */
glossa_status spm_normalize(const spm_normalizer *n, const char *in, size_t len, strbuf *out,
                            idvec *norm_to_orig);

#endif
