/* The bench/cuda programs' cuBLASLt GEMM as glossa runs it (cuda_linear.cu): y(m, n) = x(m, k)
 * W(n, k)^T + bias, fp16 in and out, fp32 compute, the "TN" layout (A = W^T stored k x n, op T;
 * B = X^T stored k x m; D = Y^T stored n x m with leading dimension ldc), the bias epilogue, and a
 * preference that allows ws_bytes of workspace. LK: a failed cuBLASLt call ends the program. */
#ifndef GLOSSA_BENCH_CUDA_LT_GEMM_H
#define GLOSSA_BENCH_CUDA_LT_GEMM_H

#include <cublasLt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define LK(x)                                                                                      \
    do {                                                                                           \
        cublasStatus_t s_ = (x);                                                                   \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                         \
            fprintf(stderr, "%s:%d cublasLt failed (%d)\n", __FILE__, __LINE__, (int)s_);         \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

typedef struct lt_gemm {
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c; /* c describes C and D */
    cublasLtMatmulPreference_t pref;
} lt_gemm;

static void lt_gemm_make(lt_gemm *g, int m, int n, int k, int ldc, const void *bias,
                         uint64_t ws_bytes)
{
    LK(cublasLtMatmulDescCreate(&g->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    int32_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    LK(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    LK(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    uint32_t epi = CUBLASLT_EPILOGUE_BIAS;
    LK(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    int32_t bt = CUDA_R_16F;
    LK(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt));
    LK(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                      sizeof bias));
    LK(cublasLtMatrixLayoutCreate(&g->a, CUDA_R_16F, k, n, k));
    LK(cublasLtMatrixLayoutCreate(&g->b, CUDA_R_16F, k, m, k));
    LK(cublasLtMatrixLayoutCreate(&g->c, CUDA_R_16F, n, m, ldc));
    LK(cublasLtMatmulPreferenceCreate(&g->pref));
    LK(cublasLtMatmulPreferenceSetAttribute(g->pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                            &ws_bytes, sizeof ws_bytes));
}

static void lt_gemm_free(lt_gemm *g)
{
    cublasLtMatmulPreferenceDestroy(g->pref);
    cublasLtMatrixLayoutDestroy(g->a);
    cublasLtMatrixLayoutDestroy(g->b);
    cublasLtMatrixLayoutDestroy(g->c);
    cublasLtMatmulDescDestroy(g->op);
}

#endif
