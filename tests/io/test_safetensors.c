/* safetensors reader: valid files built byte by byte (F32/F16/BF16, scalars, empty tensors,
 * metadata, sharded directories) and malformed ones (every truncation, absurd header lengths,
 * bad JSON, offsets, shapes, dtypes, overlaps, duplicate names, hostile shard names). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "test.h"

/* 8-byte little-endian header length + header + data, in a malloc'd buffer. */
static unsigned char *mk(const char *header, const void *data, size_t n, size_t *size)
{
    size_t h = strlen(header);
    unsigned char *b = malloc(8 + h + n + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    if (n) memcpy(b + 8 + h, data, n);
    *size = 8 + h + n;
    return b;
}

/* Open header + data from a buffer; returns the status, frees everything. */
static glossa_status try_open(const char *header, const void *data, size_t n)
{
    size_t size;
    unsigned char *b = mk(header, data, n, &size);
    st_set *s = NULL;
    glossa_status st = st_set_open_buffer(b, size, "t.safetensors", &s);
    if (st == GLOSSA_STATUS_OK) CHECK(s != NULL);
    else CHECK(s == NULL);
    st_set_free(s);
    free(b);
    return st;
}

static const char g_valid_header[] =
    "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"x\"},"
    "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[24,28]},"
    "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[28,32]},"
    "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[32,36]},"
    "\"e\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[36,36]},"
    "\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[40,48]}}    ";

static void valid_data(unsigned char *d)
{
    float w[6] = {1, 2, 3, 4, 5, 6};
    uint16_t h[2] = {0x3c00, 0xc000};   /* 1.0, -2.0 */
    uint16_t bf[2] = {0x3f80, 0x4040};  /* 1.0, 3.0 */
    float s = 42.5f;
    int64_t i = -7;
    memset(d, 0, 48);
    memcpy(d, w, 24);
    memcpy(d + 24, h, 4);
    memcpy(d + 28, bf, 4);
    memcpy(d + 32, &s, 4);
    memcpy(d + 40, &i, 8); /* 36..40 is a hole: allowed */
}

static void test_valid(void)
{
    unsigned char d[48];
    valid_data(d);
    size_t size;
    unsigned char *b = mk(g_valid_header, d, sizeof d, &size);
    st_set *s = NULL;
    CHECK_OK(st_set_open_buffer(b, size, "valid", &s));
    if (!s) {
        free(b);
        return;
    }
    CHECK(st_set_count(s) == 6);
    const st_tensor *w = st_set_find(s, "w");
    CHECK(w && w->dtype == ST_DTYPE_F32 && w->ndim == 2 && w->shape[0] == 2 && w->shape[1] == 3);
    CHECK(w && w->numel == 6 && w->nbytes == 24);
    float wv[6];
    if (w) memcpy(wv, w->data, sizeof wv);
    CHECK(w && wv[0] == 1 && wv[5] == 6);
    const st_tensor *h = st_set_find(s, "h");
    uint16_t hv[2] = {0, 0};
    if (h) memcpy(hv, h->data, 4);
    CHECK(h && h->dtype == ST_DTYPE_F16 && h->nbytes == 4 && hv[0] == 0x3c00 && hv[1] == 0xc000);
    const st_tensor *bf = st_set_find(s, "b");
    CHECK(bf && bf->dtype == ST_DTYPE_BF16 && bf->numel == 2 && bf->ndim == 2);
    const st_tensor *sc = st_set_find(s, "s");
    float sv = 0;
    if (sc) memcpy(&sv, sc->data, 4);
    CHECK(sc && sc->ndim == 0 && sc->numel == 1 && sc->nbytes == 4 && sv == 42.5f);
    const st_tensor *e = st_set_find(s, "e");
    CHECK(e && e->numel == 0 && e->nbytes == 0 && e->ndim == 2 && e->shape[1] == 4);
    const st_tensor *i = st_set_find(s, "i");
    int64_t iv = 0;
    if (i) memcpy(&iv, i->data, 8);
    CHECK(i && i->dtype == ST_DTYPE_I64 && iv == -7);
    CHECK(st_set_find(s, "missing") == NULL);
    CHECK(st_set_find(s, "__metadata__") == NULL);
    CHECK(st_set_find(s, "") == NULL);
    CHECK_STREQ(st_set_metadata(s, "format"), "pt");
    CHECK_STREQ(st_set_metadata(s, "note"), "x");
    CHECK(st_set_metadata(s, "nope") == NULL);
    size_t seen = 0;
    for (size_t k = 0; k < st_set_count(s); k++) {
        const st_tensor *t = st_set_at(s, k);
        CHECK(t && st_set_find(s, t->name) == t);
        seen++;
    }
    CHECK(seen == 6);
    CHECK(st_set_at(s, 6) == NULL);
    st_set_free(s);

    /* every truncation is refused, none faults */
    int bad = 0;
    for (size_t cut = 0; cut < size; cut++) {
        s = NULL;
        glossa_status st = st_set_open_buffer(b, cut, "cut", &s);
        if (st != GLOSSA_STATUS_BAD_MODEL) bad++;
        st_set_free(s);
    }
    CHECK_MSG(bad == 0, "%d truncations were not BAD_MODEL", bad);
    free(b);

    /* an empty header, a header with only metadata */
    CHECK_OK(try_open("{}", NULL, 0));
    CHECK_OK(try_open("{\"__metadata__\":{}}", NULL, 0));
    CHECK(st_dtype_size(ST_DTYPE_BF16) == 2 && st_dtype_size(ST_DTYPE_F64) == 8 && st_dtype_size(ST_DTYPE_BOOL) == 1);
    CHECK_STREQ(st_dtype_name(ST_DTYPE_F8_E4M3), "F8_E4M3");
    CHECK_STREQ(st_dtype_name(ST_DTYPE_BF16), "BF16");
    CHECK(st_dtype_size(ST_DTYPE_COUNT_) == 0);
}

static void test_header_length(void)
{
    unsigned char b[16] = {0};
    st_set *s = NULL;
    CHECK_STATUS(st_set_open_buffer(b, 0, "empty", &s), GLOSSA_STATUS_BAD_MODEL);
    CHECK_STATUS(st_set_open_buffer(b, 7, "short", &s), GLOSSA_STATUS_BAD_MODEL);
    memset(b, 0xff, 8); /* 2^64 - 1 */
    CHECK_STATUS(st_set_open_buffer(b, sizeof b, "huge", &s), GLOSSA_STATUS_BAD_MODEL);
    memset(b, 0, 8);
    b[3] = 0x10; /* 268 MB: over the 100 MB cap */
    CHECK_STATUS(st_set_open_buffer(b, sizeof b, "cap", &s), GLOSSA_STATUS_BAD_MODEL);
    CHECK(strstr(glossa_last_error(), "limit") != NULL);
    memset(b, 0, 8);
    b[0] = 9; /* 9 > 8 bytes left */
    memcpy(b + 8, "{}      ", 8);
    CHECK_STATUS(st_set_open_buffer(b, sizeof b, "past", &s), GLOSSA_STATUS_BAD_MODEL);
    b[0] = 0; /* zero-length header */
    CHECK_STATUS(st_set_open_buffer(b, sizeof b, "zero", &s), GLOSSA_STATUS_BAD_MODEL);
    CHECK(s == NULL);
}

static void test_bad_headers(void)
{
    unsigned char d[64] = {0};
    const glossa_status BAD = GLOSSA_STATUS_BAD_MODEL;
    CHECK_STATUS(try_open("not json", d, 0), BAD);
    CHECK_STATUS(try_open("{\"a\":", d, 0), BAD);
    CHECK_STATUS(try_open("[1,2]", d, 0), BAD);
    CHECK_STATUS(try_open(" {}", d, 0), BAD); /* must start with '{' */
    CHECK_STATUS(try_open("{\"a\":1}", d, 0), BAD);
    CHECK_STATUS(try_open("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", d, 4), BAD);
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", d, 4), BAD);
    /* offsets */
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 4), BAD);
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", d, 8), BAD);
    CHECK(strstr(glossa_last_error(), "\"a\"") != NULL);
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", d, 8), BAD);
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", d, 8), BAD);
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", d, 8), BAD);
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", d, 8), BAD);
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.0,4]}}", d, 8), BAD);
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", d, 8), BAD);
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
                          "\"data_offsets\":[9223372036854775800,9223372036854775804]}}", d, 8), BAD);
    /* shapes */
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", d, 4), BAD);
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", d, 4), BAD);
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", d, 4), BAD);
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", d, 4), BAD);
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,4]}}", d, 4), BAD);
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,4]}}", d, 4), BAD);
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", d, 4),
                 GLOSSA_STATUS_UNSUPPORTED);
    CHECK_OK(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", d, 4));
    /* dtypes */
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", d, 4), BAD);
    CHECK(strstr(glossa_last_error(), "F33") != NULL);
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", d, 4), BAD);
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"U32\",\"shape\":[1],\"data_offsets\":[0,4]}}", d, 4),
                 GLOSSA_STATUS_UNSUPPORTED);
    /* overlaps, duplicates, metadata */
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                          "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", d, 12), BAD);
    CHECK(strstr(glossa_last_error(), "overlap") != NULL);
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                          "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8), BAD);
    CHECK_OK(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8));
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                          "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", d, 8), BAD);
    CHECK_STATUS(try_open("{\"__metadata__\":{\"k\":1}}", d, 0), BAD);
    CHECK_STATUS(try_open("{\"__metadata__\":[]}", d, 0), BAD);
    CHECK_STATUS(try_open("{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", d, 4), BAD);
    CHECK_STATUS(try_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}\x01", d, 4), BAD);
}

