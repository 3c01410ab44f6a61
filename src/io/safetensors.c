/* safetensors reader: every header field is checked against the file before a tensor is handed
 * out (see safetensors.h). The writer lives in safetensors_write.c. */
#include "io/safetensors.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/status.h"
#include "io/file.h"

#define ST_HEADER_MAX ((uint64_t)100000000) /* the reference reader's MAX_HEADER_SIZE */
#define ST_INDEX_MAX ((size_t)64 << 20)
#define ST_PATH_CAP 4096
#define ST_SHARDS_MAX 100000

typedef struct st_name_ix {
    const char *name;
    size_t index;
} st_name_ix;

typedef struct st_meta {
    const char *key;
    const char *value;
} st_meta;

struct st_set {
    arena ar;            /* names, metadata strings, labels */
    st_tensor *tensors;  /* in (shard, offset) order */
    uint32_t *shard_of;  /* shard index of each tensor */
    size_t n, cap;
    st_name_ix *by_name; /* (name, index into tensors), sorted by name */
    file_map *maps;
    const char **labels; /* file name of each shard, for messages */
    size_t n_maps;
    st_meta *meta;       /* "__metadata__" of the first file */
    size_t n_meta;
};

static const struct {
    const char *name;
    size_t size;
} g_dtypes[ST_DTYPE_COUNT_] = {
    [ST_DTYPE_F32] = {"F32", 4},     [ST_DTYPE_F16] = {"F16", 2},
    [ST_DTYPE_BF16] = {"BF16", 2},   [ST_DTYPE_F64] = {"F64", 8},
    [ST_DTYPE_I64] = {"I64", 8},     [ST_DTYPE_I32] = {"I32", 4},
    [ST_DTYPE_I16] = {"I16", 2},     [ST_DTYPE_I8] = {"I8", 1},
    [ST_DTYPE_U8] = {"U8", 1},       [ST_DTYPE_BOOL] = {"BOOL", 1},
    [ST_DTYPE_F8_E4M3] = {"F8_E4M3", 1}, [ST_DTYPE_F8_E5M2] = {"F8_E5M2", 1},
};

/* dtypes the format defines that glossa does not read */
static const char *const g_other_dtypes[] = {"U16", "U32", "U64", "C64", "F8_E8M0", "F4",
                                             "F6_E2M3", "F6_E3M2", "U1"};

size_t st_dtype_size(st_dtype t)
{
    return (unsigned)t < ST_DTYPE_COUNT_ ? g_dtypes[t].size : 0;
}

const char *st_dtype_name(st_dtype t)
{
    return (unsigned)t < ST_DTYPE_COUNT_ ? g_dtypes[t].name : "?";
}

/* ---- set building ---- */

static glossa_status set_new(st_set **out)
{
    st_set *s = calloc(1, sizeof *s);
    if (!s) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "safetensors: out of memory");
    arena_init(&s->ar, 64 * 1024);
    *out = s;
    return GLOSSA_STATUS_OK;
}

void st_set_free(st_set *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n_maps; i++) file_map_close(&s->maps[i]);
    free(s->maps);
    free(s->labels);
    free(s->tensors);
    free(s->shard_of);
    free(s->by_name);
    free(s->meta);
    arena_free(&s->ar);
    free(s);
}

static glossa_status set_grow(st_set *s, size_t extra)
{
    if (s->n + extra <= s->cap) return GLOSSA_STATUS_OK;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < s->n + extra) {
        if (cap > SIZE_MAX / 2 / sizeof(st_tensor)) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "safetensors: too many tensors");
        cap *= 2;
    }
    st_tensor *t = realloc(s->tensors, cap * sizeof *t);
    if (t) s->tensors = t;
    uint32_t *sh = t ? realloc(s->shard_of, cap * sizeof *sh) : NULL;
    if (sh) s->shard_of = sh;
    if (!t || !sh) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "safetensors: out of memory for %zu tensors", cap);
    s->cap = cap;
    return GLOSSA_STATUS_OK;
}

/* ---- one header ---- */

static glossa_status parse_dtype(const char *label, const char *name, json_t *v, st_dtype *out)
{
    if (!json_is_string(v))
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: tensor \"%s\": \"dtype\" is missing or not a string", label, name);
    const char *d = json_string_value(v);
    for (int i = 0; i < ST_DTYPE_COUNT_; i++) {
        if (!strcmp(d, g_dtypes[i].name)) {
            *out = (st_dtype)i;
            return GLOSSA_STATUS_OK;
        }
    }
    for (size_t i = 0; i < sizeof g_other_dtypes / sizeof g_other_dtypes[0]; i++) {
        if (!strcmp(d, g_other_dtypes[i]))
            return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "%s: tensor \"%s\": dtype %s is not supported", label, name, d);
    }
    return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: tensor \"%s\": unknown dtype \"%.32s\"", label, name, d);
}

