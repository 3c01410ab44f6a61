/* safetensors: the reader (mmap, every header field, dtype, shape and offset checked against the
 * file before use) and a writer (for `glossa synth` and tests).
 *
 * Format (https://huggingface.co/docs/safetensors): 8-byte little-endian header length N, then N
 * bytes of JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 * "__metadata__": {"k": "v"}}, then the data; offsets are relative to the first byte after the
 * header. A model directory holds model.safetensors, or shards listed by
 * model.safetensors.index.json ({"metadata": {...}, "weight_map": {"name": "file", ...}}).
 */
#ifndef GLOSSA_IO_SAFETENSORS_H
#define GLOSSA_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "glossa.h"

typedef enum st_dtype {
    ST_DTYPE_F32 = 0,
    ST_DTYPE_F16,
    ST_DTYPE_BF16,
    ST_DTYPE_F64,
    ST_DTYPE_I64,
    ST_DTYPE_I32,
    ST_DTYPE_I16,
    ST_DTYPE_I8,
    ST_DTYPE_U8,
    ST_DTYPE_BOOL,
    ST_DTYPE_F8_E4M3,
    ST_DTYPE_F8_E5M2,
    ST_DTYPE_COUNT_,
} st_dtype;

#define ST_MAX_DIMS 8

typedef struct st_tensor {
    const char *name;
    st_dtype dtype;
    int32_t ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;         /* product of shape (1 for a scalar) */
    const void *data;      /* inside the mapped file; numel * st_dtype_size(dtype) bytes */
    size_t nbytes;
} st_tensor;

/* All tensors of one file or of a sharded model (names unique across shards). */
typedef struct st_set st_set;

size_t st_dtype_size(st_dtype t);
const char *st_dtype_name(st_dtype t); /* "F32", ... */

/* One .safetensors file. BAD_MODEL with a message naming the file and the field on any
 * inconsistency: header length absurd or past the end, bad JSON, unknown dtype, shape / offsets
 * disagreeing, overlapping or out-of-file data, duplicate names. */
glossa_status st_set_open_file(const char *path, st_set **out);

/* A model directory: model.safetensors, else model.safetensors.index.json and its shards.
 * A directory with only pytorch_model.bin (or *.bin / *.pt / *.ckpt) gets UNSUPPORTED with a
 * message naming the conversion to safetensors; NOT_FOUND when there is no weight file at all. */
glossa_status st_set_open_dir(const char *dir, st_set **out);

/* Open from a buffer held by the caller for the st_set's lifetime (tests, fuzzing). */
glossa_status st_set_open_buffer(const void *data, size_t size, const char *label, st_set **out);

void st_set_free(st_set *s);

size_t st_set_count(const st_set *s);
const st_tensor *st_set_at(const st_set *s, size_t i);
/* NULL when absent. */
const st_tensor *st_set_find(const st_set *s, const char *name);
/* A "__metadata__" value of the (first) file, or NULL. */
const char *st_set_metadata(const st_set *s, const char *key);

/* ---- writer ---- */
typedef struct st_write_tensor {
    const char *name;
    st_dtype dtype;
    int32_t ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data; /* numel * st_dtype_size(dtype) bytes */
} st_write_tensor;

/* Write tensors (in the given order; data 8-byte aligned after the header as the reference
 * writer does) with optional metadata pairs (keys[i] -> values[i]; transformers writes
 * {"format": "pt"}). IO_ERROR on write failure. */
glossa_status st_write_file(const char *path, const st_write_tensor *tensors, size_t n,
                            const char *const *meta_keys, const char *const *meta_values,
                            size_t n_meta);

/* The file prefix (8-byte length, JSON header, padding) for tensors whose data follows in the
 * given order (data pointers unused); *data_bytes (may be NULL) their total size. For writers
 * that stream the data themselves (`glossa synth`). *out is malloc'd. */
glossa_status st_write_header(const st_write_tensor *tensors, size_t n,
                              const char *const *meta_keys, const char *const *meta_values,
                              size_t n_meta, char **out, size_t *out_len, uint64_t *data_bytes);

#endif