/* ---- files and directories ---- */

static char g_tmp[256];

static void write_file(const char *dir, const char *name, const void *data, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

static void write_st(const char *dir, const char *name, const char *header, const void *data, size_t n)
{
    size_t size;
    unsigned char *b = mk(header, data, n, &size);
    write_file(dir, name, b, size);
    free(b);
}

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    char sub[1024];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        rm_tree(sub);
    }
    closedir(d);
    rmdir(path);
}

static const char *subdir(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", g_tmp, name);
    mkdir(path, 0700);
    return path;
}

static glossa_status try_dir(const char *dir)
{
    st_set *s = NULL;
    glossa_status st = st_set_open_dir(dir, &s);
    CHECK((st == GLOSSA_STATUS_OK) == (s != NULL));
    st_set_free(s);
    return st;
}

static const char SHARD1[] = "{\"__metadata__\":{\"format\":\"pt\"},"
                             "\"enc.w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
static const char SHARD2[] = "{\"dec.w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                             "\"dec.b\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[4,6]}}";
static const char INDEX[] = "{\"metadata\":{\"total_size\":14},\"weight_map\":{"
                            "\"enc.w\":\"model-00001-of-00002.safetensors\","
                            "\"dec.w\":\"model-00002-of-00002.safetensors\","
                            "\"dec.b\":\"model-00002-of-00002.safetensors\"}}";

