/*
 * glossa.h — the public C API of glossa, an inference engine for multilingual transformer models.
 *
 * Usage (tokenizer):
 *
 *     glossa_tokenizer *tok = NULL;
 *     if (glossa_tokenizer_load_dir("models/nllb", &tok) != GLOSSA_STATUS_OK) {
 *         fprintf(stderr, "%s\n", glossa_last_error());
 *         return 1;
 *     }
 *     glossa_tokens toks = {0};
 *     glossa_encode_params p = glossa_encode_default_params();
 *     p.src_lang = "zh";                       // short ISO or family code (zho_Hans)
 *     glossa_tokenizer_encode(tok, "你好", 6, &p, &toks);
 *     for (size_t i = 0; i < toks.n; i++) printf("%d ", toks.ids[i]);
 *     glossa_tokens_free(&toks);
 *     glossa_tokenizer_free(tok);
 *
 * Thread safety: a loaded glossa_tokenizer is immutable and may be used from any number of
 * threads at once, as long as each thread passes its own glossa_tokens / glossa_text buffers.
 * glossa_last_error() is per thread: it describes the last failure on the calling thread.
 * glossa_set_log_callback() must be called before other threads use the library.
 *
 * Errors: every fallible call returns a glossa_status; on failure glossa_last_error() holds a
 * message naming what was wrong. The library never exits or aborts on bad input.
 */
#ifndef GLOSSA_H
#define GLOSSA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GLOSSA_VERSION_MAJOR 0
#define GLOSSA_VERSION_MINOR 1
#define GLOSSA_VERSION_PATCH 0

typedef enum glossa_status {
    GLOSSA_STATUS_OK = 0,
    GLOSSA_STATUS_INVALID_ARGUMENT = 1, /* a NULL or out-of-range argument */
    GLOSSA_STATUS_IO_ERROR = 2,         /* a file could not be opened or read */
    GLOSSA_STATUS_BAD_MODEL = 3,        /* a model or tokenizer file is corrupt or inconsistent */
    GLOSSA_STATUS_UNSUPPORTED = 4,      /* a valid file uses a feature glossa does not implement */
    GLOSSA_STATUS_OUT_OF_MEMORY = 5,
    GLOSSA_STATUS_BAD_INPUT = 6,        /* bad request input: unknown language, bad id, ... */
    GLOSSA_STATUS_NOT_FOUND = 7,
    GLOSSA_STATUS_INTERNAL = 8,
    GLOSSA_STATUS_BUSY = 9,             /* the engine's queue is full: retry later */
    GLOSSA_STATUS_CANCELLED = 10,       /* the request was cancelled */
} glossa_status;

/* Name of a status ("GLOSSA_STATUS_BAD_MODEL"). Never NULL. */
const char *glossa_status_name(glossa_status status);

/* Message of the last failure on this thread ("" if none). Valid until the next failing call. */
const char *glossa_last_error(void);

typedef enum glossa_log_level {
    GLOSSA_LOG_LEVEL_DEBUG = 0,
    GLOSSA_LOG_LEVEL_INFO = 1,
    GLOSSA_LOG_LEVEL_WARN = 2,
    GLOSSA_LOG_LEVEL_ERROR = 3,
} glossa_log_level;

typedef void (*glossa_log_callback)(glossa_log_level level, const char *message, void *user_data);

/* Route library log messages to cb (NULL restores the default: WARN and above to stderr). */
void glossa_set_log_callback(glossa_log_callback cb, void *user_data);

/* ---------------------------------------------------------------------------------------------
 * Buffers owned by the caller and reused across calls (no allocation once they are large enough).
 * Zero-initialise before first use; release with the matching *_free.
 */
typedef struct glossa_tokens {
    int32_t *ids;   /* (n) token ids */
    size_t n;
    size_t cap;
    void *scratch;  /* internal workspace, reused between calls */
} glossa_tokens;

void glossa_tokens_free(glossa_tokens *tokens);

typedef struct glossa_text {
    char *data;     /* NUL-terminated UTF-8, len bytes before the NUL */
    size_t len;
    size_t cap;
} glossa_text;

void glossa_text_free(glossa_text *text);

