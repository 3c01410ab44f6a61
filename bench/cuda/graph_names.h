/* The bench/cuda programs' kernel names of captured graph nodes (through the driver's
 * cuGraphKernelNodeGetParams + cuFuncGetName / cuKernelGetName). */
#ifndef GLOSSA_BENCH_CUDA_GRAPH_NAMES_H
#define GLOSSA_BENCH_CUDA_GRAPH_NAMES_H

#include <cuda.h>
#include <cuda_runtime.h>
#include <string.h>

typedef CUresult (*cgp_params_fn)(CUgraphNode, CUDA_KERNEL_NODE_PARAMS *);
typedef CUresult (*cgp_fname_fn)(const char **, CUfunction);
typedef CUresult (*cgp_kname_fn)(const char **, CUkernel);

/* The kernel's name of a kernel node, or NULL. */
static const char *cuda_graph_kernel_name(cudaGraphNode_t node)
{
    static cgp_params_fn get_params;
    static cgp_fname_fn fname;
    static cgp_kname_fn kname;
    static int tried;
    if (!tried) {
        tried = 1;
        cudaDriverEntryPointQueryResult q;
        void *p = NULL;
        if (cudaGetDriverEntryPointByVersion("cuGraphKernelNodeGetParams", &p, 12000,
                                             cudaEnableDefault, &q) == cudaSuccess &&
            q == cudaDriverEntryPointSuccess)
            get_params = (cgp_params_fn)p;
        p = NULL;
        if (cudaGetDriverEntryPointByVersion("cuFuncGetName", &p, 12030, cudaEnableDefault, &q) ==
                cudaSuccess &&
            q == cudaDriverEntryPointSuccess)
            fname = (cgp_fname_fn)p;
        p = NULL;
        if (cudaGetDriverEntryPointByVersion("cuKernelGetName", &p, 12030, cudaEnableDefault, &q) ==
                cudaSuccess &&
            q == cudaDriverEntryPointSuccess)
            kname = (cgp_kname_fn)p;
        cudaGetLastError();
    }
    cudaGraphNodeType t;
    if (!get_params || cudaGraphNodeGetType(node, &t) != cudaSuccess || t != cudaGraphNodeTypeKernel)
        return NULL;
    CUDA_KERNEL_NODE_PARAMS kp;
    memset(&kp, 0, sizeof kp);
    if (get_params((CUgraphNode)node, &kp) != CUDA_SUCCESS) return NULL;
    const char *name = NULL;
    if (kp.func && fname && fname(&name, kp.func) == CUDA_SUCCESS) return name;
    if (kp.kern && kname && kname(&name, kp.kern) == CUDA_SUCCESS) return name;
    return NULL;
}

#endif
