/* libFuzzer target: the tokenizer.json reader (hf_tokenizer) on arbitrary bytes. A file that loads
 * must encode a few texts (invalid UTF-8 included), with and without special tokens, decode what
 * it encoded, and refuse out-of-range ids cleanly. Errors are fine; faults are not. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tok/hf_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hf_tokenizer *t = NULL;
    if (hf_tokenizer_load_buffer((const char *)data, size, &t) != GLOSSA_STATUS_OK) return 0;
    static const char *texts[] = {
        "Hello world", "  a  b\t<s> </s> <mask>x ", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
        "\xff\xfe bad \xe0\xa4", "", "e\xcc\x81 \xe1\x84\x80\xe1\x85\xa1 \r\n", "\xe2\x96\x81\xe2\x96\x81x",
    };
    tok_ws *ws = tok_ws_new();
    idvec ids = {0};
    strbuf s = {0};
    for (size_t i = 0; ws && i < sizeof texts / sizeof texts[0]; i++) {
        for (int special = 0; special < 2; special++) {
            if (hf_tokenizer_encode(t, texts[i], strlen(texts[i]), special, ws, &ids) != GLOSSA_STATUS_OK)
                continue;
            hf_tokenizer_decode(t, ids.data, ids.len, false, &s);
            hf_tokenizer_decode(t, ids.data, ids.len, true, &s);
        }
    }
    int32_t vs = hf_tokenizer_vocab_size(t);
    int32_t raw[4] = {-1, vs, vs > 0 ? vs - 1 : 0, 0};
    hf_tokenizer_decode(t, raw, 4, false, &s);
    hf_tokenizer_decode(t, raw + 2, 2, true, &s);
    for (int32_t id = 0; id < vs && id < 64; id++) {
        const char *p = hf_tokenizer_id_to_token(t, id);
        if (p) hf_tokenizer_token_to_id(t, p, strlen(p));
        hf_tokenizer_is_special(t, id);
    }
    idvec_free(&ids);
    strbuf_free(&s);
    tok_ws_free(ws);
    hf_tokenizer_free(t);
    return 0;
}
