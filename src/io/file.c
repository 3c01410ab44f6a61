#define _POSIX_C_SOURCE 200809L
#include "io/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/status.h"

glossa_status file_read_all(const char *path, size_t max_size, char **data_out, size_t *size_out)
{
    *data_out = NULL;
    *size_out = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return glossa_error(GLOSSA_STATUS_IO_ERROR, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return glossa_error(GLOSSA_STATUS_IO_ERROR, "%s: not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max_size) {
        fclose(f);
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: file of %lld bytes is over the %zu byte limit",
                            path, (long long)st.st_size, max_size);
    }
    size_t size = (size_t)st.st_size;
    char *data = malloc(size + 1);
    if (!data) {
        fclose(f);
        return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", path, size);
    }
    size_t got = size ? fread(data, 1, size, f) : 0;
    fclose(f);
    if (got != size) {
        free(data);
        return glossa_error(GLOSSA_STATUS_IO_ERROR, "%s: short read", path);
    }
    data[size] = '\0';
    *data_out = data;
    *size_out = size;
    return GLOSSA_STATUS_OK;
}

glossa_status file_map_open(const char *path, file_map *m)
{
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return glossa_error(GLOSSA_STATUS_IO_ERROR, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return glossa_error(GLOSSA_STATUS_IO_ERROR, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    if (size == 0) {
        close(fd);
        m->data = (const unsigned char *)"";
        return GLOSSA_STATUS_OK;
    }
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return glossa_error(GLOSSA_STATUS_IO_ERROR, "%s: mmap: %s", path, strerror(errno));
    m->data = p;
    m->size = size;
    m->base_ = p;
    m->mapped_ = 1;
    return GLOSSA_STATUS_OK;
}

void file_map_close(file_map *m)
{
    if (m->mapped_) munmap(m->base_, m->size);
    memset(m, 0, sizeof *m);
}

int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

glossa_status path_join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap) return glossa_error(GLOSSA_STATUS_BAD_INPUT, "path too long: %s/%s", dir, name);
    return GLOSSA_STATUS_OK;
}