/* ---------------------------------------------------------------------------------------------
 * Tokenizers: SentencePiece .model files, Hugging Face tokenizer.json, and the vocabulary
 * families of translation models (mBART-50, NLLB-200, M2M100, Marian).
 */
typedef struct glossa_tokenizer glossa_tokenizer;

typedef enum glossa_tokenizer_family {
    GLOSSA_FAMILY_PLAIN = 0, /* a bare tokenizer: spm ids or tokenizer.json ids, no language codes */
    GLOSSA_FAMILY_MBART50 = 1,
    GLOSSA_FAMILY_NLLB = 2,
    GLOSSA_FAMILY_M2M100 = 3,
    GLOSSA_FAMILY_MARIAN = 4,
} glossa_tokenizer_family;

/* A bare SentencePiece model: ids are the .model's own piece ids (what spm_encode prints). */
glossa_status glossa_tokenizer_load_spm(const char *spm_path, glossa_tokenizer **out);

/* A Hugging Face tokenizer.json file on its own (no tokenizer_config.json). */
glossa_status glossa_tokenizer_load_json(const char *tokenizer_json_path, glossa_tokenizer **out);

/* A model directory as Hugging Face has it: tokenizer.json (+ tokenizer_config.json) when present,
 * as transformers does, otherwise the sentencepiece files of its family. */
glossa_status glossa_tokenizer_load_dir(const char *model_dir, glossa_tokenizer **out);

void glossa_tokenizer_free(glossa_tokenizer *tok);

glossa_tokenizer_family glossa_tokenizer_get_family(const glossa_tokenizer *tok);
/* Number of token ids (the largest id the tokenizer can produce + 1; M2M100: vocab.json and the
 * 100 language tokens). */
int32_t glossa_tokenizer_vocab_size(const glossa_tokenizer *tok);

typedef struct glossa_encode_params {
    const char *src_lang;     /* source language (family code or ISO 639-1); NULL: the default */
    const char *tgt_lang;     /* target language, for encode_target; NULL: the default. For a
                                 multi-target Marian model, encode() puts its >>xx<< token first */
    bool add_special_tokens;  /* language codes, </s>, template; default true */
} glossa_encode_params;

glossa_encode_params glossa_encode_default_params(void);

/* Text to ids as the family's tokenizer does for a source sentence (HF: tokenizer(text)).
 * Invalid UTF-8 is handled as the reference does (replaced by U+FFFD), never an error. */
glossa_status glossa_tokenizer_encode(const glossa_tokenizer *tok, const char *text, size_t len,
                                      const glossa_encode_params *params, glossa_tokens *out);

/* Text to ids as the target side (HF: tokenizer(text_target=text)). */
glossa_status glossa_tokenizer_encode_target(const glossa_tokenizer *tok, const char *text,
                                             size_t len, const glossa_encode_params *params,
                                             glossa_tokens *out);

/* Pieces of an encoding, one NUL-terminated string each, joined by a single space (spm_encode
 * --output_format=piece). */
glossa_status glossa_tokenizer_encode_pieces(const glossa_tokenizer *tok, const char *text,
                                             size_t len, glossa_text *out);

/* Ids back to text (byte pieces reassembled, U+2581 to spaces). skip_special drops control
 * tokens and language codes, as HF's skip_special_tokens. An id out of range is BAD_INPUT. */
glossa_status glossa_tokenizer_decode(const glossa_tokenizer *tok, const int32_t *ids, size_t n,
                                      bool skip_special, glossa_text *out);

/* The piece string of an id, or NULL when out of range. */
const char *glossa_tokenizer_id_to_piece(const glossa_tokenizer *tok, int32_t id);
/* The id of a piece string, or -1. */
int32_t glossa_tokenizer_piece_to_id(const glossa_tokenizer *tok, const char *piece);

/* Language codes of the tokenizer's family: the token id of a language given as the family's
 * code (zho_Hans, zh_CN, __zh__) or a short ISO 639-1 code (zh), in any case and with '-' or '_'
 * (zh-CN; zh-TW / zh-Hant pick Traditional Chinese where the family has it). Marian: its >>xx<<
 * tokens (">>fra<<", "fra", "fr"). BAD_INPUT naming the code when the family does not know it. */
glossa_status glossa_tokenizer_lang_id(const glossa_tokenizer *tok, const char *lang,
                                       int32_t *id_out);

