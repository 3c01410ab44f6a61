/* Internal hooks of the model API for tests and tools inside the tree (not public API). */
#ifndef GLOSSA_API_MODEL_INTERNAL_H
#define GLOSSA_API_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "glossa.h"

/* Rows of the decoder's output logits (the lm_head's out_features). */
int32_t glossa_model_vocab_size(const glossa_model *m);

/* Teacher-forced logits: the encoder over src[0..n_src) (special tokens included), the decoder
 * over dec[0..n_dec) (the decoder start token first), and the logits of every decoder position
 * into logits (n_dec, glossa_model_vocab_size(m)), fp32, before any logits processing. */
glossa_status glossa_model_teacher_forced(glossa_model *m, const int32_t *src, size_t n_src,
                                          const int32_t *dec, size_t n_dec, float *logits);

#endif
