/* libFuzzer target: config.json and generation_config.json parsing on arbitrary bytes. The input
 * is parsed as config.json, as generation_config.json, and, split at the first NUL byte, as
 * generation_config.json over config.json. A config that parses must satisfy its invariants. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/hf_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    model_config c;
    if (hf_config_parse(text, size, &c) == GLOSSA_STATUS_OK) {
        if (c.d_model <= 0 || c.encoder_heads <= 0 || c.d_model % c.encoder_heads || c.d_model % c.decoder_heads) abort();
        if (c.vocab_size <= 0 || c.decoder_vocab_size <= 0 || c.pos_offset < 0) abort();
        if (c.pad_token_id >= c.vocab_size || c.eos_token_id >= c.decoder_vocab_size) abort();
    }
    generation_config g;
    hf_generation_config_parse(text, size, NULL, 0, &g);
    hf_generation_config_parse(NULL, 0, text, size, &g);
    const uint8_t *nul = memchr(data, 0, size);
    if (nul) {
        size_t a = (size_t)(nul - data);
        if (hf_generation_config_parse(text, a, text + a + 1, size - a - 1, &g) == GLOSSA_STATUS_OK) {
            if (g.n_eos < 0 || g.n_eos > MODEL_MAX_EOS || g.n_bad_words < 0 || g.n_bad_words > MODEL_MAX_BAD_WORDS)
                abort();
            if (g.num_beams < 1 || g.max_length < 0) abort();
        }
    }
    return 0;
}