static glossa_status parse_shape(const char *label, const char *name, json_t *v, st_tensor *t)
{
    if (!json_is_array(v))
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: tensor \"%s\": \"shape\" is missing or not an array", label, name);
    size_t nd = json_array_size(v);
    if (nd > ST_MAX_DIMS)
        return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "%s: tensor \"%s\": %zu dimensions (at most %d)", label, name, nd, ST_MAX_DIMS);
    t->ndim = (int32_t)nd;
    uint64_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(v, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: tensor \"%s\": shape[%zu] is not a non-negative integer", label, name, i);
        uint64_t dim = (uint64_t)json_integer_value(d);
        t->shape[i] = (int64_t)dim;
        if (dim && numel > (uint64_t)INT64_MAX / dim)
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: tensor \"%s\": element count overflows", label, name);
        numel *= dim;
    }
    for (size_t i = nd; i < ST_MAX_DIMS; i++) t->shape[i] = 0;
    size_t es = st_dtype_size(t->dtype);
    if (numel > (uint64_t)INT64_MAX / es || numel * es > SIZE_MAX)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: tensor \"%s\": byte size overflows", label, name);
    t->numel = (int64_t)numel;
    t->nbytes = (size_t)(numel * es);
    return GLOSSA_STATUS_OK;
}

static glossa_status parse_offsets(const char *label, const char *name, json_t *v, size_t data_size,
                                   st_tensor *t, const unsigned char *data)
{
    json_t *b = json_array_get(v, 0), *e = json_array_get(v, 1);
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(b) || !json_is_integer(e))
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: tensor \"%s\": \"data_offsets\" is not [begin, end]", label, name);
    json_int_t begin = json_integer_value(b), end = json_integer_value(e);
    if (begin < 0 || end < begin)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: tensor \"%s\": data_offsets [%lld, %lld] are not ordered",
                            label, name, (long long)begin, (long long)end);
    if ((uint64_t)end > data_size)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: tensor \"%s\": data_offsets end %lld is past the %zu data bytes",
                            label, name, (long long)end, data_size);
    if ((uint64_t)(end - begin) != t->nbytes)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL,
                            "%s: tensor \"%s\": data_offsets span %lld bytes but shape and dtype %s need %zu",
                            label, name, (long long)(end - begin), st_dtype_name(t->dtype), t->nbytes);
    t->data = data + begin;
    return GLOSSA_STATUS_OK;
}

static glossa_status parse_metadata(st_set *s, const char *label, json_t *v, bool keep)
{
    if (!json_is_object(v))
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: \"__metadata__\" is not an object", label);
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
        if (!json_is_string(x))
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: \"__metadata__\" value of \"%s\" is not a string", label, k);
    }
    if (!keep) return GLOSSA_STATUS_OK;
    size_t n = json_object_size(v);
    s->meta = calloc(n ? n : 1, sizeof *s->meta);
    if (!s->meta) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "%s: out of memory", label);
    json_object_foreach(v, k, x) {
        const char *val = json_string_value(x);
        s->meta[s->n_meta].key = arena_strndup(&s->ar, k, strlen(k));
        s->meta[s->n_meta].value = arena_strndup(&s->ar, val, json_string_length(x));
        if (!s->meta[s->n_meta].key || !s->meta[s->n_meta].value)
            return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "%s: out of memory", label);
        s->n_meta++;
    }
    return GLOSSA_STATUS_OK;
}

static int cmp_by_offset(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->data != y->data) return (const char *)x->data < (const char *)y->data ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* Tensors [first, s->n) of one file: sort by offset, refuse overlaps. */
static glossa_status check_overlaps(st_set *s, size_t first, const char *label, const unsigned char *base)
{
    size_t n = s->n - first;
    if (n < 2) return GLOSSA_STATUS_OK;
    const st_tensor **v = malloc(n * sizeof *v);
    if (!v) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "%s: out of memory", label);
    for (size_t i = 0; i < n; i++) v[i] = &s->tensors[first + i];
    qsort(v, n, sizeof *v, cmp_by_offset);
    const st_tensor *prev = NULL;
    glossa_status st = GLOSSA_STATUS_OK;
    for (size_t i = 0; i < n && st == GLOSSA_STATUS_OK; i++) {
        if (v[i]->nbytes == 0) continue;
        if (prev && (const unsigned char *)v[i]->data < (const unsigned char *)prev->data + prev->nbytes)
            st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: tensors \"%s\" and \"%s\" overlap (data_offsets %zu and %zu)",
                              label, prev->name, v[i]->name, (size_t)((const unsigned char *)prev->data - base),
                              (size_t)((const unsigned char *)v[i]->data - base));
        prev = v[i];
    }
    free(v);
    return st;
}

