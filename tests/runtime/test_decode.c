/* runtime/decode.h: HF's logits processors, sampling warpers and beam search, checked against
 * results worked out by hand from transformers 5.x (generation/utils.py, logits_process.py). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/status.h"
#include "runtime/decode.h"
#include "test.h"

#define NINF (-INFINITY)

static decode_params base_params(void)
{
    decode_params p;
    memset(&p, 0, sizeof p);
    p.max_length = 20;
    p.num_beams = 1;
    p.num_return_sequences = 1;
    p.length_penalty = 1.0f;
    p.temperature = 1.0f;
    p.top_p = 1.0f;
    p.repetition_penalty = 1.0f;
    p.forced_bos_token_id = -1;
    p.forced_eos_token_id = -1;
    p.eos_ids[0] = 1;
    p.n_eos = 1;
    p.pad_token_id = 0;
    return p;
}

static bool row_eq(const float *a, const float *b, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        if (isinf(a[i]) || isinf(b[i])) {
            if (!(isinf(a[i]) && isinf(b[i]) && (a[i] < 0) == (b[i] < 0))) return false;
        } else if (fabsf(a[i] - b[i]) > 1e-6f) {
            return false;
        }
    }
    return true;
}

/* ---- processors ---- */

static void test_repetition_penalty(void)
{
    decode_params p = base_params();
    p.repetition_penalty = 2.0f;
    /* raw logits: positive / penalty, negative * penalty, each token once even if repeated; the
     * start token (0) is part of input_ids and is penalised too */
    float row[5] = {2.0f, -1.0f, 0.5f, -3.0f, 1.0f};
    const int32_t seq[] = {0, 1, 1, 2};
    decode_process_logits(row, 5, seq, 4, &p);
    const float want[5] = {1.0f, -2.0f, 0.25f, -3.0f, 1.0f};
    CHECK(row_eq(row, want, 5));

    /* beam search processes log-probs: all <= 0, so a penalty > 1 always multiplies and makes
     * repeated tokens less likely (never more) */
    float lp[4] = {-0.5f, -1.0f, -2.0f, -0.25f};
    const int32_t seq2[] = {0, 3};
    decode_process_logits(lp, 4, seq2, 2, &p);
    const float want2[4] = {-1.0f, -1.0f, -2.0f, -0.5f};
    CHECK(row_eq(lp, want2, 4));

    /* penalty < 1 rewards: negative * 0.5, positive / 0.5 */
    p.repetition_penalty = 0.5f;
    float row3[3] = {-4.0f, 3.0f, 1.0f};
    const int32_t seq3[] = {0, 1};
    decode_process_logits(row3, 3, seq3, 2, &p);
    const float want3[3] = {-2.0f, 6.0f, 1.0f};
    CHECK(row_eq(row3, want3, 3));
}

static void test_no_repeat_ngram(void)
{
    decode_params p = base_params();
    p.n_eos = 0;
    p.no_repeat_ngram_size = 2;
    /* seq 0 5 6 5: prefix (5); bigrams (0,5) (5,6) (6,5): (5,6) matches -> ban 6 */
    float row[8] = {0};
    const int32_t s1[] = {0, 5, 6, 5};
    decode_process_logits(row, 8, s1, 4, &p);
    for (int i = 0; i < 8; i++)
        CHECK(i == 6 ? isinf(row[i]) : row[i] == 0.0f);

    /* trigram: seq 0 1 2 3 1 2, prefix (1 2) matches the window (1 2 3) -> ban 3 */
    p.no_repeat_ngram_size = 3;
    float row2[8] = {0};
    const int32_t s2[] = {0, 1, 2, 3, 1, 2};
    decode_process_logits(row2, 8, s2, 6, &p);
    for (int i = 0; i < 8; i++)
        CHECK(i == 3 ? isinf(row2[i]) : row2[i] == 0.0f);

    /* fewer tokens than n: nothing; the window at the prefix itself is incomplete */
    float row3[8] = {0};
    const int32_t s3[] = {0, 1};
    decode_process_logits(row3, 8, s3, 2, &p);
    for (int i = 0; i < 8; i++)
        CHECK(row3[i] == 0.0f);
    float row3b[8] = {0};
    const int32_t s3b[] = {0, 1, 1};
    decode_process_logits(row3b, 8, s3b, 3, &p); /* prefix (1 1); the only window is 0 1 1 */
    for (int i = 0; i < 8; i++)
        CHECK(row3b[i] == 0.0f);

    /* n = 1: every token already in input_ids, the start token included */
    p.no_repeat_ngram_size = 1;
    float row4[8] = {0};
    const int32_t s4[] = {0, 4, 7};
    decode_process_logits(row4, 8, s4, 3, &p);
    for (int i = 0; i < 8; i++)
        CHECK((i == 0 || i == 4 || i == 7) ? isinf(row4[i]) : row4[i] == 0.0f);
}