/* The token generation must start the target with (forced_bos_token_id): the target language's
 * token for mBART-50, NLLB and M2M100 (tgt_lang NULL: tokenizer_config.json's tgt_lang, else the
 * source default); -1 for Marian and plain tokenizers. BAD_INPUT naming an unknown code. */
glossa_status glossa_tokenizer_forced_bos_id(const glossa_tokenizer *tok, const char *tgt_lang,
                                             int32_t *id_out);

/* Number of languages of the family, and the i-th code and English name (in token-id order;
 * Marian: the >>xx<< tokens of its vocabulary, code without the >> <<, name "" when unknown). */
size_t glossa_tokenizer_lang_count(const glossa_tokenizer *tok);
glossa_status glossa_tokenizer_lang_at(const glossa_tokenizer *tok, size_t i, const char **code,
                                       const char **name);

/* Special ids (-1 when the tokenizer has none). */
typedef struct glossa_special_ids {
    int32_t bos, eos, pad, unk;
    int32_t decoder_start; /* the id the decoder starts from (eos for mBART-50/NLLB/M2M100, pad
                              for Marian) */
} glossa_special_ids;

glossa_special_ids glossa_tokenizer_special_ids(const glossa_tokenizer *tok);


/* ---------------------------------------------------------------------------------------------
 * Models: Hugging Face encoder-decoder model directories (BART, mBART, M2M100, NLLB-200, Marian).
 *
 * Usage (translation):
 *
 *     glossa_model *m = NULL;
 *     glossa_model_params mp = glossa_model_default_params();
 *     if (glossa_model_load("models/nllb", &mp, &m) != GLOSSA_STATUS_OK) { ... }
 *     glossa_decode_params dp = glossa_model_decode_params(m);   // the model's generation_config
 *     dp.num_beams = 4;
 *     glossa_request *r = NULL;
 *     glossa_request_create(m, "Hello", 5, "en", "de", &dp, &r);
 *     glossa_model_run(m, &r, 1);                                 // any number of requests
 *     glossa_text t = {0};
 *     glossa_request_result_text(r, 0, &t);
 *     puts(t.data);
 *
 * Thread safety: a glossa_model runs one glossa_model_run() at a time (callers serialise; the
 * server's single inference loop does). Requests are owned by the caller; a request may be read
 * from any thread once glossa_model_run() has returned.
 */
typedef struct glossa_model glossa_model;
typedef struct glossa_request glossa_request;

typedef enum glossa_device {
    GLOSSA_DEVICE_CPU = 0,
    GLOSSA_DEVICE_CUDA = 1,
} glossa_device;

/* Called during loading with progress in [0, 1]. */
typedef void (*glossa_progress_callback)(float progress, void *user_data);

typedef struct glossa_model_params {
    glossa_device device;       /* default CPU */
    int32_t n_threads;          /* CPU threads; <= 0: all cores (default) */
    glossa_progress_callback progress;
    void *progress_user_data;
    int32_t gpu;                /* CUDA device index (default 0) */
    bool bf16;                  /* CUDA: bf16 activations and weights instead of fp16 */
} glossa_model_params;

glossa_model_params glossa_model_default_params(void);

/* Load config.json, generation_config.json, model.safetensors (or a sharded index) and the
 * tokenizer of a model directory. */
glossa_status glossa_model_load(const char *dir, const glossa_model_params *params,
                                glossa_model **out);
void glossa_model_free(glossa_model *m);

/* The model's tokenizer (owned by the model). */
const glossa_tokenizer *glossa_model_tokenizer(const glossa_model *m);

typedef struct glossa_decode_params {
    int32_t max_new_tokens;       /* <= 0: from the model (generation_config max_length) */
    int32_t min_length;           /* HF min_length: total target length incl. the start token */
    int32_t num_beams;            /* 1: greedy (or sampling) */
    int32_t num_return_sequences; /* <= num_beams */
    float length_penalty;
    int32_t early_stopping;       /* 0 false, 1 true, 2 never (HF's early_stopping) */
    bool do_sample;
    float temperature;
    int32_t top_k;                /* 0: off */
    float top_p;                  /* 1: off */
    uint64_t seed;                /* sampling RNG seed */
    float repetition_penalty;     /* 1: off */
    int32_t no_repeat_ngram_size; /* 0: off */
    bool ignore_eos;              /* generate exactly max_new_tokens (benchmarks) */
    bool output_scores;           /* greedy / sampling: compute the result score (a pass over the
                                     vocabulary per step); beam search always scores */
} glossa_decode_params;

