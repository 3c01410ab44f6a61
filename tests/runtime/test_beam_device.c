/* Beam search's device path (beam_search_device_group + the backend's beam_topk +
 * beam_search_step_device) against the host path (decode_log_softmax + decode_process_logits +
 * beam_search_step), on the CPU backend: whole searches in lockstep must pick the same parents
 * and tokens at every step and end with bit-identical hypotheses and scores.
 *
 * The "model" is a hash of the decoder prefix: the same prefix always gives the same logits row,
 * as a real model would. Rows mix random values, quantised values (exact ties), -inf entries,
 * and now and then a row that is all -inf (log_softmax NaN) or holds a NaN. Settings cover
 * forced BOS / EOS, bad words, min_length / min_new_tokens, several EOS ids, early_stopping,
 * length penalties, ignore_eos; repetition penalty and no-repeat n-gram must stay on the host. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/status.h"
#include "runtime/decode.h"
#include "test.h"

#define MAX_NB 8
#define MAX_V  700

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

typedef struct model {
    int32_t vocab;
    uint64_t seed;
    int style; /* 0: continuous, 1: quantised (ties), 2: with -inf entries, 3: rare NaN rows */
} model;

static void model_row(const model *m, const int32_t *seq, int32_t len, float *row)
{
    uint64_t h = m->seed;
    for (int32_t i = 0; i < len; i++)
        h = mix(h ^ (uint64_t)(uint32_t)seq[i] * 0x9e3779b97f4a7c15ull);
    const bool all_ninf = m->style == 3 && h % 23 == 0;
    const bool one_nan = m->style == 3 && h % 23 == 1;
    for (int32_t t = 0; t < m->vocab; t++) {
        uint64_t r = mix(h + (uint64_t)t);
        float v = (float)((double)(r >> 11) / 9007199254740992.0) * 12.0f - 6.0f;
        if (m->style == 1) v = floorf(v * 2.0f) * 0.5f;
        if (m->style == 2 && r % 7 == 0) v = -INFINITY;
        if (all_ninf) v = -INFINITY;
        row[t] = v;
    }
    if (one_nan) row[(int32_t)(h % (uint64_t)m->vocab)] = NAN;
}

static decode_params params(int32_t nb, int32_t max_len)
{
    decode_params p;
    memset(&p, 0, sizeof p);
    p.max_length = max_len;
    p.num_beams = nb;
    p.num_return_sequences = nb > 1 ? 2 : 1;
    p.length_penalty = 1.0f;
    p.temperature = 1.0f;
    p.top_p = 1.0f;
    p.repetition_penalty = 1.0f;
    p.forced_bos_token_id = -1;
    p.forced_eos_token_id = -1;
    p.eos_ids[0] = 2;
    p.n_eos = 1;
    p.pad_token_id = 1;
    return p;
}

/* One search both ways in lockstep; returns the number of steps that took the device path. */
static int run_pair(backend *cpu, const model *m, const decode_params *p, const char *what)
{
    const int32_t V = m->vocab, nb = p->num_beams;
    beam_search *h = NULL, *d = NULL;
    CHECK_OK(beam_search_new(p, V, 0, &h));
    CHECK_OK(beam_search_new(p, V, 0, &d));
    if (!h || !d) {
        beam_search_free(h);
        beam_search_free(d);
        return 0;
    }
    static float raw[MAX_NB * MAX_V], proc[MAX_NB * MAX_V];
    int dev_steps = 0, step = 0;
    bool ok = true;
    while (ok && !beam_search_done(h)) {
        CHECK_MSG(!beam_search_done(d), "%s: device path finished early at step %d", what, step);
        for (int32_t b = 0; b < nb; b++) {
            int32_t lh, ld;
            const int32_t *sh = beam_search_seq(h, b, &lh), *sd = beam_search_seq(d, b, &ld);
            ok = ok && lh == ld && memcmp(sh, sd, (size_t)lh * sizeof *sh) == 0;
            model_row(m, sh, lh, raw + (size_t)b * V);
            memcpy(proc + (size_t)b * V, raw + (size_t)b * V, (size_t)V * sizeof(float));
            decode_log_softmax(proc + (size_t)b * V, V);
            decode_process_logits(proc + (size_t)b * V, V, sh, lh, p);
        }
        CHECK_MSG(ok, "%s: running sequences differ at step %d", what, step);
        int32_t ph[MAX_NB], th[MAX_NB], pd[MAX_NB], td[MAX_NB];
        CHECK_OK(beam_search_step(h, proc, ph, th));
        gl_beam_group g;
        if (beam_search_device_group(d, &g)) {
            g.row0 = 0;
            CHECK(beam_search_device_pending(d));
            CHECK_OK(cpu->ops->beam_topk(cpu, nb, V, V, raw, 1, &g));
            CHECK_OK(beam_search_step_device(d, pd, td));
            CHECK(!beam_search_device_pending(d));
            dev_steps++;
        } else {
            CHECK_OK(beam_search_step(d, proc, pd, td));
        }
        ok = memcmp(ph, pd, (size_t)nb * sizeof *ph) == 0 &&
             memcmp(th, td, (size_t)nb * sizeof *th) == 0;
        CHECK_MSG(ok, "%s: step %d picks differ (beam 0: parent %d/%d token %d/%d)", what, step,
                  ph[0], pd[0], th[0], td[0]);
        step++;
    }
    CHECK_MSG(!ok || beam_search_done(d), "%s: device path not finished", what);
    const int32_t nret = p->num_return_sequences;
    for (int32_t k = 0; ok && k < nret; k++) {
        const int32_t *sh, *sd;
        int32_t lh, ld;
        float sch, scd;
        CHECK_OK(beam_search_result(h, k, &sh, &lh, &sch));
        CHECK_OK(beam_search_result(d, k, &sd, &ld, &scd));
        const bool same = lh == ld && memcmp(sh, sd, (size_t)lh * sizeof *sh) == 0 &&
                          (memcmp(&sch, &scd, sizeof sch) == 0 || (isnan(sch) && isnan(scd)));
        CHECK_MSG(same, "%s: hypothesis %d differs (score %.9g vs %.9g)", what, k, sch, scd);
    }
    beam_search_free(h);
    beam_search_free(d);
    return dev_steps;
}

