/* libFuzzer target: the safetensors reader on arbitrary bytes. A file that opens must hand out
 * tensors whose every byte lies inside the buffer (ASan checks each read), findable by name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy so that ASan sees any read past the end */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    st_set *s = NULL;
    if (st_set_open_buffer(copy, size, "fuzz", &s) == GLOSSA_STATUS_OK) {
        volatile unsigned sum = 0;
        for (size_t i = 0; i < st_set_count(s); i++) {
            const st_tensor *t = st_set_at(s, i);
            const unsigned char *p = t->data;
            for (size_t k = 0; k < t->nbytes; k++) sum += p[k];
            if (t->nbytes != (size_t)t->numel * st_dtype_size(t->dtype)) abort();
            if (st_set_find(s, t->name) != t) abort();
            st_dtype_name(t->dtype);
        }
        st_set_find(s, "");
        st_set_metadata(s, "format");
        (void)sum;
        st_set_free(s);
    }
    free(copy);
    return 0;
}