/* The model's defaults (its generation_config.json, or transformers' defaults). */
glossa_decode_params glossa_model_decode_params(const glossa_model *m);

/* A translation request from text: src_lang / tgt_lang as family codes or ISO 639-1 (NULL: the
 * tokenizer's defaults). BAD_INPUT names an unknown language. params NULL: the model's defaults. */
glossa_status glossa_request_create(const glossa_model *m, const char *text, size_t len,
                                    const char *src_lang, const char *tgt_lang,
                                    const glossa_decode_params *params, glossa_request **out);

/* A request from encoder input ids (special tokens included, as the tokenizer made them) and the
 * forced first target token (-1: none; e.g. glossa_tokenizer_forced_bos_id()). */
glossa_status glossa_request_create_ids(const glossa_model *m, const int32_t *ids, size_t n,
                                        int32_t forced_bos_id, const glossa_decode_params *params,
                                        glossa_request **out);

void glossa_request_free(glossa_request *r);

/* Run requests to completion, all in one batch (each with its own languages and parameters). */
glossa_status glossa_model_run(glossa_model *m, glossa_request *const *reqs, size_t n);

/* Results of a finished request: num_return_sequences hypotheses, best first. ids without the
 * decoder start token (the forced language token, when any, first); score: the sum of token
 * log-probs divided by length ** length_penalty for beam search (HF sequences_scores), the
 * sum of log-probs for greedy and sampling (0 unless output_scores was set). */
size_t glossa_request_result_count(const glossa_request *r);
glossa_status glossa_request_result(const glossa_request *r, size_t i, const int32_t **ids,
                                    size_t *n, float *score);
/* Detokenized result (special tokens skipped). */
glossa_status glossa_request_result_text(const glossa_request *r, size_t i, glossa_text *out);

/* Timing of the last glossa_model_run(). */
typedef struct glossa_run_stats {
    double total_ms;          /* the whole run */
    double encode_ms;         /* encoder passes (cross-attention K/V included) */
    double first_token_ms;    /* run start to the first decode step's tokens (time to first token) */
    double decode_ms;         /* all decode steps */
    int32_t decode_steps;
    int64_t generated_tokens; /* tokens appended to running sequences (all beams) */
    size_t kv_bytes_per_token; /* self-attention K/V bytes per generated token, all layers */
    /* CUDA (0 on the CPU): device memory in use now beyond what was in use once the backend was
     * created (its context, stream, staging and cuBLASLt workspace), i.e. weights, workspace,
     * scratch, recorded graphs and the K/V pools; and the K/V pools' part of it. */
    int64_t device_bytes;
    int64_t kv_pool_bytes;
} glossa_run_stats;

glossa_status glossa_model_last_run_stats(const glossa_model *m, glossa_run_stats *out);


/* ---------------------------------------------------------------------------------------------
 * The engine: in-flight (continuous) batching of requests on one model under a per-iteration
 * token budget. Requests are submitted from any thread; one thread (the inference loop) calls
 * glossa_engine_step() repeatedly. Every iteration admits waiting requests first-come-first-served
 * (their encoder passes, chunked when longer than the budget left, run inside the same iteration
 * as the decode steps of running requests) and advances every running request by one token.
 *
 * Usage (the loop thread):
 *
 *     glossa_engine *e = NULL;
 *     glossa_engine_params ep = glossa_engine_default_params();
 *     glossa_engine_create(model, &ep, &e);
 *     while (!stop) {
 *         glossa_engine_step(e, NULL);         // returns at once when there is nothing to do
 *         glossa_engine_wait(e, 100);           // sleeps until work arrives (or 100 ms)
 *     }
 *
 * and from any thread: glossa_engine_submit(e, request, on_event, user, &id); the callback runs on
 * the loop thread with each new token (greedy / sampling) and once with DONE or ERROR, after which
 * the request's results are readable and the engine no longer touches it. The engine computes on
 * the model's backend: glossa_model_run() must not run while another thread steps an engine of the
 * same model, and glossa_engine_free() comes before glossa_model_free().
 */
