/* A SentencePiece processor: the .model file (ModelProto) read by our own protobuf reader, its
 * normalizer and its unigram or BPE encoder; ids and text identical to spm_encode / spm_decode. */
#ifndef GLOSSA_TOK_SPM_H
#define GLOSSA_TOK_SPM_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "tok/vocab.h"
#include "tok/ws.h"

typedef struct spm_processor spm_processor;

/* Files over this size are refused before reading. */
#define SPM_MAX_MODEL_BYTES ((size_t)1 << 30)

glossa_status spm_load_file(const char *path, spm_processor **out);
/* Parse a serialized ModelProto held in memory (copied as needed; data may be freed after). */
glossa_status spm_load_buffer(const void *data, size_t size, spm_processor **out);
void spm_free(spm_processor *p);

const tok_vocab *spm_get_vocab(const spm_processor *p);

typedef struct spm_special {
    int32_t unk_id, bos_id, eos_id, pad_id; /* -1 when disabled */
} spm_special;
spm_special spm_get_special(const spm_processor *p);

/* Text to ids exactly as `spm_encode --output_format=id` (no bos/eos added). */
glossa_status spm_encode(const spm_processor *p, const char *text, size_t len, tok_ws *ws,
                         idvec *out);
/* Pieces exactly as `spm_encode --output_format=piece`: surface pieces joined by one space
 * (an unknown piece shows its surface text, a byte piece its <0xNN> form). */
glossa_status spm_encode_pieces(const spm_processor *p, const char *text, size_t len, tok_ws *ws,
                                strbuf *out);
/* Ids to text exactly as `spm_decode --input_format=id`. Ids out of range are BAD_INPUT. */
glossa_status spm_decode(const spm_processor *p, const int32_t *ids, size_t n, strbuf *out);

#endif
