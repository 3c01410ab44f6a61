#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "glossa.h"

int cli_fail(const char *what)
{
    fprintf(stderr, "glossa: %s: %s\n", what, glossa_last_error());
    return 1;
}

char *cli_read_all(FILE *f, size_t *len)
{
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n == cap) {
            char *p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                return NULL;
            }
            buf = p;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    *len = n;
    return buf;
}

int cli_parse_dtype(const char *s, bool *bf16)
{
    if (!strcmp(s, "fp16") || !strcmp(s, "float16")) *bf16 = false;
    else if (!strcmp(s, "bf16") || !strcmp(s, "bfloat16")) *bf16 = true;
    else return -1;
    return 0;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool is_model_dir(const char *dir)
{
    char path[PATH_MAX];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/config.json", dir);
    return n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

const char *cli_default_model(void)
{
    static char found[PATH_MAX];
    const char *env = getenv("GLOSSA_MODEL");
    if (env && *env) return env;
#ifdef GLOSSA_SOURCE_MODEL_DIR
    if (is_model_dir(GLOSSA_SOURCE_MODEL_DIR)) return GLOSSA_SOURCE_MODEL_DIR;
#endif
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return NULL;
    *slash = '\0';
    static const char *const rel[] = {"/../models/glossa-demo", "/../share/glossa/models/glossa-demo"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        int k = snprintf(found, sizeof found, "%s%s", exe, rel[i]);
        if (k > 0 && (size_t)k < sizeof found && is_model_dir(found)) return found;
    }
    return NULL;
}