static void test_bad_words_min_length(void)
{
    decode_params p = base_params();
    p.eos_ids[0] = 1;
    p.eos_ids[1] = 2;
    p.n_eos = 2;
    /* NoBadWordsLogitsProcessor drops bad words equal to an EOS id */
    p.bad_words[0] = 3;
    p.bad_words[1] = 2;
    p.n_bad_words = 2;
    const int32_t seq[] = {0, 5, 5};
    float row[6] = {0, 0, 0, 0, 0, 0};
    decode_process_logits(row, 6, seq, 3, &p);
    CHECK(isinf(row[3]) && row[2] == 0.0f && row[1] == 0.0f);

    /* min_length counts input_ids with the start token: masked while seq_len < min_length */
    p.n_bad_words = 0;
    p.min_length = 4;
    float r1[6] = {0};
    decode_process_logits(r1, 6, seq, 3, &p);
    CHECK(isinf(r1[1]) && isinf(r1[2]) && r1[0] == 0.0f && r1[3] == 0.0f);
    float r2[6] = {0};
    const int32_t seq4[] = {0, 5, 5, 5};
    decode_process_logits(r2, 6, seq4, 4, &p);
    CHECK(r2[1] == 0.0f && r2[2] == 0.0f);
    /* ignore_eos: never masked */
    p.ignore_eos = true;
    float r3[6] = {0};
    decode_process_logits(r3, 6, seq, 3, &p);
    CHECK(r3[1] == 0.0f && r3[2] == 0.0f);
    p.ignore_eos = false;

    /* min_new_tokens: new tokens = seq_len - 1 (the start token is the prompt) */
    p.min_length = 0;
    p.min_new_tokens = 2;
    float r4[6] = {0};
    const int32_t seq2[] = {0, 5};
    decode_process_logits(r4, 6, seq2, 2, &p); /* 1 new token < 2 */
    CHECK(isinf(r4[1]) && isinf(r4[2]));
    float r5[6] = {0};
    decode_process_logits(r5, 6, seq, 3, &p); /* 2 new tokens */
    CHECK(r5[1] == 0.0f && r5[2] == 0.0f);
    /* no EOS ids: HF adds no min-length processor */
    p.n_eos = 0;
    float r6[6] = {0};
    decode_process_logits(r6, 6, seq2, 2, &p);
    CHECK(r6[1] == 0.0f && r6[2] == 0.0f);
}

static void test_forced(void)
{
    decode_params p = base_params();
    p.forced_bos_token_id = 4;
    p.forced_eos_token_id = 1;
    p.max_length = 5;
    /* forced BOS at cur_len 1, applied after bad words: a banned forced token is still 0 */
    p.bad_words[0] = 4;
    p.n_bad_words = 1;
    p.repetition_penalty = 3.0f;
    const int32_t s1[] = {0};
    float row[6] = {-1, -2, -3, -4, -5, -6};
    decode_process_logits(row, 6, s1, 1, &p);
    const float want[6] = {NINF, NINF, NINF, NINF, 0.0f, NINF};
    CHECK(row_eq(row, want, 6));
    /* cur_len 2: no forcing; bad word 4 stays banned */
    const int32_t s2[] = {0, 4};
    float row2[6] = {-1, -2, -3, -4, -5, -6};
    decode_process_logits(row2, 6, s2, 2, &p);
    const float want2[6] = {-3, -2, -3, -4, NINF, -6};
    CHECK(row_eq(row2, want2, 6));
    /* forced EOS at cur_len == max_length - 1 overrides min_length's EOS mask (it comes later) */
    p.min_length = 10;
    const int32_t s4[] = {0, 4, 2, 3};
    float row4[6] = {-1, -2, -3, -4, -5, -6};
    decode_process_logits(row4, 6, s4, 4, &p);
    const float want4[6] = {NINF, 0.0f, NINF, NINF, NINF, NINF};
    CHECK(row_eq(row4, want4, 6));
    /* one step earlier: min_length masks EOS, nothing forced */
    const int32_t s3[] = {0, 4, 2};
    float row3[6] = {-1, -2, -3, -4, -5, -6};
    decode_process_logits(row3, 6, s3, 3, &p);
    CHECK(isinf(row3[1]) && row3[0] == -3.0f && row3[2] == -9.0f && isinf(row3[4]));
}