static void make_sharded(const char *dir, const char *index)
{
    float w[2] = {0.5f, -1.5f};
    unsigned char d2[6] = {0, 0x3c, 0, 0xc0, 0x80, 0x3f};
    write_st(dir, "model-00001-of-00002.safetensors", SHARD1, w, sizeof w);
    write_st(dir, "model-00002-of-00002.safetensors", SHARD2, d2, sizeof d2);
    write_file(dir, "model.safetensors.index.json", index, strlen(index));
}

static void test_files(void)
{
    unsigned char d[48];
    valid_data(d);
    const char *dir = subdir("single");
    write_st(dir, "model.safetensors", g_valid_header, d, sizeof d);
    write_file(dir, "pytorch_model.bin", "x", 1); /* safetensors wins */
    st_set *s = NULL;
    CHECK_OK(st_set_open_dir(dir, &s));
    CHECK(s && st_set_count(s) == 6 && st_set_find(s, "w") != NULL);
    CHECK(s && st_set_metadata(s, "format") != NULL);
    st_set_free(s);
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    s = NULL;
    CHECK_OK(st_set_open_file(path, &s));
    CHECK(s && st_set_count(s) == 6);
    st_set_free(s);
    snprintf(path, sizeof path, "%s/nope.safetensors", dir);
    s = NULL;
    CHECK_STATUS(st_set_open_file(path, &s), GLOSSA_STATUS_IO_ERROR);
    write_st(dir, "bad.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[9],\"data_offsets\":[0,36]}}", d, 8);
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    CHECK_STATUS(st_set_open_file(path, &s), GLOSSA_STATUS_BAD_MODEL);
    CHECK(strstr(glossa_last_error(), "bad.safetensors") != NULL);
    write_file(dir, "empty.safetensors", "", 0);
    snprintf(path, sizeof path, "%s/empty.safetensors", dir);
    CHECK_STATUS(st_set_open_file(path, &s), GLOSSA_STATUS_BAD_MODEL);

    dir = subdir("sharded");
    make_sharded(dir, INDEX);
    s = NULL;
    CHECK_OK(st_set_open_dir(dir, &s));
    CHECK(s && st_set_count(s) == 3);
    const st_tensor *t = st_set_find(s, "enc.w");
    float ev[2] = {0, 0};
    if (t) memcpy(ev, t->data, 8);
    CHECK(t && t->dtype == ST_DTYPE_F32 && ev[1] == -1.5f);
    t = st_set_find(s, "dec.b");
    CHECK(t && t->dtype == ST_DTYPE_BF16 && t->ndim == 0 && ((const unsigned char *)t->data)[1] == 0x3f);
    CHECK(s && st_set_find(s, "dec.w") != NULL);
    CHECK_STREQ(st_set_metadata(s, "format"), "pt");
    st_set_free(s);
}

