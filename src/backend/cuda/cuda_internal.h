/* Shared state and cross-file declarations of the CUDA backend (CUDA C++ translation units only).
 * The op table lives in cuda_backend.cu; each op family has its own .cu file. */
#ifndef GLOSSA_BACKEND_CUDA_INTERNAL_H
#define GLOSSA_BACKEND_CUDA_INTERNAL_H

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "backend/backend.h"
#include "core/status.h"

typedef struct cuda_state {
    int device;
    int sm_count;
    cudaStream_t stream;          /* every op is ordered on this stream */
    cublasLtHandle_t lt;
    void *lt_workspace;           /* cuBLASLt workspace */
    size_t lt_workspace_bytes;
    void *gemm_cache;             /* cuda_linear.cu: heuristics per (m, n, k, epilogue) */
    void *attn_scratch;           /* cuda_attention.cu: split-K partials, grown on demand */
    size_t attn_scratch_bytes;
} cuda_state;

static inline cuda_state *cuda_state_of(backend *b)
{
    return (cuda_state *)b->impl;
}

/* A CUDA error as a glossa_status with a message naming the call. */
glossa_status cuda_check(cudaError_t err, const char *what);

/* cuda_attention.cu: the two attention ops of backend_ops (same contracts as backend.h). */
extern "C" void cuda_op_attention(backend *b, int32_t n_seqs, int32_t n_heads, int32_t head_dim,
                                  const void *q, int32_t q_stride, const void *k, const void *v,
                                  int32_t kv_stride, const int32_t *q_off, const int32_t *k_off,
                                  bool causal, float scale, void *out);
extern "C" void cuda_op_attention_paged(backend *b, int32_t n_seqs, const void *q,
                                        int32_t q_stride, const int32_t *q_off,
                                        const gl_kv_view *kv, const int32_t *kv_lens, bool causal,
                                        float scale, void *out);
/* Free cuda_attention.cu's scratch (called by destroy). */
void cuda_attention_release(cuda_state *s);

#endif
