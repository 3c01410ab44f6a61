/* Text post-processing steps of transformers' Python code that decoding must reproduce exactly. */
#ifndef GLOSSA_TOK_PYTEXT_H
#define GLOSSA_TOK_PYTEXT_H

#include <stdbool.h>

#include "core/buf.h"

/* Python's str.strip(): drop leading and trailing characters for which str.isspace() is true. */
void py_strip(strbuf *s);

/* PreTrainedTokenizerBase.clean_up_tokenization: " ." -> ".", " ?" -> "?", " !" -> "!",
 * " ," -> ",", " ' " -> "'", " n't" -> "n't", " 'm" -> "'m", " 's" -> "'s", " 've" -> "'ve",
 * " 're" -> "'re", each replace applied to the whole string in that order. In place. */
void py_clean_up_tokenization(strbuf *s);

/* str.replace(from, to) in place where strlen(to) <= strlen(from). */
void py_replace_shrink(strbuf *s, const char *from, const char *to);

#endif
