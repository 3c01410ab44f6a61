/* Included first by the CPU kernel files: at -O2, GCC 12 vectorises only loops whose trip count
 * is a known multiple of the vector width ("very-cheap" cost model). The kernels' inner loops have
 * runtime lengths, so let GCC vectorise them with its normal cost model (no -ffast-math: results
 * are the same as the scalar loops; only reductions-free loops vectorise). */
#ifndef GLOSSA_BACKEND_CPU_VEC_H
#define GLOSSA_BACKEND_CPU_VEC_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

#endif
