/* Minimal test harness: CHECK records failures and goes on; TEST_MAIN reports and sets the exit
 * code. ctest runs each test executable. */
#ifndef GLOSSA_TEST_H
#define GLOSSA_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures_;
static int test_checks_;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        test_checks_++;                                                                            \
        if (!(cond)) {                                                                             \
            test_failures_++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        test_checks_++;                                                                            \
        if (!(cond)) {                                                                             \
            test_failures_++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        glossa_status st_ = (expr);                                                                \
        CHECK_MSG(st_ == GLOSSA_STATUS_OK, "%s: %s", glossa_status_name(st_), glossa_last_error()); \
    } while (0)

#define CHECK_STATUS(expr, want)                                                                   \
    do {                                                                                           \
        glossa_status st_ = (expr);                                                                \
        CHECK_MSG(st_ == (want), "got %s (%s), want %s", glossa_status_name(st_),                  \
                  glossa_last_error(), glossa_status_name(want));                                  \
    } while (0)

#define CHECK_STREQ(a, b)                                                                          \
    do {                                                                                           \
        const char *sa_ = (a), *sb_ = (b);                                                         \
        CHECK_MSG(sa_ && sb_ && strcmp(sa_, sb_) == 0, "\"%s\" != \"%s\"", sa_ ? sa_ : "(null)",   \
                  sb_ ? sb_ : "(null)");                                                           \
    } while (0)

/* Remove a test's temporary directory tree (a message, not a failure, when it cannot). */
static inline void test_rm_tree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

#define TEST_MAIN_END()                                                                            \
    do {                                                                                           \
        printf("%d checks, %d failed\n", test_checks_, test_failures_);                            \
        return test_failures_ ? 1 : 0;                                                             \
    } while (0)

#endif