typedef struct glossa_engine glossa_engine;

typedef enum glossa_policy {
    GLOSSA_POLICY_GUARANTEED_NO_EVICT = 0, /* admit only when KV blocks for the input plus
                                              max_new_tokens can be reserved */
    GLOSSA_POLICY_MAX_UTILIZATION = 1,     /* admit eagerly; when blocks run out, pause the newest
                                              requests and recompute them later */
} glossa_policy;

typedef struct glossa_engine_params {
    int32_t max_num_tokens;        /* tokens per iteration (encoder + decoder), default 4096 */
    int32_t max_batch_size;        /* running sequences (beams count), default 256 */
    glossa_policy policy;          /* default GUARANTEED_NO_EVICT */
    int32_t max_queue;             /* waiting requests at most (submit beyond: BUSY), default 1024 */
    int64_t kv_cache_bytes;        /* the K/V block pools (self + cross attention); <= 0: sized by
                                      kv_cache_free_fraction on CUDA, 1 GiB on the CPU, grown
                                      for kv_min_length (below) either way */
    float kv_cache_free_fraction;  /* CUDA, default 0.9: with kv_cache_bytes <= 0, this fraction of
                                      the device memory free once the model is loaded (like
                                      TensorRT-LLM's free_gpu_memory_fraction); the rest is left
                                      for activations and library workspaces */
    int32_t kv_min_length;         /* > 0 (default 0): with kv_cache_bytes <= 0, the pools grow
                                      past 1 GiB when needed so that max_batch_size sequences of
                                      this many tokens fit the self-attention pool (the cross-
                                      attention pool keeps a third of that); a pool too small for
                                      the batch caps it (guaranteed-no-evict reserves every
                                      request's max_length up front). If the grown pools cannot be
                                      allocated, 1 GiB. */
    float scheduler_delay_factor;  /* >= 0, default 0 (off): hold new requests back until the
                                      oldest waiting one has waited this many times the last
                                      admitting iteration's time, unless nothing runs (vLLM's
                                      --scheduler-delay-factor): fewer, larger encoder passes
                                      between decode steps */
} glossa_engine_params;

glossa_engine_params glossa_engine_default_params(void);

glossa_status glossa_engine_create(glossa_model *m, const glossa_engine_params *params,
                                   glossa_engine **out);
/* Cancels everything still queued or running (ERROR events with CANCELLED), then frees. */
void glossa_engine_free(glossa_engine *e);

typedef enum glossa_event_kind {
    GLOSSA_EVENT_TOKEN = 0, /* new tokens of a greedy / sampling request (streaming) */
    GLOSSA_EVENT_DONE = 1,  /* finished: results readable with glossa_request_result*() */
    GLOSSA_EVENT_ERROR = 2, /* failed or cancelled: status says which */
} glossa_event_kind;

typedef struct glossa_event {
    glossa_event_kind kind;
    uint64_t request_id;
    glossa_request *request;
    const int32_t *ids;      /* TOKEN: the tokens added by this iteration */
    size_t n_ids;
    glossa_status status;    /* ERROR */
    /* DONE / ERROR: timings of the request */
    double queue_ms;         /* submit to admission */
    double first_token_ms;   /* submit to first generated token */
    double total_ms;         /* submit to done */
    int32_t prompt_tokens;
    int32_t generated_tokens;
} glossa_event;

typedef void (*glossa_event_callback)(const glossa_event *ev, void *user_data);

/* Thread-safe. The request must stay alive until its DONE or ERROR event. BUSY when the queue is
 * full; BAD_INPUT when the request can never fit the KV cache. */
glossa_status glossa_engine_submit(glossa_engine *e, glossa_request *r, glossa_event_callback cb,
                                   void *user_data, uint64_t *id_out);
/* Thread-safe. The request ends with an ERROR event (CANCELLED) at the next step; its KV blocks
 * are freed. NOT_FOUND when the id is unknown or already finished. */
glossa_status glossa_engine_cancel(glossa_engine *e, uint64_t id);

/* The loop: one iteration. *active_out (may be NULL): requests queued or running afterwards. */
glossa_status glossa_engine_step(glossa_engine *e, int32_t *active_out);
/* Thread-safe: sleep until there is work (or timeout_ms passes, or glossa_engine_wake()). */
void glossa_engine_wait(glossa_engine *e, int32_t timeout_ms);
void glossa_engine_wake(glossa_engine *e);

