/* The graph ops of the CUDA backend (backend.h): stream capture of the backend's stream into a
 * CUDA graph, instantiated once and replayed with one launch (the decode step: about 150 kernels
 * whose launches would otherwise cost the host more than the GPU spends on them).
 *
 * Capture runs in thread-local mode, so only this thread's stream is recorded. An op that fails
 * while recording (a launch error, a scratch buffer that would have to grow: cuda_grow refuses
 * then) records a sticky error; graph_end drops the recording, clears that error and reports it,
 * so the caller runs the ops unrecorded instead. */
#include <stdlib.h>

#include "backend/cuda/cuda_internal.h"
#include "core/log.h"

glossa_status cuda_op_graph_begin(backend *b)
{
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    GLOSSA_TRY(cuda_sticky_status(s)); /* never record on top of an earlier failure */
    GLOSSA_TRY(cuda_check(cudaStreamBeginCapture(s->stream, cudaStreamCaptureModeThreadLocal),
                          "graph capture begin"));
    cuda_set_recording(true);
    return GLOSSA_STATUS_OK;
}

glossa_status cuda_op_graph_end(backend *b, void **out)
{
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    *out = NULL;
    cuda_set_recording(false);
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(s->stream, &graph);
    glossa_status st = GLOSSA_STATUS_OK;
    if (s->sticky_err != cudaSuccess) {
        st = glossa_error(GLOSSA_STATUS_INTERNAL, "cuda: recording a graph: %s: %s",
                          s->sticky_what ? s->sticky_what : "?", cudaGetErrorString(s->sticky_err));
        s->sticky_err = cudaSuccess;
        s->sticky_what = NULL;
    } else if (e != cudaSuccess) {
        st = cuda_check(e, "graph capture end");
    }
    cudaGetLastError();
    cudaGraphExec_t exec = NULL;
    if (st == GLOSSA_STATUS_OK)
        st = cuda_check(cudaGraphInstantiate(&exec, graph, 0), "graph instantiate");
    if (graph) cudaGraphDestroy(graph);
    if (st != GLOSSA_STATUS_OK) return st;
    *out = exec;
    return GLOSSA_STATUS_OK;
}

/* GLOSSA_CUDA_GRAPH_TIMING=1 (measurement): the device time of each replay, from events recorded
 * around its launch on the stream, summed and logged when the backend is destroyed. Set against a
 * decode step's wall time it gives what a step spends outside the recorded pass (the beam
 * selection, or the argmax where the pass does not compute it; the one host wait, the host's
 * turn). Also the device's idle time between a replay and the next when nothing else ran between
 * them (the gap is under a fifth of the replay): the copies and launch between pipelined passes.
 * Events live in a ring of CUDA_GT_RING replays and are read CUDA_GT_RING - 1 replays later, so
 * the measurement never waits for a pass that is still running (pipelining stays intact). */
static void graph_timing_take(cuda_state *s, long upto)
{
    for (; s->gt_taken < upto; s->gt_taken++) {
        long k = s->gt_taken;
        cudaEvent_t *ev = s->gt_ev[k % CUDA_GT_RING];
        float ms = 0.0f, gap = 0.0f;
        if (cudaEventSynchronize(ev[1]) != cudaSuccess ||
            cudaEventElapsedTime(&ms, ev[0], ev[1]) != cudaSuccess)
            continue;
        s->gt_ms += ms;
        s->gt_n++;
        /* the previous replay's end is still in the ring (its slot is reused only after this) */
        cudaEvent_t *pv = s->gt_ev[(k + CUDA_GT_RING - 1) % CUDA_GT_RING];
        if (k > 0 && cudaEventElapsedTime(&gap, pv[1], ev[0]) == cudaSuccess && gap >= 0.0f &&
            gap < 0.2f * ms) {
            s->gt_gap_ms += gap;
            s->gt_gaps++;
        }
    }
    cudaGetLastError();
}

glossa_status cuda_op_graph_launch(backend *b, void *graph)
{
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    if (s->gt_on < 0) {
        const char *env = getenv("GLOSSA_CUDA_GRAPH_TIMING");
        s->gt_on = env && env[0] == '1';
        for (int i = 0; s->gt_on && i < CUDA_GT_RING; i++)
            s->gt_on = cudaEventCreate(&s->gt_ev[i][0]) == cudaSuccess &&
                       cudaEventCreate(&s->gt_ev[i][1]) == cudaSuccess;
    }
    cudaEvent_t *ev = s->gt_on ? s->gt_ev[s->gt_launches % CUDA_GT_RING] : NULL;
    if (ev) {
        /* the slot's last replay and the one after it (whose gap reads this slot's end) */
        graph_timing_take(s, s->gt_launches - CUDA_GT_RING + 2);
        cudaEventRecord(ev[0], s->stream);
    }
    glossa_status st =
        cuda_check(cudaGraphLaunch((cudaGraphExec_t)graph, s->stream), "graph launch");
    if (ev && st == GLOSSA_STATUS_OK) { /* (else the slot is recorded again next time) */
        cudaEventRecord(ev[1], s->stream);
        s->gt_launches++;
    }
    return st;
}

void cuda_graph_release(cuda_state *s)
{
    if (s->gt_on != 1) return;
    graph_timing_take(s, s->gt_launches);
    if (s->gt_n > 0)
        GLOSSA_LOG_WARN("cuda graph timing: %ld replays, %.4f ms of device time each; the device "
                        "idle %.4f ms before each of %ld that followed a replay directly",
                        s->gt_n, s->gt_ms / (double)s->gt_n,
                        s->gt_gaps ? s->gt_gap_ms / (double)s->gt_gaps : 0.0, s->gt_gaps);
    for (int i = 0; i < CUDA_GT_RING; i++) {
        cudaEventDestroy(s->gt_ev[i][0]);
        cudaEventDestroy(s->gt_ev[i][1]);
    }
    s->gt_on = 0;
}

void cuda_op_graph_free(backend *b, void *graph)
{
    if (!graph) return;
    cuda_bind(cuda_state_of(b));
    cudaGraphExecDestroy((cudaGraphExec_t)graph);
}

uint64_t cuda_op_graph_epoch(backend *b)
{
    (void)b;
    return cuda_mem_epoch();
}