static glossa_status parse_entries(st_set *s, json_t *root, const char *label, const unsigned char *base,
                                   size_t data_size, uint32_t shard)
{
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "__metadata__")) {
            GLOSSA_TRY(parse_metadata(s, label, v, shard == 0));
            continue;
        }
        if (!json_is_object(v))
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: tensor \"%s\" is not an object", label, key);
        GLOSSA_TRY(set_grow(s, 1));
        st_tensor *t = &s->tensors[s->n];
        memset(t, 0, sizeof *t);
        GLOSSA_TRY(parse_dtype(label, key, json_object_get(v, "dtype"), &t->dtype));
        GLOSSA_TRY(parse_shape(label, key, json_object_get(v, "shape"), t));
        GLOSSA_TRY(parse_offsets(label, key, json_object_get(v, "data_offsets"), data_size, t, base));
        t->name = arena_strndup(&s->ar, key, strlen(key));
        if (!t->name) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "%s: out of memory", label);
        s->shard_of[s->n++] = shard;
    }
    return GLOSSA_STATUS_OK;
}

/* Parse one file's bytes (kept alive by the caller) into s as shard `shard`. */
static glossa_status parse_file(st_set *s, const unsigned char *data, size_t size, const char *label, uint32_t shard)
{
    if (size < 8)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: %zu bytes, too short for the 8-byte header length", label, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | data[i];
    if (hlen > ST_HEADER_MAX)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: header length %llu is over the %llu byte limit", label,
                            (unsigned long long)hlen, (unsigned long long)ST_HEADER_MAX);
    if (hlen > size - 8)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: header length %llu runs past the end of the %zu-byte file",
                            label, (unsigned long long)hlen, size);
    if (hlen < 2 || data[8] != '{')
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: header is not a JSON object", label);
    json_error_t err;
    json_t *root = json_loadb((const char *)data + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &err);
    if (!root) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: header JSON: %s (at byte %d)", label, err.text, err.position);
    glossa_status st = GLOSSA_STATUS_OK;
    if (!json_is_object(root)) st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: header is not a JSON object", label);
    size_t first = s->n;
    const unsigned char *base = data + 8 + hlen;
    if (st == GLOSSA_STATUS_OK) st = parse_entries(s, root, label, base, size - 8 - (size_t)hlen, shard);
    json_decref(root);
    if (st == GLOSSA_STATUS_OK) st = check_overlaps(s, first, label, base);
    return st;
}

static int cmp_by_name(const void *a, const void *b)
{
    const st_name_ix *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Build the name index; duplicate names (across shards) are an error. */
static glossa_status set_index(st_set *s)
{
    s->by_name = malloc((s->n ? s->n : 1) * sizeof *s->by_name);
    if (!s->by_name) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "safetensors: out of memory");
    for (size_t i = 0; i < s->n; i++) s->by_name[i] = (st_name_ix){s->tensors[i].name, i};
    qsort(s->by_name, s->n, sizeof *s->by_name, cmp_by_name);
    for (size_t i = 1; i < s->n; i++) {
        const st_name_ix *a = &s->by_name[i - 1], *b = &s->by_name[i];
        if (!strcmp(a->name, b->name)) {
            const char *la = s->labels ? s->labels[s->shard_of[a->index]] : "safetensors";
            const char *lb = s->labels ? s->labels[s->shard_of[b->index]] : "safetensors";
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "tensor \"%s\" appears twice (in %s and %s)", a->name, la, lb);
        }
    }
    return GLOSSA_STATUS_OK;
}