static void test_lockstep(backend *cpu)
{
    static const int32_t vocabs[] = {7, 50, 311, 700};
    int cases = 0, dev_steps = 0;
    for (int style = 0; style < 4; style++)
        for (size_t vi = 0; vi < sizeof vocabs / sizeof vocabs[0]; vi++)
            for (int32_t nb = 1; nb <= MAX_NB; nb++)
                for (int variant = 0; variant < 8; variant++) {
                    model m = {vocabs[vi],
                               mix((uint64_t)(style * 1000 + vi * 100 + nb * 10 + variant)), style};
                    const int32_t V = m.vocab;
                    decode_params p = params(nb, 4 + variant);
                    if (nb == 1) p.num_return_sequences = 1;
                    switch (variant) {
                    case 0:
                        break;
                    case 1:
                        p.forced_bos_token_id = 5 % V;
                        p.forced_eos_token_id = 2;
                        break;
                    case 2:
                        p.n_bad_words = 3;
                        p.bad_words[0] = 3 % V;
                        p.bad_words[1] = 2; /* an EOS id: HF drops it from the bad words */
                        p.bad_words[2] = V - 1;
                        p.min_length = 6;
                        break;
                    case 3:
                        p.n_eos = 3; /* beams_to_keep = 4 * num_beams */
                        p.eos_ids[1] = 4 % V;
                        p.eos_ids[2] = 6 % V;
                        p.early_stopping = 1;
                        p.min_new_tokens = 2;
                        break;
                    case 4:
                        p.length_penalty = 0.6f;
                        p.early_stopping = 2;
                        break;
                    case 5:
                        p.ignore_eos = true;
                        p.forced_bos_token_id = V + 3; /* out of range: no forcing, as HF's */
                        break;
                    case 6:
                        p.length_penalty = 2.0f;
                        p.forced_eos_token_id = V - 1;
                        p.n_bad_words = 1;
                        p.bad_words[0] = V - 1;
                        break;
                    default:
                        p.eos_ids[0] = 0; /* EOS is the decoder start token */
                        p.forced_bos_token_id = 1;
                        break;
                    }
                    char what[96];
                    snprintf(what, sizeof what, "style %d vocab %d beams %d variant %d", style, V,
                             nb, variant);
                    dev_steps += run_pair(cpu, &m, &p, what);
                    cases++;
                }
    printf("%d searches in lockstep, %d steps on the device path\n", cases, dev_steps);
    CHECK(dev_steps > cases);
}

/* Processors that need the row keep the host path; the forced and banned tokens are those of
 * decode_process_logits. */
static void test_eligibility(void)
{
    decode_params p = params(3, 6);
    beam_search *bs = NULL;
    gl_beam_group g;
    p.repetition_penalty = 1.3f;
    CHECK_OK(beam_search_new(&p, 20, 0, &bs));
    CHECK(bs && !beam_search_device_group(bs, &g) && !beam_search_device_pending(bs));
    beam_search_free(bs);
    p = params(3, 6);
    p.no_repeat_ngram_size = 3;
    CHECK_OK(beam_search_new(&p, 20, 0, &bs));
    CHECK(bs && !beam_search_device_group(bs, &g));
    beam_search_free(bs);
    p = params(3, 6);
    p.n_eos = 8; /* beams_to_keep 9 * 3 = 27: fine; 9 * 16 = 144 > GL_BEAM_MAX_K is not */
    for (int i = 0; i < 8; i++)
        p.eos_ids[i] = 2 + i;
    CHECK_OK(beam_search_new(&p, 20, 0, &bs));
    CHECK(bs && beam_search_device_group(bs, &g) && g.k == 27 && g.n_beams == 3);
    beam_search_free(bs);
    p.num_beams = 16;
    p.num_return_sequences = 1;
    CHECK_OK(beam_search_new(&p, 20, 0, &bs));
    CHECK(bs && !beam_search_device_group(bs, &g));
    beam_search_free(bs);

    p = params(2, 6);
    p.forced_bos_token_id = 7;
    p.forced_eos_token_id = 2;
    p.min_length = 4;
    p.n_bad_words = 2;
    p.bad_words[0] = 9;
    p.bad_words[1] = 2; /* EOS: not a bad word */
    CHECK_OK(beam_search_new(&p, 20, 0, &bs));
    if (!bs) return;
    CHECK(beam_search_device_group(bs, &g));
    CHECK(g.forced == 7 && g.k == 4 && g.n_ban == 2 && g.ban[0] == 9 && g.ban[1] == 2);
    CHECK(g.scores[0] == 0.0f && g.scores[1] == -1e9f);
    beam_search_free(bs);
}

int main(void)
{
    backend *cpu = NULL;
    CHECK_OK(backend_cpu_create(2, &cpu));
    if (!cpu) TEST_MAIN_END();
    test_eligibility();
    test_lockstep(cpu);
    backend_destroy(cpu);
    TEST_MAIN_END();
}