typedef struct glossa_engine_metrics {
    int32_t running;              /* requests admitted and not finished */
    int32_t waiting;              /* requests queued */
    int32_t kv_blocks_used, kv_blocks_total;
    int64_t preemptions;          /* requests paused for lack of KV blocks (max-utilization) */
    int64_t prompt_tokens;        /* encoder tokens processed, total */
    int64_t generated_tokens;     /* tokens generated, total */
    int64_t iterations;
} glossa_engine_metrics;

/* Thread-safe snapshot. */
void glossa_engine_get_metrics(glossa_engine *e, glossa_engine_metrics *out);

/* What the last glossa_engine_step() did (for batch-size metrics). The loop thread only, between
 * steps. */
typedef struct glossa_engine_step_info {
    int32_t decode_rows;     /* sequences decoded (beams count); 0: no decode step ran */
    int32_t decode_requests; /* requests decoded */
    int32_t admitted;        /* requests admitted */
    int32_t encoder_tokens;  /* encoder tokens run whole (chunked work not counted) */
    int32_t waiting;         /* requests left waiting after the step's admissions */
} glossa_engine_step_info;

void glossa_engine_last_step(const glossa_engine *e, glossa_engine_step_info *out);

/* ---------------------------------------------------------------------------------------------
 * Language identification: a small built-in identifier (character n-gram profiles) for at least
 * the languages of the project's data (en de fr cs am ar bn el es he hi ja ka ko ne ru sw th tr
 * uk vi zh). Thread-safe once created.
 */
typedef struct glossa_langid glossa_langid;

glossa_status glossa_langid_create(glossa_langid **out);
void glossa_langid_free(glossa_langid *l);

/* The most likely language of text as an ISO 639-1 code ("zh" for Chinese) and a confidence in
 * [0, 1]. BAD_INPUT for empty text or text with no letters. Invalid UTF-8 is tolerated. */
glossa_status glossa_langid_detect(const glossa_langid *l, const char *text, size_t len,
                                   const char **lang, float *confidence);

/* The languages it knows (ISO 639-1 codes). */
size_t glossa_langid_count(const glossa_langid *l);
const char *glossa_langid_lang_at(const glossa_langid *l, size_t i);

/* ---------------------------------------------------------------------------------------------
 * Random-weight models of real architectures, in Hugging Face format (config.json,
 * generation_config.json, model.safetensors, tokenizer files) that transformers loads too. For
 * tests and benchmarks.
 */
typedef struct glossa_synth_params {
    const char *arch;  /* "mbart-large-50", "m2m100-418m", "nllb-200-distilled-600m",
                          "opus-mt-en-de", "bart-base", "tiny" */
    uint64_t seed;     /* default 0 */
    int32_t layers;    /* encoder and decoder layers; <= 0: the architecture's */
    int32_t d_model;   /* <= 0: the architecture's (heads and FFN scale with it) */
    int32_t vocab;     /* <= 0: the architecture's */
    float init_std;    /* <= 0: the default (0.02, as transformers' init_std; 0.2 for tiny, so
                          that its greedy output varies) */
    bool fp16;         /* write F16 weights (default F32) */
    float eos_bias;    /* added to final_logits_bias[eos] (default 0): a positive bias makes
                          greedy outputs end at varied, input-dependent lengths instead of
                          running to max_new_tokens. Architectures whose Hugging Face class has
                          a final_logits_bias only (not m2m100 / nllb): BAD_INPUT otherwise */
    float eos_ramp;    /* added along the </s> embedding to decoder position p's learned
                          embedding, times p (default 0): the </s> logit grows with the output
                          length, so that (with eos_bias) each input ends where its own margin
                          is crossed. Learned positions only (mbart, bart, tiny): BAD_INPUT
                          otherwise */
} glossa_synth_params;

glossa_synth_params glossa_synth_default_params(void);

/* Write the model directory (created if missing). BAD_INPUT naming an unknown architecture. */
glossa_status glossa_synth(const char *out_dir, const glossa_synth_params *params);

#ifdef __cplusplus
}
#endif

#endif /* GLOSSA_H */
