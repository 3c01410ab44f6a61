/* Included first by the CPU kernel files: at -O2, GCC 12 vectorises only loops whose trip count
 * is a known multiple of the vector width ("very-cheap" cost model). The kernels' inner loops have
 * runtime lengths, so let GCC vectorise them with its normal cost model. -fno-trapping-math (clang's
 * default) lets it if-convert float selects such as clamps; it changes no result, only whether FP
 * exception flags may be raised speculatively. No -ffast-math: vectorised loops give the same
 * bits as scalar ones, and float reductions stay scalar, in order. */
#ifndef GLOSSA_BACKEND_CPU_VEC_H
#define GLOSSA_BACKEND_CPU_VEC_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic", "no-trapping-math")
#endif

/* CPU_VEC_CLONES on a hot elementwise function: an AVX2 clone besides the baseline one, picked
 * once at load time (GNU ifunc; GCC, clang >= 14, x86-64 Linux). AVX2 doubles the lanes (GELU:
 * 2-2.6x); the clone has no FMA and nothing is contracted, so both clones give the same bits. */
#if defined(__x86_64__) && defined(__linux__) && defined(__OPTIMIZE__) &&                          \
    ((defined(__GNUC__) && !defined(__clang__)) || (defined(__clang__) && __clang_major__ >= 14))
#define CPU_VEC_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CPU_VEC_CLONES
#endif

#endif
