/* The public handles' definitions, shared by the model API (model_api.c) and the engine API
 * (engine_api.c); and the engine's debug counters for tests. Not public API. */
#ifndef GLOSSA_API_API_INTERNAL_H
#define GLOSSA_API_API_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "glossa.h"
#include "io/hf_config.h"
#include "model/bart.h"
#include "runtime/engine.h"
#include "runtime/generate.h"

struct glossa_model {
    model_config cfg;
    generation_config gen;
    backend *be;
    bart_model *bart;
    gen_engine eng;        /* glossa_model_run; its workspace and selection pool are shared with
                              the model's engines (one of them runs at a time) */
    glossa_tokenizer *tok; /* NULL when the directory has no tokenizer files */
    int64_t dev_base_used; /* device memory in use right after the backend's creation (CUDA) */
};

struct glossa_request {
    gen_request g;
    int32_t *src;
    const glossa_model *model;   /* the model it was resolved against */
    const glossa_tokenizer *tok; /* the model's, for result text */
    bool in_engine;              /* submitted to an engine and not ended (under its mutex) */
};

/* Tests: the engine core's counters (token budget per iteration in units, chunked encoder parts,
 * preemptions ...) and the units a token counts (engine.h). */
void glossa_engine_debug_counters(glossa_engine *e, engine_counters *out, int64_t *units_per_token);

#endif
