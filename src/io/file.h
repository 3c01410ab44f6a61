/* Reading whole files and mapping them read-only, with size caps. */
#ifndef GLOSSA_IO_FILE_H
#define GLOSSA_IO_FILE_H

#include <stddef.h>

#include "glossa.h"

/* Read a whole file into a malloc'd, NUL-terminated buffer. Files over max_size bytes are
 * refused with BAD_MODEL (absurd sizes are an error, not an allocation). */
glossa_status file_read_all(const char *path, size_t max_size, char **data_out, size_t *size_out);

typedef struct file_map {
    const unsigned char *data;
    size_t size;
    void *base_; /* mmap base, or malloc'd copy when mapping is not possible */
    int mapped_;
} file_map;

glossa_status file_map_open(const char *path, file_map *m);
void file_map_close(file_map *m);

/* True when path names an existing regular file. */
int file_exists(const char *path);

/* dir + "/" + name into out (size cap); BAD_INPUT when too long. */
glossa_status path_join(char *out, size_t cap, const char *dir, const char *name);

#endif
