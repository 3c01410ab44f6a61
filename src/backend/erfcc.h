/* Numerical Recipes' erfcc, the polynomial both GELUs take Phi's tail from (CPU: cpu_math.h
 * cpu_normal_tail; CUDA: cuda_act.cuh lin_gelu): for z >= 0, t = 1 / (1 + z / 2),
 * erfc(z) = t exp(-z^2 + P(t)), fractional error < 1.2e-7 over the whole range.
 * P in Horner form: p = GL_ERFCC_TOP, then for each c of GL_ERFCC_STEPS (highest degree first)
 * p = p t + c; STEP(c) is the caller's multiply-add (a plain one on the CPU, fmaf on the GPU). */
#ifndef GLOSSA_BACKEND_ERFCC_H
#define GLOSSA_BACKEND_ERFCC_H

#define GL_ERFCC_TOP 0.17087277f
#define GL_ERFCC_STEPS(STEP)                                                                      \
    STEP(-0.82215223f)                                                                             \
    STEP(1.48851587f)                                                                              \
    STEP(-1.13520398f)                                                                             \
    STEP(0.27886807f)                                                                              \
    STEP(-0.18628806f)                                                                             \
    STEP(0.09678418f)                                                                              \
    STEP(0.37409196f)                                                                              \
    STEP(1.00002368f)                                                                              \
    STEP(-1.26551223f)

#endif