/* decode_greedy_rowless: where it says the row is not needed, decode_greedy_shortcut decides
 * every raw argmax, and its token is what processing the row would pick; it says so for plain
 * greedy and not where a processor could move the argmax. */
static void test_greedy_rowless(void)
{
    enum { V = 6, CONFIGS = 10 };
    int n_rowless = 0;
    for (int c = 0; c < CONFIGS; c++) {
        decode_params p = base_params();
        p.max_length = 6;
        p.eos_ids[1] = 2;
        p.n_eos = 2;
        bool expect_some_row = true; /* a config whose processors need the row at some length */
        if (c == 0) expect_some_row = false;
        if (c == 1) p.bad_words[p.n_bad_words++] = 3;
        if (c == 2) { /* a bad word equal to an EOS id is dropped (HF): no row needed */
            p.bad_words[p.n_bad_words++] = 2;
            expect_some_row = false;
        }
        if (c == 3) p.min_length = 4;
        if (c == 4) p.min_new_tokens = 2;
        if (c == 5) {
            p.min_length = 4;
            p.ignore_eos = true;
            expect_some_row = false;
        }
        if (c == 6) {
            p.forced_bos_token_id = 4;
            p.forced_eos_token_id = 1;
            p.min_length = 10; /* masked EOS except where forcing decides */
        }
        if (c == 7) p.repetition_penalty = 1.5f;
        if (c == 8) {
            p.n_eos = 0;
            p.min_length = 4;
            expect_some_row = false;
        }
        if (c == 9) p.no_repeat_ngram_size = 2;
        bool some_row = false;
        for (int32_t len = 1; len < p.max_length; len++) {
            bool rowless = decode_greedy_rowless(&p, V, len);
            some_row = some_row || !rowless;
            n_rowless += rowless;
            if (!rowless) continue;
            for (int32_t a = 0; a < V; a++) {
                float row[V];
                for (int32_t i = 0; i < V; i++)
                    row[i] = -(float)(i + 1);
                row[a] = 5.0f;
                int32_t seq[8] = {0, 3, 5, 3, 5, 3, 5, 3};
                int32_t tok = -7;
                CHECK_MSG(decode_greedy_shortcut(&p, V, len, a, &tok),
                          "config %d len %d argmax %d: rowless but the shortcut needs the row", c,
                          len, a);
                decode_process_logits(row, V, seq, len, &p);
                CHECK_MSG(tok == decode_argmax(row, V), "config %d len %d argmax %d: %d vs %d", c,
                          len, a, tok, decode_argmax(row, V));
            }
        }
        CHECK_MSG(some_row == expect_some_row, "config %d: a row needed at some length %d", c,
                  some_row);
    }
    CHECK(n_rowless > 0);
}

static void test_argmax_log_softmax(void)
{
    const float r[5] = {1.0f, 3.0f, -2.0f, 3.0f, 0.0f};
    CHECK(decode_argmax(r, 5) == 1);
    const float rn[3] = {1.0f, NAN, 5.0f};
    CHECK(decode_argmax(rn, 3) == 1);
    float ls[4] = {0.0f, 0.0f, NINF, 0.0f};
    decode_log_softmax(ls, 4);
    CHECK(fabsf(ls[0] + logf(3.0f)) < 1e-6f && isinf(ls[2]) && ls[0] == ls[3]);
    float big[3] = {1000.0f, 1000.0f + logf(3.0f), -1000.0f};
    decode_log_softmax(big, 3);
    CHECK(fabsf(big[0] - logf(0.25f)) < 1e-4f && fabsf(big[1] - logf(0.75f)) < 1e-4f);
    double s = exp(big[0]) + exp(big[1]) + exp(big[2]);
    CHECK(fabs(s - 1.0) < 1e-5);
}

/* ---- sampling ---- */

static int32_t sample_copy(const float *row, int32_t n, const decode_params *p, decode_rng *rng)
{
    float tmp[64];
    memcpy(tmp, row, (size_t)n * sizeof *tmp);
    return decode_sample(tmp, n, p, rng);
}

static void test_rng_determinism(void)
{
    decode_params p = base_params();
    p.do_sample = true;
    const float row[6] = {0.1f, 0.5f, -0.3f, 0.9f, 0.0f, 0.2f};
    decode_rng a, b, c;
    decode_rng_seed(&a, 42);
    decode_rng_seed(&b, 42);
    decode_rng_seed(&c, 43);
    int same = 0, diff = 0;
    for (int i = 0; i < 200; i++) {
        int32_t ta = sample_copy(row, 6, &p, &a), tb = sample_copy(row, 6, &p, &b);
        int32_t tc = sample_copy(row, 6, &p, &c);
        same += ta == tb;
        diff += ta != tc;
        CHECK(ta >= 0 && ta < 6);
    }
    CHECK(same == 200);
    CHECK(diff > 20);
}

