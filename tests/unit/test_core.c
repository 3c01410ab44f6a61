/* core: utf8 decoding with sentencepiece's conventions, arena, buffers, errors. */
#include "core/arena.h"
#include "core/buf.h"
#include "core/status.h"
#include "core/utf8.h"
#include "test.h"

static void test_utf8(void)
{
    size_t l;
    CHECK(utf8_decode("a", 1, &l) == 'a' && l == 1);
    CHECK(utf8_decode("\xC3\xA9", 2, &l) == 0xE9 && l == 2);
    CHECK(utf8_decode("\xE4\xBD\xA0", 3, &l) == 0x4F60 && l == 3);
    CHECK(utf8_decode("\xF0\x9F\x98\x80", 4, &l) == 0x1F600 && l == 4);
    /* truncated, overlong, surrogate, lone continuation, beyond U+10FFFF: U+FFFD, one byte */
    CHECK(utf8_decode("\xE4\xBD", 2, &l) == UTF8_REPLACEMENT && l == 1);
    CHECK(utf8_decode("\xC0\x80", 2, &l) == UTF8_REPLACEMENT && l == 1);
    CHECK(utf8_decode("\xED\xA0\x80", 3, &l) == UTF8_REPLACEMENT && l == 1);
    CHECK(utf8_decode("\x80", 1, &l) == UTF8_REPLACEMENT && l == 1);
    CHECK(utf8_decode("\xF4\x90\x80\x80", 4, &l) == UTF8_REPLACEMENT && l == 1);
    CHECK(utf8_is_valid_at("\xEF\xBF\xBD", 3, &l) && l == 3);
    CHECK(!utf8_valid("ab\xFF", 3));
    CHECK(utf8_valid("日本語", strlen("日本語")));
    char out[4];
    CHECK(utf8_encode(0x20AC, out) == 3 && memcmp(out, "\xE2\x82\xAC", 3) == 0);
    CHECK(utf8_encode(0xD800, out) == 3 && memcmp(out, "\xEF\xBF\xBD", 3) == 0);
}

static void test_arena_buf(void)
{
    arena a;
    arena_init(&a, 64);
    char *s = arena_strndup(&a, "hello", 5);
    CHECK_STREQ(s, "hello");
    void *big = arena_alloc(&a, 1000);
    CHECK(big != NULL && ((uintptr_t)big & 15) == 0);
    CHECK(arena_alloc(&a, SIZE_MAX) == NULL);
    arena_reset(&a);
    CHECK(arena_alloc(&a, 10) != NULL);
    arena_free(&a);

    strbuf b = {0};
    for (int i = 0; i < 1000; i++) CHECK_OK(strbuf_appendc(&b, 'x'));
    CHECK(b.len == 1000 && b.data[1000] == '\0');
    strbuf_free(&b);
    idvec v = {0};
    for (int i = 0; i < 1000; i++) CHECK_OK(idvec_push(&v, i));
    CHECK(v.len == 1000 && v.data[999] == 999);
    idvec_free(&v);
}

static void test_errors(void)
{
    glossa_error_clear();
    CHECK_STREQ(glossa_last_error(), "");
    CHECK(glossa_error(GLOSSA_STATUS_BAD_MODEL, "piece %d", 7) == GLOSSA_STATUS_BAD_MODEL);
    CHECK_STREQ(glossa_last_error(), "piece 7");
    glossa_error_prefix(GLOSSA_STATUS_BAD_MODEL, "x.model: ");
    CHECK_STREQ(glossa_last_error(), "x.model: piece 7");
    CHECK_STREQ(glossa_status_name(GLOSSA_STATUS_IO_ERROR), "GLOSSA_STATUS_IO_ERROR");
}

int main(void)
{
    test_utf8();
    test_arena_buf();
    test_errors();
    TEST_MAIN_END();
}
