/* The post-processor of a tokenizer.json, for single sequences: TemplateProcessing (the "single"
 * template: special-token ids around $A; type ids ignored), RobertaProcessing / BertProcessing
 * (cls $A sep), ByteLevel (nothing to do for ids) and Sequence of these. */
#ifndef GLOSSA_TOK_HF_POST_H
#define GLOSSA_TOK_HF_POST_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "glossa.h"

typedef struct hf_post {
    int32_t *prefix; /* ids before the sequence */
    size_t n_prefix;
    int32_t *suffix; /* ids after it */
    size_t n_suffix;
} hf_post;

/* json: the "post_processor" value (jansson json_t *; NULL or JSON null: none). */
glossa_status hf_post_load(const void *json, hf_post *p);
void hf_post_free(hf_post *p);

#endif