static void test_bad_dirs(void)
{
    const char *dir = subdir("dup");
    make_sharded(dir, INDEX);
    write_st(dir, "model-00002-of-00002.safetensors",
             "{\"enc.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"dec.w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[4,8]},"
             "\"dec.b\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[8,10]}}", "0123456789", 10);
    CHECK_STATUS(try_dir(dir), GLOSSA_STATUS_BAD_MODEL);
    CHECK(strstr(glossa_last_error(), "enc.w") != NULL);

    static const char *const bad_index[] = {
        "{\"weight_map\":{\"enc.w\":\"../model-00001-of-00002.safetensors\"}}",
        "{\"weight_map\":{\"enc.w\":\"sub/model.safetensors\"}}",
        "{\"weight_map\":{\"enc.w\":\"/etc/passwd\"}}",
        "{\"weight_map\":{\"enc.w\":\"..\"}}",
        "{\"weight_map\":{\"enc.w\":\"\"}}",
        "{\"weight_map\":{\"enc.w\":3}}",
        "{\"weight_map\":[]}",
        "{\"weight_map\":{}}",
        "{\"metadata\":{}}",
        "not json",
        "[]",
        "{\"weight_map\":{\"enc.w\":\"missing.safetensors\"}}",
        /* a listed tensor absent from its shard, and one listed under the wrong shard */
        "{\"weight_map\":{\"enc.x\":\"model-00001-of-00002.safetensors\"}}",
        ("{\"weight_map\":{\"enc.w\":\"model-00002-of-00002.safetensors\","
         "\"dec.w\":\"model-00002-of-00002.safetensors\"}}"),
    };
    char name[32];
    for (size_t i = 0; i < sizeof bad_index / sizeof bad_index[0]; i++) {
        snprintf(name, sizeof name, "badidx%zu", i);
        dir = subdir(name);
        make_sharded(dir, bad_index[i]);
        CHECK_MSG(try_dir(dir) == GLOSSA_STATUS_BAD_MODEL, "index %zu: %s", i, glossa_last_error());
    }
    dir = subdir("badidx0");
    try_dir(dir);
    CHECK(strstr(glossa_last_error(), "plain file name") != NULL);

    /* a bad shard is reported with its name */
    dir = subdir("badshard");
    make_sharded(dir, INDEX);
    write_st(dir, "model-00002-of-00002.safetensors", "{\"dec.w\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}",
             "0123", 4);
    CHECK_STATUS(try_dir(dir), GLOSSA_STATUS_BAD_MODEL);
    CHECK(strstr(glossa_last_error(), "model-00002-of-00002.safetensors") != NULL);

    dir = subdir("torch");
    write_file(dir, "config.json", "{}", 2);
    write_file(dir, "pytorch_model.bin", "PK", 2);
    CHECK_STATUS(try_dir(dir), GLOSSA_STATUS_UNSUPPORTED);
    CHECK(strstr(glossa_last_error(), "safetensors") != NULL);
    CHECK(strstr(glossa_last_error(), "pytorch_model.bin") != NULL);
    dir = subdir("ckpt");
    write_file(dir, "model.ckpt", "x", 1);
    CHECK_STATUS(try_dir(dir), GLOSSA_STATUS_UNSUPPORTED);
    dir = subdir("none");
    write_file(dir, "config.json", "{}", 2);
    CHECK_STATUS(try_dir(dir), GLOSSA_STATUS_NOT_FOUND);
    CHECK_STATUS(try_dir(subdir("empty")), GLOSSA_STATUS_NOT_FOUND);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/does-not-exist", g_tmp);
    CHECK_STATUS(try_dir(missing), GLOSSA_STATUS_NOT_FOUND);
}

