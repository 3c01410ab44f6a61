/* Arena allocator: bump allocation from chunks, freed all at once. For model-lifetime data
 * (pieces, tables) and per-call scratch that is reset between calls. */
#ifndef GLOSSA_CORE_ARENA_H
#define GLOSSA_CORE_ARENA_H

#include <stddef.h>

typedef struct arena_chunk arena_chunk;

typedef struct arena {
    arena_chunk *head;     /* current chunk (newest first) */
    size_t chunk_size;     /* default size of a new chunk */
    size_t total;          /* bytes allocated from the system */
} arena;

void arena_init(arena *a, size_t chunk_size);
/* Returns NULL on out-of-memory (or overflow of n). Memory is 16-byte aligned. */
void *arena_alloc(arena *a, size_t n);
void *arena_calloc(arena *a, size_t count, size_t size);
char *arena_strndup(arena *a, const char *s, size_t n);
/* Keep the largest chunk, drop the rest, make everything free again. */
void arena_reset(arena *a);
void arena_free(arena *a);

#endif
