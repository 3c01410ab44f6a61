/* The server's incremental detokenizer (src/server/stream_detok.c) against whole decodes: random
 * id sequences pushed a few ids at a time, with the streaming rule of completions_stream.c (send
 * the stable prefix, then settle). What is sent is always a prefix of the whole decode, the
 * detokenizer's text equals the whole decode after every push, and the window stays short.
 * Tokenizers: byte-fallback BPE and unigram fixtures, and the demo model's tokenizer.json. */
#include <stdlib.h>

#include "glossa.h"
#include "stream_detok.h"
#include "stream_text.h"
#include "test.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static void one_stream(const glossa_tokenizer *tok, const int32_t *ids, size_t n, size_t *max_window)
{
    stream_detok d = {0};
    glossa_text whole = {0};
    size_t sent = 0;
    for (size_t done = 0; done < n;) {
        size_t k = 1 + rnd(3);
        if (k > n - done) k = n - done;
        size_t have = d.n_ids; /* as job_copy_ids appends */
        size_t cap = have + k > d.cap_ids ? (have + k) * 2 : d.cap_ids;
        if (cap != d.cap_ids) {
            d.ids = realloc(d.ids, cap * sizeof *d.ids);
            d.cap_ids = cap;
        }
        memcpy(d.ids + have, ids + done, k * sizeof *ids);
        d.n_ids += k;
        done += k;
        CHECK_OK(stream_detok_decode(&d, tok));
        CHECK_OK(glossa_tokenizer_decode(tok, ids, done, true, &whole));
        CHECK_MSG(d.len == whole.len && !memcmp(d.text, whole.data, whole.len),
                  "after %zu ids: \"%s\" != \"%s\"", done, d.text, whole.data);
        size_t end = stream_stable_len(d.text, sent, d.len);
        CHECK_MSG(end >= sent && !memcmp(d.text, whole.data, end), "sent text not a prefix");
        sent = end;
        stream_detok_settle(&d, tok, sent);
        if (d.n_ids - d.win > *max_window) *max_window = d.n_ids - d.win;
    }
    glossa_text_free(&whole);
    stream_detok_free(&d);
}

static void run(const char *what, glossa_tokenizer *tok, int streams)
{
    int32_t v = glossa_tokenizer_vocab_size(tok);
    size_t max_window = 0, windows = 0;
    int32_t ids[300];
    for (int s = 0; s < streams; s++) {
        size_t n = 20 + rnd(280);
        /* mostly low ids (frequent pieces, byte pieces), some from the whole vocabulary */
        for (size_t i = 0; i < n; i++) ids[i] = (int32_t)(rnd(4) ? rnd(v < 400 ? (uint32_t)v : 400) : rnd((uint32_t)v));
        size_t mw = 0;
        one_stream(tok, ids, n, &mw);
        windows += mw;
        if (mw > max_window) max_window = mw;
    }
    printf("%s: %d streams, window at most %zu ids (mean of maxima %.1f)\n", what, streams, max_window,
           (double)windows / streams);
    /* random ids settle less often than real text; the window must still stay far below n */
    CHECK_MSG((double)windows / streams < 64, "%s: the window does not move", what);
}

int main(void)
{
    static const char *const spm[] = {"bpe_16k_nmtnfkc_bytefb_uds", "uni_32k_nmtnfkc_bytefb", "uni_8k_nmtnfkc"};
    char path[1024];
    for (size_t i = 0; i < sizeof spm / sizeof spm[0]; i++) {
        snprintf(path, sizeof path, "%s/spm/%s.model", GLOSSA_FIXTURES, spm[i]);
        glossa_tokenizer *tok = NULL;
        CHECK_OK(glossa_tokenizer_load_spm(path, &tok));
        if (tok) run(spm[i], tok, 300);
        glossa_tokenizer_free(tok);
    }
    glossa_tokenizer *tok = NULL;
    CHECK_OK(glossa_tokenizer_load_dir(GLOSSA_DEMO_MODEL, &tok));
    if (tok) run("glossa-demo", tok, 300);
    glossa_tokenizer_free(tok);
    TEST_MAIN_END();
}