/* st_write_file (safetensors_write.c) -> reader: names with escapes, all shapes, metadata. */
static void test_roundtrip(void)
{
    float a[6] = {1, -2, 3, -4, 5, -6};
    uint16_t h[3] = {0x3c00, 0x4000, 0x4200};
    float sc = 0.25f;
    st_write_tensor t[4] = {
        {.name = "enc.layers.0.w", .dtype = ST_DTYPE_F32, .ndim = 2, .shape = {2, 3}, .data = a},
        {.name = "quo\"te\\ü", .dtype = ST_DTYPE_F16, .ndim = 1, .shape = {3}, .data = h},
        {.name = "scalar", .dtype = ST_DTYPE_F32, .ndim = 0, .data = &sc},
        {.name = "empty", .dtype = ST_DTYPE_BF16, .ndim = 2, .shape = {0, 5}, .data = NULL},
    };
    const char *keys[] = {"format"}, *vals[] = {"pt"};
    char path[600];
    snprintf(path, sizeof path, "%s/rt.safetensors", g_tmp);
    CHECK_OK(st_write_file(path, t, 4, keys, vals, 1));
    st_set *s = NULL;
    CHECK_OK(st_set_open_file(path, &s));
    CHECK(s && st_set_count(s) == 4);
    for (size_t i = 0; s && i < 4; i++) {
        const st_tensor *r = st_set_find(s, t[i].name);
        CHECK_MSG(r != NULL, "%s missing", t[i].name);
        if (!r) continue;
        CHECK(r->dtype == t[i].dtype && r->ndim == t[i].ndim);
        for (int d = 0; d < r->ndim; d++) CHECK(r->shape[d] == t[i].shape[d]);
        CHECK(r->nbytes == 0 || memcmp(r->data, t[i].data, r->nbytes) == 0);
    }
    CHECK_STREQ(st_set_metadata(s, "format"), "pt");
    st_set_free(s);
}

int main(void)
{
    test_valid();
    test_header_length();
    test_bad_headers();
    snprintf(g_tmp, sizeof g_tmp, "/tmp/glossa_st_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        fprintf(stderr, "mkdtemp failed\n");
        return 1;
    }
    test_files();
    test_bad_dirs();
    test_roundtrip();
    rm_tree(g_tmp);
    TEST_MAIN_END();
}
