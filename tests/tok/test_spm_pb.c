/* Protocol-buffers wire reader: varints, lengths, fixed fields, groups, and malformed input. */
#include <stdint.h>
#include <string.h>

#include "core/status.h"
#include "test.h"
#include "tok/pb.h"

/* Read all fields of buf; returns the status, *count the fields seen. */
static glossa_status read_all(const uint8_t *buf, size_t n, pb_field *fields, int max, int *count)
{
    pb_reader r = pb_reader_init(buf, n);
    int more;
    *count = 0;
    for (;;) {
        pb_field f;
        glossa_status st = pb_next(&r, &f, &more);
        if (st != GLOSSA_STATUS_OK) return st;
        if (!more) return GLOSSA_STATUS_OK;
        if (*count < max) fields[*count] = f;
        (*count)++;
    }
}

static void test_varints(void)
{
    /* field 1 varint 300; field 2 varint -1 as int32 (10 bytes); field 3 varint max uint64 */
    const uint8_t buf[] = {0x08, 0xAC, 0x02,
                           0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01,
                           0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    pb_field f[4];
    int n;
    CHECK_OK(read_all(buf, sizeof buf, f, 4, &n));
    CHECK(n == 3);
    CHECK(f[0].number == 1 && f[0].wire == PB_WIRE_VARINT && f[0].u64 == 300);
    int32_t v;
    CHECK_OK(pb_field_int32(&f[1], "x", &v));
    CHECK(v == -1);
    CHECK(f[2].u64 == UINT64_MAX);
    bool b;
    CHECK_OK(pb_field_bool(&f[0], "b", &b));
    CHECK(b);

    /* 11-byte varint */
    const uint8_t longv[] = {0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    CHECK_STATUS(read_all(longv, sizeof longv, f, 4, &n), GLOSSA_STATUS_BAD_MODEL);
    /* truncated varint value and truncated tag */
    const uint8_t trunc[] = {0x08, 0x80};
    CHECK_STATUS(read_all(trunc, sizeof trunc, f, 4, &n), GLOSSA_STATUS_BAD_MODEL);
    const uint8_t trunc_tag[] = {0x88};
    CHECK_STATUS(read_all(trunc_tag, sizeof trunc_tag, f, 4, &n), GLOSSA_STATUS_BAD_MODEL);
}

static void test_lengths(void)
{
    const uint8_t ok[] = {0x0A, 0x03, 'a', 'b', 'c', 0x12, 0x00};
    pb_field f[4];
    int n;
    CHECK_OK(read_all(ok, sizeof ok, f, 4, &n));
    CHECK(n == 2);
    CHECK(f[0].len == 3 && memcmp(f[0].data, "abc", 3) == 0);
    CHECK(f[1].len == 0);
    const uint8_t *d;
    size_t l;
    CHECK_OK(pb_field_bytes(&f[0], "s", &d, &l));
    CHECK(l == 3);
    CHECK_STATUS(pb_field_int32(&f[0], "s", &(int32_t){0}), GLOSSA_STATUS_BAD_MODEL);

    /* length one past the end */
    const uint8_t past[] = {0x0A, 0x04, 'a', 'b', 'c'};
    CHECK_STATUS(read_all(past, sizeof past, f, 4, &n), GLOSSA_STATUS_BAD_MODEL);
    CHECK(strstr(glossa_last_error(), "past the end") != NULL);
    /* absurd length (2^62) */
    const uint8_t huge[] = {0x0A, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 'x'};
    CHECK_STATUS(read_all(huge, sizeof huge, f, 4, &n), GLOSSA_STATUS_BAD_MODEL);
    /* length that would wrap a pointer (2^64 - 1) */
    const uint8_t wrap[] = {0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 'x'};
    CHECK_STATUS(read_all(wrap, sizeof wrap, f, 4, &n), GLOSSA_STATUS_BAD_MODEL);
}

static void test_fixed(void)
{
    /* field 2 fixed32 1.5f, field 3 fixed64 */
    const uint8_t buf[] = {0x15, 0x00, 0x00, 0xC0, 0x3F, 0x19, 1, 2, 3, 4, 5, 6, 7, 8};
    pb_field f[4];
    int n;
    CHECK_OK(read_all(buf, sizeof buf, f, 4, &n));
    CHECK(n == 2);
    float x;
    CHECK_OK(pb_field_float(&f[0], "f", &x));
    CHECK(x == 1.5f);
    CHECK(f[1].wire == PB_WIRE_FIXED64 && f[1].u64 == 0x0807060504030201ull);
    CHECK_STATUS(pb_field_float(&f[1], "f", &x), GLOSSA_STATUS_BAD_MODEL);
    const uint8_t t32[] = {0x15, 0x00, 0x00, 0xC0};
    CHECK_STATUS(read_all(t32, sizeof t32, f, 4, &n), GLOSSA_STATUS_BAD_MODEL);
    const uint8_t t64[] = {0x19, 1, 2, 3, 4, 5, 6, 7};
    CHECK_STATUS(read_all(t64, sizeof t64, f, 4, &n), GLOSSA_STATUS_BAD_MODEL);
}

static void test_groups(void)
{
    /* field 1 varint, group 5 { field 1 varint, group 6 { len field } }, field 2 varint */
    const uint8_t buf[] = {0x08, 0x01, 0x2B, 0x08, 0x07, 0x33, 0x0A, 0x01, 'z', 0x34, 0x2C, 0x10, 0x02};
    pb_field f[4];
    int n;
    CHECK_OK(read_all(buf, sizeof buf, f, 4, &n));
    CHECK(n == 2);
    CHECK(f[0].number == 1 && f[1].number == 2 && f[1].u64 == 2);

    const uint8_t stray_end[] = {0x2C};
    CHECK_STATUS(read_all(stray_end, sizeof stray_end, f, 4, &n), GLOSSA_STATUS_BAD_MODEL);
    const uint8_t mismatched[] = {0x2B, 0x34};
    CHECK_STATUS(read_all(mismatched, sizeof mismatched, f, 4, &n), GLOSSA_STATUS_BAD_MODEL);
    const uint8_t unterminated[] = {0x2B, 0x08, 0x01};
    CHECK_STATUS(read_all(unterminated, sizeof unterminated, f, 4, &n), GLOSSA_STATUS_BAD_MODEL);
    /* 100 nested groups: over the depth limit, an error and no stack overflow */
    uint8_t deep[200];
    for (int i = 0; i < 100; i++) deep[i] = 0x0B;
    for (int i = 0; i < 100; i++) deep[100 + i] = 0x0C;
    CHECK_STATUS(read_all(deep, sizeof deep, f, 4, &n), GLOSSA_STATUS_BAD_MODEL);
    /* 60 nested groups are fine */
    uint8_t ok60[120];
    for (int i = 0; i < 60; i++) ok60[i] = 0x0B;
    for (int i = 0; i < 60; i++) ok60[60 + i] = 0x0C;
    CHECK_OK(read_all(ok60, sizeof ok60, f, 4, &n));
    CHECK(n == 0);
}

static void test_bad_tags(void)
{
    pb_field f[4];
    int n;
    const uint8_t wire6[] = {0x0E, 0x00};
    CHECK_STATUS(read_all(wire6, sizeof wire6, f, 4, &n), GLOSSA_STATUS_BAD_MODEL);
    const uint8_t wire7[] = {0x0F, 0x00};
    CHECK_STATUS(read_all(wire7, sizeof wire7, f, 4, &n), GLOSSA_STATUS_BAD_MODEL);
    const uint8_t field0[] = {0x00, 0x00};
    CHECK_STATUS(read_all(field0, sizeof field0, f, 4, &n), GLOSSA_STATUS_BAD_MODEL);
    /* empty message and NULL data */
    CHECK_OK(read_all(NULL, 0, f, 4, &n));
    CHECK(n == 0);
    /* the offset of a bad field is reported */
    const uint8_t late[] = {0x08, 0x01, 0x08, 0x02, 0x0A, 0x09, 'x'};
    CHECK_STATUS(read_all(late, sizeof late, f, 4, &n), GLOSSA_STATUS_BAD_MODEL);
    CHECK(strstr(glossa_last_error(), "offset 4") != NULL);
}

int main(void)
{
    test_varints();
    test_lengths();
    test_fixed();
    test_groups();
    test_bad_tags();
    TEST_MAIN_END();
}