/* A new shard slot: label copied, map zeroed. */
static glossa_status add_shard(st_set *s, const char *label, uint32_t *shard)
{
    file_map *m = realloc(s->maps, (s->n_maps + 1) * sizeof *m);
    if (m) s->maps = m;
    const char **l = m ? realloc(s->labels, (s->n_maps + 1) * sizeof *l) : NULL;
    if (l) s->labels = l;
    char *copy = l ? arena_strndup(&s->ar, label, strlen(label)) : NULL;
    if (!copy) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "%s: out of memory", label);
    memset(&s->maps[s->n_maps], 0, sizeof s->maps[0]);
    s->labels[s->n_maps] = copy;
    *shard = (uint32_t)s->n_maps++;
    return GLOSSA_STATUS_OK;
}

static glossa_status open_shard(st_set *s, const char *path)
{
    uint32_t shard = 0;
    GLOSSA_TRY(add_shard(s, path, &shard));
    GLOSSA_TRY(file_map_open(path, &s->maps[shard]));
    return parse_file(s, s->maps[shard].data, s->maps[shard].size, s->labels[shard], shard);
}

glossa_status st_set_open_buffer(const void *data, size_t size, const char *label, st_set **out)
{
    *out = NULL;
    if (!data && size) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "st_set_open_buffer: NULL data");
    st_set *s = NULL;
    GLOSSA_TRY(set_new(&s));
    uint32_t shard = 0;
    glossa_status st = add_shard(s, label ? label : "safetensors buffer", &shard);
    if (st == GLOSSA_STATUS_OK) st = parse_file(s, data ? data : (const void *)"", size, s->labels[shard], shard);
    if (st == GLOSSA_STATUS_OK) st = set_index(s);
    if (st != GLOSSA_STATUS_OK) {
        st_set_free(s);
        return st;
    }
    *out = s;
    return GLOSSA_STATUS_OK;
}

glossa_status st_set_open_file(const char *path, st_set **out)
{
    *out = NULL;
    if (!path) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "st_set_open_file: NULL path");
    st_set *s = NULL;
    GLOSSA_TRY(set_new(&s));
    glossa_status st = open_shard(s, path);
    if (st == GLOSSA_STATUS_OK) st = set_index(s);
    if (st != GLOSSA_STATUS_OK) {
        st_set_free(s);
        return st;
    }
    *out = s;
    return GLOSSA_STATUS_OK;
}

/* ---- sharded models ---- */

/* A shard name must be a plain file name inside the model directory. */
static bool plain_file_name(const char *n)
{
    return n[0] && strcmp(n, ".") && strcmp(n, "..") && !strchr(n, '/') && !strchr(n, '\\') && !strstr(n, "..");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The distinct shard file names of weight_map, sorted (each shard is opened once). */
static glossa_status index_shards(const char *path, json_t *wmap, const char ***names_out, size_t *n_out)
{
    size_t n = json_object_size(wmap), k = 0;
    const char **names = malloc((n ? n : 1) * sizeof *names);
    if (!names) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    const char *key;
    json_t *v;
    json_object_foreach(wmap, key, v) {
        if (!json_is_string(v) || !plain_file_name(json_string_value(v))) {
            free(names);
            if (!json_is_string(v))
                return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: weight_map[\"%s\"] is not a string", path, key);
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: weight_map[\"%s\"] = \"%s\" is not a plain file name",
                                path, key, json_string_value(v));
        }
        names[k++] = json_string_value(v);
    }
    qsort(names, k, sizeof *names, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || strcmp(names[u - 1], names[i])) names[u++] = names[i];
    if (u > ST_SHARDS_MAX) {
        free(names);
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: %zu shard files (at most %d)", path, u, ST_SHARDS_MAX);
    }
    *names_out = names;
    *n_out = u;
    return GLOSSA_STATUS_OK;
}

/* Every weight_map entry must name a tensor of the shard it points at. */
static glossa_status index_verify(st_set *s, const char *path, json_t *wmap, const char **shards, size_t n_shards)
{
    const char *key;
    json_t *v;
    json_object_foreach(wmap, key, v) {
        const char *file = json_string_value(v);
        const char **hit = bsearch(&file, shards, n_shards, sizeof *shards, cmp_str);
        const st_tensor *t = st_set_find(s, key);
        if (!t)
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: weight_map lists \"%s\" but %s has no such tensor", path, key, file);
        size_t idx = (size_t)(t - s->tensors);
        if (!hit || s->shard_of[idx] != (uint32_t)(hit - shards))
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: weight_map puts \"%s\" in %s but it is in %s", path, key,
                                file, s->labels[s->shard_of[idx]]);
    }
    return GLOSSA_STATUS_OK;
}

