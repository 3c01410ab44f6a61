/* Comparing two finished requests (tests over the public API). */
#ifndef GLOSSA_TEST_RESULTS_H
#define GLOSSA_TEST_RESULTS_H

#include <math.h>
#include <string.h>

#include "glossa.h"

/* Both hold results, as many, with the same ids and scores within tol (relative). */
static inline int test_same_results(const glossa_request *a, const glossa_request *b, float tol)
{
    size_t na = glossa_request_result_count(a), nb = glossa_request_result_count(b);
    if (na != nb || na == 0) return 0;
    for (size_t j = 0; j < na; j++) {
        const int32_t *x, *y;
        size_t lx, ly;
        float sx, sy;
        glossa_request_result(a, j, &x, &lx, &sx);
        glossa_request_result(b, j, &y, &ly, &sy);
        if (lx != ly || memcmp(x, y, lx * sizeof *x) || fabsf(sx - sy) > tol * (1 + fabsf(sx)))
            return 0;
    }
    return 1;
}

#endif
