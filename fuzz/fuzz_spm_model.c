/* libFuzzer target: the sentencepiece .model reader (ModelProto, charsmap) on arbitrary bytes.
 * A model that loads must also encode and decode without fault. */
#include <stdint.h>
#include <string.h>

#include "tok/spm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    spm_processor *p = NULL;
    if (spm_load_buffer(data, size, &p) != GLOSSA_STATUS_OK) return 0;
    static const char *texts[] = {"Hello world", "  a  b ", "日本語のテキスト", "\xff\xfe bad", ""};
    tok_ws *ws = tok_ws_new();
    idvec ids = {0};
    strbuf s = {0};
    for (size_t i = 0; ws && i < sizeof texts / sizeof texts[0]; i++) {
        ids.len = 0;
        if (spm_encode(p, texts[i], strlen(texts[i]), ws, &ids) == GLOSSA_STATUS_OK) {
            s.len = 0;
            spm_decode(p, ids.data, ids.len, &s);
        }
        s.len = 0;
        spm_encode_pieces(p, texts[i], strlen(texts[i]), ws, &s);
    }
    idvec_free(&ids);
    strbuf_free(&s);
    tok_ws_free(ws);
    spm_free(p);
    return 0;
}