static void test_top_k_top_p(void)
{
    decode_params p = base_params();
    p.do_sample = true;
    decode_rng rng;
    decode_rng_seed(&rng, 7);
    /* top_k = 1 is the argmax for distinct values */
    p.top_k = 1;
    for (int trial = 0; trial < 50; trial++) {
        float row[16];
        for (int i = 0; i < 16; i++)
            row[i] = (float)((trial * 7 + i * 13) % 17) - 8.0f + 0.01f * i;
        CHECK(sample_copy(row, 16, &p, &rng) == decode_argmax(row, 16));
    }
    /* ties with the k-th value survive (scores < kth are removed) */
    const float tie[4] = {3.0f, 3.0f, 1.0f, 0.0f};
    int seen[4] = {0};
    for (int i = 0; i < 400; i++)
        seen[sample_copy(tie, 4, &p, &rng)]++;
    CHECK(seen[0] > 100 && seen[1] > 100 && seen[2] == 0 && seen[3] == 0);

    /* top_p tiny keeps the top token only */
    p.top_k = 0;
    p.top_p = 1e-6f;
    const float r2[5] = {0.0f, 0.1f, 0.3f, 0.2f, 0.25f};
    for (int i = 0; i < 100; i++)
        CHECK(sample_copy(r2, 5, &p, &rng) == 2);

    /* probabilities .5 .25 .125 .125: sorted ascending (stable) idx2 .125, idx3 .125, idx1 .25,
     * idx0 .5, cumsum .125 .25 .5 1. top_p .76: remove cumsum <= .24 -> only idx2.
     * top_p .74: remove cumsum <= .26 -> idx2 and idx3. */
    const float q[4] = {logf(0.5f), logf(0.25f), logf(0.125f), logf(0.125f)};
    p.top_p = 0.76f;
    int cnt[4] = {0};
    for (int i = 0; i < 4000; i++)
        cnt[sample_copy(q, 4, &p, &rng)]++;
    CHECK(cnt[2] == 0 && cnt[3] > 300 && cnt[1] > 800 && cnt[0] > 1800);
    p.top_p = 0.74f;
    memset(cnt, 0, sizeof cnt);
    for (int i = 0; i < 4000; i++)
        cnt[sample_copy(q, 4, &p, &rng)]++;
    CHECK(cnt[2] == 0 && cnt[3] == 0 && cnt[1] > 1000 && cnt[0] > 2300);
    /* top-k then top-p: k = 3 removes idx3 (.125 tie with idx2 survives: both equal the 3rd) */
    p.top_k = 3;
    p.top_p = 1.0f;
    memset(cnt, 0, sizeof cnt);
    for (int i = 0; i < 2000; i++)
        cnt[sample_copy(q, 4, &p, &rng)]++;
    CHECK(cnt[2] > 0 && cnt[3] > 0);
    p.top_k = 2;
    memset(cnt, 0, sizeof cnt);
    for (int i = 0; i < 2000; i++)
        cnt[sample_copy(q, 4, &p, &rng)]++;
    CHECK(cnt[2] == 0 && cnt[3] == 0);
}

