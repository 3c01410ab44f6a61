/* libFuzzer target: the sentencepiece encoder and decoder on arbitrary text, over fixture models
 * (unigram with byte fallback, BPE with user-defined symbols, identity normalisation). The input's
 * first byte picks the model; the rest is the text. Encoded ids must decode; arbitrary ids taken
 * from the bytes must decode or be refused cleanly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tok/spm.h"

static const char *g_models[] = {
    GLOSSA_FIXTURES "/spm/uni_32k_nmtnfkc_bytefb.model",
    GLOSSA_FIXTURES "/spm/bpe_16k_nmtnfkc_bytefb_uds.model",
    GLOSSA_FIXTURES "/spm/uni_1k_identity_uds.model",
    GLOSSA_FIXTURES "/spm/bpe_1k_identity.model",
    GLOSSA_FIXTURES "/spm/uni_8k_nfkc_nodummy.model",
};
#define N_MODELS (sizeof g_models / sizeof g_models[0])
static spm_processor *g_proc[N_MODELS];
static tok_ws *g_ws;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (!g_ws) {
        g_ws = tok_ws_new();
        for (size_t i = 0; i < N_MODELS; i++)
            if (spm_load_file(g_models[i], &g_proc[i]) != GLOSSA_STATUS_OK) abort();
    }
    spm_processor *p = g_proc[data[0] % N_MODELS];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    idvec ids = {0};
    strbuf s = {0};
    if (spm_encode(p, text, len, g_ws, &ids) != GLOSSA_STATUS_OK) abort();
    if (spm_decode(p, ids.data, ids.len, &s) != GLOSSA_STATUS_OK) abort();
    s.len = 0;
    if (spm_encode_pieces(p, text, len, g_ws, &s) != GLOSSA_STATUS_OK) abort();
    /* raw ids from the bytes: in range decodes, out of range is refused */
    int32_t raw[64];
    size_t n = len / 4 < 64 ? len / 4 : 64;
    memcpy(raw, text, n * 4);
    int32_t vocab = spm_get_vocab(p)->n;
    for (size_t i = 0; i < n; i++) raw[i] = (int32_t)((uint32_t)raw[i] % (uint32_t)(vocab + 2)) - 1;
    s.len = 0;
    spm_decode(p, raw, n, &s);
    idvec_free(&ids);
    strbuf_free(&s);
    return 0;
}
