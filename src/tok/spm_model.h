/* A sentencepiece ModelProto (sentencepiece_model.proto) read into plain structs: the pieces
 * (into a tok_vocab), the TrainerSpec fields that change encoding or decoding, and the
 * NormalizerSpec / denormalizer_spec. Absent fields take their proto2 defaults. Unknown fields
 * are skipped. Checks done here: well-formed wire data, piece types in range, field sizes.
 * Semantic checks (unk piece present, byte pieces, duplicates) are spm.c's, as in
 * sentencepiece's ModelInterface::InitializePieces.
 */
#ifndef GLOSSA_TOK_SPM_MODEL_H
#define GLOSSA_TOK_SPM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "tok/vocab.h"

/* TrainerSpec.ModelType */
typedef enum spm_model_type {
    SPM_MODEL_UNIGRAM = 1,
    SPM_MODEL_BPE = 2,
    SPM_MODEL_WORD = 3,
    SPM_MODEL_CHAR = 4,
} spm_model_type;

typedef struct spm_str {
    const char *data; /* NUL-terminated, owned by the model's arena */
    size_t len;
} spm_str;

typedef struct spm_trainer_spec {
    int32_t model_type;                /* 3, default SPM_MODEL_UNIGRAM */
    int32_t vocab_size;                /* 4, default 8000 */
    bool split_by_unicode_script;      /* 21, default true */
    bool split_by_number;              /* 23, default true */
    bool split_by_whitespace;          /* 22, default true */
    bool treat_whitespace_as_suffix;   /* 24, default false */
    bool allow_whitespace_only_pieces; /* 26, default false */
    bool split_digits;                 /* 25, default false */
    bool byte_fallback;                /* 35, default false */
    int32_t unk_id;                    /* 40, default 0 */
    int32_t bos_id;                    /* 41, default 1 */
    int32_t eos_id;                    /* 42, default 2 */
    int32_t pad_id;                    /* 43, default -1 */
    spm_str unk_surface;               /* 44, default " \xE2\x81\x87 " */
    bool has_unk_surface;
    spm_str unk_piece;                 /* 45, default "<unk>" */
    spm_str bos_piece;                 /* 46, default "<s>" */
    spm_str eos_piece;                 /* 47, default "</s>" */
    spm_str pad_piece;                 /* 48, default "<pad>" */
} spm_trainer_spec;

typedef struct spm_normalizer_spec {
    bool present;                  /* the message was in the file */
    spm_str name;                  /* 1 */
    const uint8_t *charsmap;       /* 2, precompiled_charsmap (owned by the arena), may be empty */
    size_t charsmap_len;
    bool add_dummy_prefix;         /* 3, default true */
    bool remove_extra_whitespaces; /* 4, default true */
    bool escape_whitespaces;       /* 5, default true */
} spm_normalizer_spec;

typedef struct spm_model {
    tok_vocab vocab;                  /* pieces 1: piece, score, type (index not built) */
    spm_trainer_spec trainer;         /* field 2 */
    spm_normalizer_spec normalizer;   /* field 3 */
    spm_normalizer_spec denormalizer; /* field 5 */
    arena strings;                    /* strings and the charsmaps */
} spm_model;

/* Pieces over this count are refused. */
#define SPM_MAX_PIECES (1 << 24)

/* Parse a serialized ModelProto. On failure *m is left freed (spm_model_free is still safe). */
glossa_status spm_model_parse(const void *data, size_t size, spm_model *m);
void spm_model_free(spm_model *m);

#endif