static void test_distribution(void)
{
    decode_params p = base_params();
    p.do_sample = true;
    decode_rng rng;
    decode_rng_seed(&rng, 123456789);
    const float pr[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    float row[4];
    for (int i = 0; i < 4; i++)
        row[i] = logf(pr[i]) + 5.0f;
    const int n = 100000;
    int cnt[4] = {0};
    for (int i = 0; i < n; i++)
        cnt[sample_copy(row, 4, &p, &rng)]++;
    for (int i = 0; i < 4; i++)
        CHECK_MSG(fabs((double)cnt[i] / n - pr[i]) < 0.01, "token %d: %d", i, cnt[i]);

    /* temperature 2: logits 0, 2 ln 3 -> 0, ln 3 -> 1/4, 3/4 */
    p.temperature = 2.0f;
    const float t2[2] = {0.0f, 2.0f * logf(3.0f)};
    int c2[2] = {0};
    for (int i = 0; i < n; i++)
        c2[sample_copy(t2, 2, &p, &rng)]++;
    CHECK(fabs((double)c2[1] / n - 0.75) < 0.01);
    /* temperature near 0: the argmax */
    p.temperature = 0.01f;
    const float t3[3] = {1.0f, 1.5f, 1.1f};
    for (int i = 0; i < 100; i++)
        CHECK(sample_copy(t3, 3, &p, &rng) == 1);
}

/* Concurrent samplers (more threads than scratch slots) draw what a lone sampler draws. */
#define SAMPLE_THREADS 20
#define SAMPLE_DRAWS   200
#define SAMPLE_VOCAB   3000

typedef struct sampler_job {
    uint64_t seed;
    int32_t out[SAMPLE_DRAWS];
} sampler_job;

static void sampler_run(sampler_job *j)
{
    decode_params p = base_params();
    p.do_sample = true;
    p.top_k = 50;
    p.top_p = 0.9f;
    p.temperature = 0.8f;
    decode_rng rng;
    decode_rng_seed(&rng, j->seed);
    float *row = malloc(SAMPLE_VOCAB * sizeof *row);
    if (!row) return;
    for (int d = 0; d < SAMPLE_DRAWS; d++) {
        for (int i = 0; i < SAMPLE_VOCAB; i++)
            row[i] = (float)((i * 7919 + d * 104729) % 1000) / 100.0f;
        j->out[d] = decode_sample(row, SAMPLE_VOCAB, &p, &rng);
    }
    free(row);
}

static void *sampler_thread(void *arg)
{
    sampler_run(arg);
    return NULL;
}

static void test_concurrent_sampling(void)
{
    static sampler_job par[SAMPLE_THREADS], ser[SAMPLE_THREADS];
    pthread_t th[SAMPLE_THREADS];
    for (int t = 0; t < SAMPLE_THREADS; t++) {
        par[t].seed = ser[t].seed = 1000 + (uint64_t)t;
        sampler_run(&ser[t]);
    }
    int started = 0;
    for (int t = 0; t < SAMPLE_THREADS; t++)
        started += pthread_create(&th[t], NULL, sampler_thread, &par[t]) == 0;
    CHECK(started == SAMPLE_THREADS);
    for (int t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < started; t++)
        CHECK(memcmp(par[t].out, ser[t].out, sizeof par[t].out) == 0);
}

/* ---- beam search on a synthetic model ----
 * Tokens: 0 start (never generated), 1 EOS, 2 a, 3 b, 4 c. The "model" gives a fixed row of
 * (already processed) log-probs per generated prefix; all values are multiples of 1/4 so float
 * sums are exact and the hand simulation below is exact. */
enum { V = 5, EOS = 1, TA = 2, TB = 3, TC = 4 };

typedef struct model_entry {
    int32_t prefix[4];
    int32_t n;
    float row[V];
} model_entry;

static const model_entry MODEL[] = {
    {{0}, 0, {NINF, -3.0f, -0.5f, -1.0f, -2.0f}},
    {{TA}, 1, {NINF, -1.5f, -2.0f, -0.5f, -3.0f}},
    {{TB}, 1, {NINF, -0.25f, -1.0f, -2.0f, -2.0f}},
    {{TA, TB}, 2, {NINF, -0.5f, -1.0f, -2.0f, -2.0f}},
    {{TB, TA}, 2, {NINF, -0.25f, -2.0f, -2.0f, -1.0f}},
    {{TA, TB, TA}, 3, {NINF, -0.25f, -1.0f, -1.0f, -1.0f}},
    {{TA, TB, TB}, 3, {NINF, -0.5f, -1.0f, -1.0f, -1.0f}},
};
static const float DEFAULT_ROW[V] = {NINF, -1.0f, -1.25f, -1.5f, -1.75f};

static const float *model_row(const int32_t *seq, int32_t len)
{
    for (size_t e = 0; e < sizeof MODEL / sizeof MODEL[0]; e++) {
        if (MODEL[e].n != len - 1) continue;
        if (len > 1 && memcmp(MODEL[e].prefix, seq + 1, (size_t)(len - 1) * sizeof *seq)) continue;
        return MODEL[e].row;
    }
    return DEFAULT_ROW;
}

typedef struct run_result {
    int32_t seq[4][16];
    int32_t len[4];
    float score[4];
    int steps;
} run_result;

static void run_beam(const decode_params *p, bool process, run_result *out)
{
    beam_search *bs = NULL;
    memset(out, 0, sizeof *out);
    CHECK_OK(beam_search_new(p, V, 0, &bs));
    if (!bs) return;
    const int32_t nb = beam_search_num_beams(bs);
    float rows[8 * V];
    int32_t parent[8], token[8];
    while (!beam_search_done(bs) && out->steps < 32) {
        for (int32_t b = 0; b < nb; b++) {
            int32_t len;
            const int32_t *s = beam_search_seq(bs, b, &len);
            memcpy(rows + b * V, model_row(s, len), sizeof(float) * V);
            if (process) decode_process_logits(rows + b * V, V, s, len, p);
        }
        CHECK_OK(beam_search_step(bs, rows, parent, token));
        out->steps++;
    }
    for (int32_t k = 0; k < p->num_return_sequences; k++) {
        const int32_t *s;
        CHECK_OK(beam_search_result(bs, k, &s, &out->len[k], &out->score[k]));
        memcpy(out->seq[k], s, (size_t)out->len[k] * sizeof *s);
    }
    beam_search_free(bs);
}

static bool hyp_is(const run_result *r, int k, const int32_t *want, int32_t n, float score)
{
    if (r->len[k] != n || memcmp(r->seq[k], want, (size_t)n * sizeof *want)) return false;
    return r->score[k] == score;
}

static decode_params beam_params(float lp, int32_t early, int32_t max_length)
{
    decode_params p = base_params();
    p.num_beams = 2;
    p.num_return_sequences = 2;
    p.length_penalty = lp;
    p.early_stopping = early;
    p.max_length = max_length;
    return p;
}

/* Hand simulation, num_beams 2, one EOS -> beams_to_keep 4 (flat index = beam * 5 + token).
 * step 1 (cur_len 1): beam 0 only (beam 1 sits at -1e9): a -.5, b -1, c -2, EOS -3. EOS is
 *   ranked 3 >= num_beams: dropped, not a hypothesis. running: [a] -.5, [b] -1.
 * step 2: [a]+: EOS -2, a -2.5, b -1, c -3.5; [b]+: EOS -1.25, a -2, b -3, c -3.
 *   top4: [a b] -1 | [b EOS] -1.25 | [a EOS] -2 (flat 1) | [b a] -2 (flat 7).
 *   [b EOS] (rank 1) finishes with -1.25 / 2^lp; [a EOS] (rank 2) is dropped.
 *   running: [a b] -1, [b a] -2.
 * step 3: [a b]+: EOS -1.5, a -2, b -3, c -3; [b a]+: EOS -2.25, a -4, b -4, c -3.
 *   top4: [a b EOS] -1.5 | [a b a] -2 | [b a EOS] -2.25 (rank 2: dropped) | [a b b] -3 (flat 3).
 *   [a b EOS] finishes with -1.5 / 3^lp. running: [a b a] -2, [a b b] -3.
 * step 4: [a b a]+: EOS -2.25, a/b/c -3; [a b b]+: EOS -3.5, -4.
 *   top4: [a b a EOS] -2.25 | [a b a a] -3 | [a b a b] -3 | [a b a c] -3.
 *   [a b a EOS] finishes with -2.25 / 4^lp. running: [a b a a] -3, [a b a b] -3.
 * step 5 (default rows): per beam EOS -4, a -4.25, ...; top4 flat 1, 6 (EOS), 2, 7.
 */
static void test_beam_lp1(void)
{
    run_result r;
    const int32_t h_ab[] = {0, TA, TB, EOS}, h_b[] = {0, TB, EOS}, h_aba[] = {0, TA, TB, TA, EOS};
    /* lp 1, early_stopping False: after step 3 the slots hold -.5 ([a b EOS]: -1.5 * (float)(1/3.)
     * rounds to -.5) and -.625; heuristic at cur_len 4: best running -2 / 3 = -.667 <= worst -.625
     * -> done
     */
    decode_params p = beam_params(1.0f, 0, 6);
    run_beam(&p, false, &r);
    CHECK(r.steps == 3);
    CHECK(hyp_is(&r, 0, h_ab, 4, -0.5f));
    CHECK(hyp_is(&r, 1, h_b, 3, -0.625f));
    /* early_stopping True: both slots finished after step 3 -> done, same result */
    p.early_stopping = 1;
    run_beam(&p, false, &r);
    CHECK(r.steps == 3 && hyp_is(&r, 0, h_ab, 4, -0.5f) && hyp_is(&r, 1, h_b, 3, -0.625f));
    /* "never" with lp > 0 scores the best running beam at max_length - 1 = 5: after step 3
     * -2/5 = -.4 > -.625 -> go on; step 4 adds [a b a EOS] -2.25/4 = -.5625 which replaces
     * [b EOS]; then -3/5 = -.6 <= -.5625 -> done */
    p.early_stopping = 2;
    run_beam(&p, false, &r);
    CHECK(r.steps == 4);
    CHECK(hyp_is(&r, 0, h_ab, 4, -0.5f));
    CHECK(hyp_is(&r, 1, h_aba, 5, -0.5625f));
}

static void test_beam_lp0_lp2(void)
{
    run_result r;
    const int32_t h_ab[] = {0, TA, TB, EOS}, h_b[] = {0, TB, EOS}, h_aba[] = {0, TA, TB, TA, EOS};
    const int32_t h_abaa[] = {0, TA, TB, TA, TA, EOS};
    /* lp 0: raw sums. After step 3: [b EOS] -1.25, [a b EOS] -1.5; best running -2 -> done */
    decode_params p = beam_params(0.0f, 0, 6);
    run_beam(&p, false, &r);
    CHECK(r.steps == 3 && hyp_is(&r, 0, h_b, 3, -1.25f) && hyp_is(&r, 1, h_ab, 4, -1.5f));
    /* lp 0 with "never": lp <= 0, so the heuristic is the same as False */
    p.early_stopping = 2;
    run_beam(&p, false, &r);
    CHECK(r.steps == 3 && hyp_is(&r, 0, h_b, 3, -1.25f) && hyp_is(&r, 1, h_ab, 4, -1.5f));

    /* lp 2: [b EOS] -1.25/4 = -.3125, [a b EOS] -1.5 * (1/9f). After step 3 the running best
     * -2/9 = -.222 > -.3125: False goes on (True stops); step 4 adds [a b a EOS] -2.25/16 =
     * -.140625; then -3/16 = -.1875 <= worst -.1667 -> done */
    const float s_ab = -1.5f * (float)(1.0 / 9.0);
    p = beam_params(2.0f, 0, 6);
    run_beam(&p, false, &r);
    CHECK(r.steps == 4 && hyp_is(&r, 0, h_aba, 5, -0.140625f) && hyp_is(&r, 1, h_ab, 4, s_ab));
    p.early_stopping = 1;
    run_beam(&p, false, &r);
    CHECK(r.steps == 3 && hyp_is(&r, 0, h_ab, 4, s_ab) && hyp_is(&r, 1, h_b, 3, -0.3125f));
    /* lp 2, "never": running scored at length 5: -3/25 = -.12 > -.1667 after step 4 -> step 5
     * (cur_len 5 -> 6 = max_length: every candidate hits). Top2 candidates [a b a a EOS] and
     * [a b a b EOS], -4 / 25 each, finish; -4 * (float)(1/25.) = -.16 beats -.1667 */
    p.early_stopping = 2;
    run_beam(&p, false, &r);
    CHECK(r.steps == 5);
    CHECK(hyp_is(&r, 0, h_aba, 5, -0.140625f));
    CHECK(hyp_is(&r, 1, h_abaa, 6, -4.0f * (float)(1.0 / 25.0)));
}

static void test_beam_max_length_and_misc(void)
{
    run_result r;
    /* max_length 3: step 2 reaches it, every candidate hits; the top two, [a b] -1 (no EOS) and
     * [b EOS] -1.25, become hypotheses with /2 */
    decode_params p = beam_params(1.0f, 0, 3);
    run_beam(&p, false, &r);
    const int32_t h1[] = {0, TA, TB}, h2[] = {0, TB, EOS};
    CHECK(r.steps == 2 && hyp_is(&r, 0, h1, 3, -0.5f) && hyp_is(&r, 1, h2, 3, -0.625f));

    /* forced EOS at cur_len == max_length - 1 through decode_process_logits: step 2 rows are
     * EOS-only (0): [a EOS] -.5 and [b EOS] -1 are the top two -> /2 */
    p.forced_eos_token_id = EOS;
    run_beam(&p, true, &r);
    const int32_t h3[] = {0, TA, EOS};
    CHECK(r.steps == 2 && hyp_is(&r, 0, h3, 3, -0.25f) && hyp_is(&r, 1, h2, 3, -0.5f));

    /* ignore_eos: no EOS criterion, beams_to_keep 4, max_length 4. step 2 running: [a b] -1,
     * [b EOS] -1.25 (EOS is an ordinary token). step 3 hits max_length: top4 [a b EOS] -1.5,
     * [a b a] -2, [b EOS EOS] -2.25, [b EOS a] -2.5; the first two become hypotheses, /3 */
    p = beam_params(1.0f, 0, 4);
    p.ignore_eos = true;
    run_beam(&p, false, &r);
    const int32_t h4[] = {0, TA, TB, EOS}, h5[] = {0, TA, TB, TA};
    CHECK(r.steps == 3 && hyp_is(&r, 0, h4, 4, -0.5f) &&
          hyp_is(&r, 1, h5, 4, -2.0f * (float)(1.0 / 3.0)));

    /* num_return_sequences 1: only the best; k = 1 is out of range */
    p = beam_params(1.0f, 0, 6);
    p.num_return_sequences = 1;
    beam_search *bs = NULL;
    CHECK_OK(beam_search_new(&p, V, 0, &bs));
    float rows[2 * V];
    int32_t par[2], tok[2];
    for (int b = 0; b < 2; b++)
        memcpy(rows + b * V, MODEL[0].row, sizeof MODEL[0].row);
    CHECK_OK(beam_search_step(bs, rows, par, tok));
    CHECK(par[0] == 0 && par[1] == 0 && tok[0] == TA && tok[1] == TB);
    int32_t len;
    const int32_t *s = beam_search_seq(bs, 1, &len);
    CHECK(len == 2 && s[0] == 0 && s[1] == TB);
    /* stopping early: the running beams become hypotheses, -1/1 and -.5/1 */
    const int32_t *hs;
    float sc;
    CHECK_OK(beam_search_result(bs, 0, &hs, &len, &sc));
    CHECK(len == 2 && hs[1] == TA && sc == -0.5f);
    CHECK_STATUS(beam_search_result(bs, 1, &hs, &len, &sc), GLOSSA_STATUS_INVALID_ARGUMENT);
    CHECK(beam_search_done(bs));
    CHECK_STATUS(beam_search_step(bs, rows, par, tok), GLOSSA_STATUS_INVALID_ARGUMENT);
    beam_search_free(bs);

    p.do_sample = true;
    CHECK_STATUS(beam_search_new(&p, V, 0, &bs), GLOSSA_STATUS_UNSUPPORTED);
    p.do_sample = false;
    p.max_length = 1;
    CHECK_STATUS(beam_search_new(&p, V, 0, &bs), GLOSSA_STATUS_INVALID_ARGUMENT);
    p.max_length = 6;
    p.num_return_sequences = 3;
    CHECK_STATUS(beam_search_new(&p, V, 0, &bs), GLOSSA_STATUS_INVALID_ARGUMENT);
}

/* Step 2 parents/tokens, and three beams at the first step: only beam 0's continuations run
 * (beams 1, 2 start at -1e9), the 5th and 6th candidates are beam 1's -1e9 ties in flat order. */
static void test_beam_parents(void)
{
    decode_params p = beam_params(1.0f, 0, 6);
    beam_search *bs = NULL;
    CHECK_OK(beam_search_new(&p, V, 0, &bs));
    float rows[3 * V];
    int32_t par[3], tok[3], len;
    for (int step = 0; step < 2; step++) {
        for (int b = 0; b < 2; b++) {
            const int32_t *s = beam_search_seq(bs, b, &len);
            memcpy(rows + b * V, model_row(s, len), sizeof(float) * V);
        }
        CHECK_OK(beam_search_step(bs, rows, par, tok));
    }
    /* step 2: [a b] from beam 0 ([a]), [b a] from beam 1 ([b]) */
    CHECK(par[0] == 0 && tok[0] == TB && par[1] == 1 && tok[1] == TA);
    const int32_t *s = beam_search_seq(bs, 1, &len);
    CHECK(len == 3 && s[1] == TB && s[2] == TA);
    beam_search_free(bs);

    p.num_beams = 3;
    p.num_return_sequences = 3;
    CHECK_OK(beam_search_new(&p, V, 0, &bs));
    for (int b = 0; b < 3; b++)
        memcpy(rows + b * V, MODEL[0].row, sizeof MODEL[0].row);
    CHECK_OK(beam_search_step(bs, rows, par, tok));
    CHECK(par[0] == 0 && par[1] == 0 && par[2] == 0);
    CHECK(tok[0] == TA && tok[1] == TB && tok[2] == TC);
    beam_search_free(bs);
}

int main(void)
{
    test_repetition_penalty();
    test_no_repeat_ngram();
    test_bad_words_min_length();
    test_forced();
    test_greedy_rowless();
    test_argmax_log_softmax();
    test_rng_determinism();
    test_top_k_top_p();
    test_distribution();
    test_concurrent_sampling();
    test_beam_lp1();
    test_beam_lp0_lp2();
    test_beam_max_length_and_misc();
    test_beam_parents();
    TEST_MAIN_END();
}