static glossa_status open_index(st_set *s, const char *dir, const char *path)
{
    char *text;
    size_t size;
    GLOSSA_TRY(file_read_all(path, ST_INDEX_MAX, &text, &size));
    json_error_t err;
    json_t *root = json_loadb(text, size, JSON_REJECT_DUPLICATES, &err);
    free(text);
    if (!root) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: line %d: %s", path, err.line, err.text);
    json_t *wmap = json_object_get(root, "weight_map");
    glossa_status st = GLOSSA_STATUS_OK;
    if (!json_is_object(root) || !json_is_object(wmap))
        st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: \"weight_map\" is missing or not an object", path);
    else if (json_object_size(wmap) == 0)
        st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: \"weight_map\" is empty", path);
    const char **shards = NULL;
    size_t n_shards = 0;
    if (st == GLOSSA_STATUS_OK) st = index_shards(path, wmap, &shards, &n_shards);
    char shard_path[ST_PATH_CAP];
    for (size_t i = 0; st == GLOSSA_STATUS_OK && i < n_shards; i++) {
        st = path_join(shard_path, sizeof shard_path, dir, shards[i]);
        if (st == GLOSSA_STATUS_OK && !file_exists(shard_path))
            st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: shard %s is missing", path, shards[i]);
        if (st == GLOSSA_STATUS_OK) st = open_shard(s, shard_path);
    }
    if (st == GLOSSA_STATUS_OK) st = set_index(s);
    if (st == GLOSSA_STATUS_OK) st = index_verify(s, path, wmap, shards, n_shards);
    free(shards);
    json_decref(root);
    return st;
}

static bool has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n > k && !strcmp(name + n - k, suffix);
}

/* No safetensors: UNSUPPORTED when another weight format is present, else NOT_FOUND. */
static glossa_status no_safetensors(const char *dir)
{
    static const char *const other[] = {".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack"};
    DIR *d = opendir(dir);
    if (!d) return glossa_error(GLOSSA_STATUS_NOT_FOUND, "%s: not a readable directory", dir);
    char found[256] = "";
    for (struct dirent *e; !found[0] && (e = readdir(d)) != NULL;) {
        for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
            if (has_suffix(e->d_name, other[i])) {
                snprintf(found, sizeof found, "%s", e->d_name);
                break;
            }
        }
    }
    closedir(d);
    if (found[0])
        return glossa_error(GLOSSA_STATUS_UNSUPPORTED,
                            "%s: weights are in %s, which glossa does not read; convert them to safetensors: "
                            "model.save_pretrained(dir, safe_serialization=True) in transformers, or the "
                            "safetensors convert script (convert.py)", dir, found);
    return glossa_error(GLOSSA_STATUS_NOT_FOUND, "%s: no model.safetensors or model.safetensors.index.json", dir);
}

glossa_status st_set_open_dir(const char *dir, st_set **out)
{
    *out = NULL;
    if (!dir) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "st_set_open_dir: NULL dir");
    char path[ST_PATH_CAP];
    GLOSSA_TRY(path_join(path, sizeof path, dir, "model.safetensors"));
    if (file_exists(path)) return st_set_open_file(path, out);
    GLOSSA_TRY(path_join(path, sizeof path, dir, "model.safetensors.index.json"));
    if (!file_exists(path)) return no_safetensors(dir);
    st_set *s = NULL;
    GLOSSA_TRY(set_new(&s));
    glossa_status st = open_index(s, dir, path);
    if (st != GLOSSA_STATUS_OK) {
        st_set_free(s);
        return st;
    }
    *out = s;
    return GLOSSA_STATUS_OK;
}

/* ---- lookups ---- */

size_t st_set_count(const st_set *s)
{
    return s ? s->n : 0;
}

const st_tensor *st_set_at(const st_set *s, size_t i)
{
    return s && i < s->n ? &s->tensors[i] : NULL;
}

static int cmp_find(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const st_name_ix *)elem)->name);
}

const st_tensor *st_set_find(const st_set *s, const char *name)
{
    if (!s || !name || !s->by_name) return NULL;
    const st_name_ix *hit = bsearch(name, s->by_name, s->n, sizeof *s->by_name, cmp_find);
    return hit ? &s->tensors[hit->index] : NULL;
}

const char *st_set_metadata(const st_set *s, const char *key)
{
    if (!s || !key) return NULL;
    for (size_t i = 0; i < s->n_meta; i++)
        if (!strcmp(s->meta[i].key, key)) return s->meta[i].value;
    return NULL;
}
