/* Beam search of one request, step by step as HF transformers 5.x does it.
 *
 * Read: transformers generation/utils.py, GenerationMixin._beam_search and its helpers
 * _get_top_k_continuations, _get_running_beams_for_next_iteration, _update_finished_beams,
 * _check_early_stop_heuristic, _beam_search_has_unfinished_sequences, _flatten_beam_dim /
 * _unflatten_beam_dim / _gather_beams; generation/stopping_criteria.py (MaxLengthCriteria,
 * EosTokenCriteria). This is the vectorised rewrite that replaced BeamSearchScorer /
 * BeamHypotheses; for one request (batch_size 1) it reduces to the following.
 *
 * State. running_sequences (num_beams, max_length) start as the decoder prompt (here only the
 * start token, so decoder_prompt_len = 1 and cur_len starts at 1); running_beam_scores =
 * [0, -1e9, -1e9, ...] (float32) so that at the first step, where all beams are identical, only
 * beam 0's continuations compete. The finished side keeps exactly num_beams slots ("sequences",
 * "beam_scores" = -1e9, "is_sent_finished" = false), sorted best first: HF's bounded n-best list.
 * is_early_stop_heuristic_unsatisfied starts true.
 *
 * One step (cur_len = current length of the running sequences):
 *  b. log_probs = logits_processor(running_sequences[:, :cur_len], log_softmax(logits)) — the
 *     caller does this (decode_log_softmax + decode_process_logits) — then, in float32,
 *     accumulated = log_probs + running_beam_scores[:, None], flattened to num_beams * vocab.
 *  c. _get_top_k_continuations: torch.topk(accumulated, beams_to_keep) with
 *     beams_to_keep = max(2, 1 + n_eos) * num_beams; parent = flat // vocab, token = flat % vocab;
 *     each candidate's sequence is its parent's plus the token at position cur_len.
 *  d. next_token_hits_stopping_criteria per candidate: its new length cur_len + 1 >= max_length
 *     (MaxLengthCriteria, true for every candidate at the last step) or its token is an EOS id
 *     (EosTokenCriteria).
 *  e. _get_running_beams_for_next_iteration: topk_log_probs + hit * -1e9, then topk(num_beams):
 *     the best num_beams candidates that did not finish (finished ones sink by 1e9); their
 *     scores (as modified) become running_beam_scores.
 *  f. _update_finished_beams: only candidates ranked within the first num_beams of step c
 *     (top_num_beam_mask) that hit a stopping criterion become finished hypotheses — an EOS
 *     candidate ranked num_beams or lower is dropped for good. Every candidate's score is
 *     length-penalised: topk_log_probs / ((cur_len + 1 - decoder_prompt_len) ** length_penalty),
 *     i.e. sum_logprobs / (number of generated tokens including the new one, the start token
 *     excluded) ** length_penalty; then -1e9 is added if every slot is finished and
 *     early_stopping is True, -1e9 if the early-stop heuristic is already satisfied, and -1e9 for
 *     every candidate that is not a just-finished top-num_beams one. The num_beams old slots and
 *     the beams_to_keep candidates are concatenated (old first) and topk(num_beams) picks the new
 *     slots, with their sequences and finished flags.
 *  g. cur_len += 1; _check_early_stop_heuristic: best_len = max_length - decoder_prompt_len if
 *     early_stopping == "never" and length_penalty > 0, else cur_len - decoder_prompt_len;
 *     best_possible = running_beam_scores[0] / best_len ** length_penalty; per slot
 *     worst = is_sent_finished ? min(beam_scores over all slots) : -1e9;
 *     unsatisfied &= any(best_possible > worst). So the heuristic can only stop the search once
 *     all num_beams slots hold finished hypotheses (an unfinished slot's worst is -1e9).
 *     _beam_search_has_unfinished_sequences: continue while unsatisfied AND NOT(all slots
 *     finished AND early_stopping is True) AND NOT(all beams_to_keep candidates hit a criterion).
 *     Hence: early_stopping True stops as soon as num_beams hypotheses exist; False stops when
 *     the best running beam, scored at its current length, cannot beat the worst hypothesis;
 *     "never" does the same but, with length_penalty > 0, scores the running beam at max_length
 *     (with length_penalty <= 0 it equals False). At max_length every top-num_beams candidate of
 *     the last step is "finished" by MaxLengthCriteria and merged like an EOS hypothesis, and the
 *     search ends (step d makes all candidates hit).
 *
 * Output (5. prepare outputs): the first num_return_sequences slots, best first; sequences_scores
 * are those slots' beam_scores (the length-penalised scores). Sequences are cropped/padded by
 * HF to a common length; here each hypothesis is returned with its own length (start token,
 * generated tokens, the EOS if it ended on one).
 *
 * Ties. torch.topk's order among equal values is not specified, and measured (torch 2.11) it is
 * not by index on either device: on CPU both which tied values make the top k and their order
 * vary; on CUDA the lowest indices among values tied at the k-th place make the cut (its gather
 * pass), but tied values inside the result come out in the order of an unstable sort. HF's output
 * on exact ties therefore differs between CPU and CUDA. This code takes the lower flat index
 * first everywhere (candidates by parent beam then token id; in the merge, old slots before new
 * candidates): CUDA's rule for the cut, not its order. Exact ties need equal logits in one row
 * (bf16 logits make them likelier) or the -1e9 sentinels; with tie-free logits this code gave
 * HF 5.17's sequences on CUDA in all 60 beam cases of tests/runtime/data. Float32 matters for
 * exactness: -1e9 + a log-prob rounds to a multiple of 64, so the -1e9 beams of the first step
 * and unfinished candidates in the merge tie as HF's do; all sums are done in float as torch
 * does. Division by the Python float length term follows torch on CUDA (the reference device):
 * x * (float)(1.0 / d); CPU torch computes x / (float)d, at most one ulp away. length_penalty
 * reaches Python as a decimal double; decode_params holds a float, so the decimal is recovered
 * (shortest round-tripping repr) before pow().
 *
 * NaN. torch.topk ranks NaN above every number; so does top_continuations (and the device
 * op, backend.h beam_topk): NaN logits or an all -inf row (log_softmax gives NaN) pick the NaN
 * entries first, lower flat index first. Rows without NaN are unaffected.
 *
 * Device path (beam_search_device_group / beam_search_step_device). When the only processors in
 * force are the ones that lower fixed tokens to -inf (bad words, min_length / min_new_tokens on
 * the EOS ids) or force one token (forced BOS / EOS), a step needs no row on the host: the
 * backend's beam_topk op computes log_softmax + running score and returns the beams_to_keep best
 * candidates in the order of step c, and the rest of the step runs from them. On the CPU backend
 * the op is bit-identical to step c here; on CUDA see backend.h (lse may differ by an ulp). A
 * repetition penalty or no_repeat_ngram_size keeps the request on the host path.
 *
 * Not covered: beam sampling (do_sample with num_beams > 1) returns UNSUPPORTED; batches (one
 * object per request). ignore_eos behaves like HF with eos_token_id None: no EOS criterion and
 * beams_to_keep = 2 * num_beams, so only max_length ends the search.
 *
 * Memory: everything is allocated in beam_search_new for max_length; a step allocates nothing.
 */
#include "runtime/decode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/status.h"

#define BS_NEG 1.0e9f /* HF's -1e9 sentinel, as float32 */

struct beam_search {
    decode_params p;
    int32_t vocab;
    int32_t nb;      /* num_beams */
    int32_t ntk;     /* beams_to_keep */
    int32_t n_eos;   /* EOS ids in force (0 with ignore_eos) */
    int32_t max_len; /* HF max_length, start token included */
    int32_t cur_len; /* length of the running sequences */
    double lp;       /* length_penalty as the decimal the user gave */
    bool done;
    bool early_unsat; /* is_early_stop_heuristic_unsatisfied */

    int32_t *run_seq, *run_seq_next; /* (nb, max_len) */
    float *run_score;                /* (nb) running_beam_scores */

    float *cand_score;  /* (ntk) topk_log_probs, best first */
    int32_t *cand_flat; /* (ntk) flat index beam * vocab + token */
    bool *cand_hit;     /* (ntk) next_token_hits_stopping_criteria */
    float *cand_run;    /* (ntk) scores for the running selection */

    int32_t *fin_seq, *fin_seq_next; /* (nb, max_len) finished slots */
    int32_t *fin_len, *fin_len_next; /* (nb) */
    float *fin_score, *fin_score_next;
    bool *fin_done, *fin_done_next;

    float *merged;  /* (nb + ntk) */
    bool *picked;   /* (nb + ntk) */
    int32_t *order; /* (nb) indices chosen by select_top */

    gl_beam_cand *dev_cand; /* (ntk) candidates from the device op */
    int32_t dev_ban[GL_BEAM_MAX_BAN];
    bool dev_pending;       /* beam_search_device_group handed out dev_cand for this step */
};


/* torch on CUDA: float32 tensor / Python scalar d == x * (float)(1.0 / d), the reciprocal taken
 * in double (measured on an H100 with torch 2.11: it differs from x / (float)d, from
 * x * (1.0f / (float)d) and from (float)(x / d) on some inputs) */
static float div_scalar(float x, double d)
{
    const float inv = (float)(1.0 / d);
    return x * inv;
}

static bool bs_is_eos(const beam_search *bs, int32_t tok)
{
    for (int32_t i = 0; i < bs->n_eos; i++)
        if (bs->p.eos_ids[i] == tok) return true;
    return false;
}

/* The n largest of a[0..m), best first, lower index first on ties (see "Ties" above). */
static void select_top(const float *a, int32_t m, int32_t n, bool *picked, int32_t *out)
{
    memset(picked, 0, (size_t)m * sizeof *picked);
    for (int32_t j = 0; j < n; j++) {
        int32_t best = -1;
        for (int32_t i = 0; i < m; i++)
            if (!picked[i] && (best < 0 || a[i] > a[best])) best = i;
        if (best < 0) best = 0; /* unreachable: n <= m */
        picked[best] = true;
        out[j] = best;
    }
}

void beam_search_free(beam_search *bs)
{
    if (!bs) return;
    free(bs->run_seq);
    free(bs->run_seq_next);
    free(bs->run_score);
    free(bs->cand_score);
    free(bs->cand_flat);
    free(bs->cand_hit);
    free(bs->cand_run);
    free(bs->fin_seq);
    free(bs->fin_seq_next);
    free(bs->fin_len);
    free(bs->fin_len_next);
    free(bs->fin_score);
    free(bs->fin_score_next);
    free(bs->fin_done);
    free(bs->fin_done_next);
    free(bs->merged);
    free(bs->picked);
    free(bs->order);
    free(bs->dev_cand);
    free(bs);
}

static glossa_status bs_check_params(const decode_params *p, int32_t vocab)
{
    if (vocab <= 0)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "beam search: vocab %d", vocab);
    if (p->num_beams < 1)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "beam search: num_beams %d",
                            p->num_beams);
    if (p->num_return_sequences > p->num_beams)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT,
                            "beam search: num_return_sequences %d > num_beams %d",
                            p->num_return_sequences, p->num_beams);
    if (p->max_length < 2)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT,
                            "beam search: max_length %d leaves no token to generate",
                            p->max_length);
    if (p->n_eos < 0 || p->n_eos > DECODE_MAX_EOS)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "beam search: n_eos %d", p->n_eos);
    if (p->do_sample)
        return glossa_error(GLOSSA_STATUS_UNSUPPORTED,
                            "beam search: beam sampling (do_sample with num_beams > 1)");
    if (p->early_stopping < 0 || p->early_stopping > 2)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "beam search: early_stopping %d",
                            p->early_stopping);
    return GLOSSA_STATUS_OK;
}

glossa_status beam_search_new(const decode_params *p, int32_t vocab, int32_t decoder_start_id,
                              beam_search **out)
{
    if (!p || !out)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "beam search: NULL argument");
    *out = NULL;
    GLOSSA_TRY(bs_check_params(p, vocab));
    const int32_t nb = p->num_beams;
    const int32_t n_eos = p->ignore_eos ? 0 : p->n_eos;
    const int32_t ntk = (1 + n_eos > 2 ? 1 + n_eos : 2) * nb;
    if ((int64_t)nb * vocab < ntk)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT,
                            "beam search: %d beams x %d tokens < %d candidates", nb, vocab, ntk);
    const size_t seqs = (size_t)nb * (size_t)p->max_length;

    beam_search *bs = calloc(1, sizeof *bs);
    if (!bs) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "beam search: state");
    bs->p = *p;
    bs->vocab = vocab;
    bs->nb = nb;
    bs->ntk = ntk;
    bs->n_eos = n_eos;
    bs->max_len = p->max_length;
    bs->cur_len = 1;
    bs->lp = decode_float_decimal(p->length_penalty);
    bs->early_unsat = true;
    bs->run_seq = calloc(seqs, sizeof(int32_t));
    bs->run_seq_next = calloc(seqs, sizeof(int32_t));
    bs->run_score = calloc((size_t)nb, sizeof(float));
    bs->cand_score = calloc((size_t)ntk, sizeof(float));
    bs->cand_flat = calloc((size_t)ntk, sizeof(int32_t));
    bs->cand_hit = calloc((size_t)ntk, sizeof(bool));
    bs->cand_run = calloc((size_t)ntk, sizeof(float));
    bs->fin_seq = calloc(seqs, sizeof(int32_t));
    bs->fin_seq_next = calloc(seqs, sizeof(int32_t));
    bs->fin_len = calloc((size_t)nb, sizeof(int32_t));
    bs->fin_len_next = calloc((size_t)nb, sizeof(int32_t));
    bs->fin_score = calloc((size_t)nb, sizeof(float));
    bs->fin_score_next = calloc((size_t)nb, sizeof(float));
    bs->fin_done = calloc((size_t)nb, sizeof(bool));
    bs->fin_done_next = calloc((size_t)nb, sizeof(bool));
    bs->merged = calloc((size_t)(nb + ntk), sizeof(float));
    bs->picked = calloc((size_t)(nb + ntk), sizeof(bool));
    bs->order = calloc((size_t)nb, sizeof(int32_t));
    bs->dev_cand = calloc((size_t)ntk, sizeof *bs->dev_cand);
    if (!bs->run_seq || !bs->run_seq_next || !bs->run_score || !bs->cand_score || !bs->cand_flat ||
        !bs->dev_cand || !bs->cand_hit || !bs->cand_run || !bs->fin_seq || !bs->fin_seq_next || !bs->fin_len ||
        !bs->fin_len_next || !bs->fin_score || !bs->fin_score_next || !bs->fin_done ||
        !bs->fin_done_next || !bs->merged || !bs->picked || !bs->order) {
        beam_search_free(bs);
        return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "beam search: %d beams x %d tokens", nb,
                            p->max_length);
    }
    for (int32_t b = 0; b < nb; b++) {
        bs->run_seq[(size_t)b * bs->max_len] = decoder_start_id;
        bs->run_score[b] = b == 0 ? 0.0f : -BS_NEG;
        /* empty finished slots: the prompt, score -1e9, not finished */
        bs->fin_seq[(size_t)b * bs->max_len] = decoder_start_id;
        bs->fin_len[b] = 1;
        bs->fin_score[b] = -BS_NEG;
    }
    *out = bs;
    return GLOSSA_STATUS_OK;
}

int32_t beam_search_num_beams(const beam_search *bs)
{
    return bs ? bs->nb : 0;
}

const int32_t *beam_search_seq(const beam_search *bs, int32_t b, int32_t *len)
{
    if (!bs || b < 0 || b >= bs->nb) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = bs->cur_len;
    return bs->run_seq + (size_t)b * bs->max_len;
}

bool beam_search_done(const beam_search *bs)
{
    return !bs || bs->done;
}

/* s ranks above t, t seen earlier (a lower flat index): larger, or NaN over a number */
static inline bool bs_beats(float s, float t)
{
    return s > t || (s != s && t == t);
}

/* c. the beams_to_keep best accumulated scores over all beams, best first, ties by flat index.
 * A row scanned in index order never displaces an equal score already kept. */
static void top_continuations(beam_search *bs, const float *rows)
{
    const int32_t V = bs->vocab, ntk = bs->ntk;
    float *cs = bs->cand_score;
    int32_t *cf = bs->cand_flat;
    int32_t count = 0;
    for (int32_t b = 0; b < bs->nb; b++) {
        const float base = bs->run_score[b];
        const float *r = rows + (size_t)b * V;
        for (int32_t t = 0; t < V; t++) {
            const float s = r[t] + base;
            int32_t pos;
            if (count < ntk)
                pos = count++;
            else if (bs_beats(s, cs[ntk - 1]))
                pos = ntk - 1;
            else
                continue;
            while (pos > 0 && bs_beats(s, cs[pos - 1])) {
                cs[pos] = cs[pos - 1];
                cf[pos] = cf[pos - 1];
                pos--;
            }
            cs[pos] = s;
            cf[pos] = b * V + t;
        }
    }
}

/* f. merge the just-finished top-num_beams candidates into the finished slots. Reads the old
 * running sequences (parents). */
static void update_finished(beam_search *bs)
{
    const int32_t nb = bs->nb, ntk = bs->ntk, V = bs->vocab, L = bs->max_len;
    bool all_done = true;
    for (int32_t s = 0; s < nb; s++)
        all_done = all_done && bs->fin_done[s];
    const double len_term = pow((double)bs->cur_len, bs->lp); /* cur_len + 1 - prompt_len */
    for (int32_t s = 0; s < nb; s++)
        bs->merged[s] = bs->fin_score[s];
    for (int32_t i = 0; i < ntk; i++) {
        float v = div_scalar(bs->cand_score[i], len_term);
        if (all_done && bs->p.early_stopping == 1) v += -BS_NEG;
        if (!bs->early_unsat) v += -BS_NEG;
        const bool just_finished = bs->cand_hit[i] && i < nb;
        v += just_finished ? -0.0f : -BS_NEG;
        bs->merged[nb + i] = v;
    }
    select_top(bs->merged, nb + ntk, nb, bs->picked, bs->order);
    for (int32_t j = 0; j < nb; j++) {
        const int32_t c = bs->order[j];
        int32_t *dst = bs->fin_seq_next + (size_t)j * L;
        bs->fin_score_next[j] = bs->merged[c];
        if (c < nb) {
            memcpy(dst, bs->fin_seq + (size_t)c * L, (size_t)bs->fin_len[c] * sizeof *dst);
            bs->fin_len_next[j] = bs->fin_len[c];
            bs->fin_done_next[j] = bs->fin_done[c];
        } else {
            const int32_t i = c - nb, parent = bs->cand_flat[i] / V;
            memcpy(dst, bs->run_seq + (size_t)parent * L, (size_t)bs->cur_len * sizeof *dst);
            dst[bs->cur_len] = bs->cand_flat[i] % V;
            bs->fin_len_next[j] = bs->cur_len + 1;
            bs->fin_done_next[j] = bs->cand_hit[i] && i < nb;
        }
    }
#define BS_SWAP(a, b)                                                                              \
    do {                                                                                           \
        void *t_ = (void *)(a);                                                                    \
        (a) = (b);                                                                                 \
        (b) = t_;                                                                                  \
    } while (0)
    BS_SWAP(bs->fin_seq, bs->fin_seq_next);
    BS_SWAP(bs->fin_len, bs->fin_len_next);
    BS_SWAP(bs->fin_score, bs->fin_score_next);
    BS_SWAP(bs->fin_done, bs->fin_done_next);
}

/* g. the early-stop heuristic and the loop condition, after cur_len += 1 */
static void update_done(beam_search *bs, bool all_hit)
{
    const int32_t nb = bs->nb;
    const int32_t best_len =
        bs->p.early_stopping == 2 && bs->lp > 0.0 ? bs->max_len - 1 : bs->cur_len - 1;
    const float best = div_scalar(bs->run_score[0], pow((double)best_len, bs->lp));
    float min_fin = bs->fin_score[0];
    bool all_done = true;
    for (int32_t s = 0; s < nb; s++) {
        if (bs->fin_score[s] < min_fin) min_fin = bs->fin_score[s];
        all_done = all_done && bs->fin_done[s];
    }
    bool improvable = false;
    for (int32_t s = 0; s < nb; s++) {
        const float worst = bs->fin_done[s] ? min_fin : -BS_NEG;
        if (best > worst) improvable = true;
    }
    bs->early_unsat = bs->early_unsat && improvable;
    const bool open_beam = !(all_done && bs->p.early_stopping == 1);
    bs->done = !(bs->early_unsat && open_beam && !all_hit);
}

/* Steps d to g, from the candidates of step c in cand_score / cand_flat. */
static void step_from_candidates(beam_search *bs, int32_t *out_parent, int32_t *out_token)
{
    const int32_t nb = bs->nb, ntk = bs->ntk, V = bs->vocab, L = bs->max_len;
    const bool at_max = bs->cur_len + 1 >= L;
    bool all_hit = true;
    for (int32_t i = 0; i < ntk; i++) {
        bs->cand_hit[i] = at_max || bs_is_eos(bs, bs->cand_flat[i] % V);
        all_hit = all_hit && bs->cand_hit[i];
        bs->cand_run[i] = bs->cand_score[i] + (bs->cand_hit[i] ? -BS_NEG : -0.0f);
    }

    update_finished(bs);

    /* e. the next running beams */
    select_top(bs->cand_run, ntk, nb, bs->picked, bs->order);
    for (int32_t j = 0; j < nb; j++) {
        const int32_t i = bs->order[j];
        const int32_t parent = bs->cand_flat[i] / V, tok = bs->cand_flat[i] % V;
        int32_t *dst = bs->run_seq_next + (size_t)j * L;
        memcpy(dst, bs->run_seq + (size_t)parent * L, (size_t)bs->cur_len * sizeof *dst);
        dst[bs->cur_len] = tok;
        bs->run_score[j] = bs->cand_run[i];
        out_parent[j] = parent;
        out_token[j] = tok;
    }
    BS_SWAP(bs->run_seq, bs->run_seq_next);
    bs->cur_len++;
    update_done(bs, all_hit);
}

glossa_status beam_search_step(beam_search *bs, const float *rows, int32_t *out_parent,
                               int32_t *out_token)
{
    if (!bs || !rows || !out_parent || !out_token)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "beam search step: NULL argument");
    if (bs->done) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "beam search step: finished");
    bs->dev_pending = false;
    top_continuations(bs, rows);
    step_from_candidates(bs, out_parent, out_token);
    return GLOSSA_STATUS_OK;
}

static bool bs_in_list(const int32_t *a, int32_t n, int32_t v)
{
    for (int32_t i = 0; i < n; i++)
        if (a[i] == v) return true;
    return false;
}

bool beam_search_device_group(beam_search *bs, gl_beam_group *g)
{
    if (!bs || !g) return false;
    bs->dev_pending = false;
    const decode_params *p = &bs->p;
    const int32_t V = bs->vocab, len = bs->cur_len;
    if (bs->done || bs->ntk > GL_BEAM_MAX_K || p->no_repeat_ngram_size > 0 ||
        (p->repetition_penalty != 1.0f && p->repetition_penalty > 0.0f))
        return false;
    /* decode_process_logits' masks: bad words (not EOS), then EOS while below the minimum */
    int32_t n_ban = 0;
    for (int32_t i = 0; i < p->n_bad_words && i < DECODE_MAX_BAD_WORDS; i++) {
        const int32_t t = p->bad_words[i];
        if (t >= 0 && t < V && !bs_in_list(p->eos_ids, p->n_eos, t) &&
            !bs_in_list(bs->dev_ban, n_ban, t))
            bs->dev_ban[n_ban++] = t;
    }
    if (!p->ignore_eos && p->n_eos > 0 &&
        ((p->min_length > 0 && len < p->min_length) ||
         (p->min_new_tokens > 0 && len - 1 < p->min_new_tokens)))
        for (int32_t i = 0; i < p->n_eos && i < DECODE_MAX_EOS; i++) {
            const int32_t t = p->eos_ids[i];
            if (t >= 0 && t < V && !bs_in_list(bs->dev_ban, n_ban, t)) bs->dev_ban[n_ban++] = t;
        }
    /* the forcing processors come last and overwrite the row */
    const int32_t forced = decode_forced_token(p, V, len);
    memset(g, 0, sizeof *g);
    g->n_beams = bs->nb;
    g->k = bs->ntk;
    g->forced = forced;
    g->n_ban = n_ban;
    g->ban = bs->dev_ban;
    g->scores = bs->run_score;
    g->out = bs->dev_cand;
    bs->dev_pending = true;
    return true;
}

bool beam_search_device_pending(const beam_search *bs)
{
    return bs && bs->dev_pending;
}

glossa_status beam_search_step_device(beam_search *bs, int32_t *out_parent, int32_t *out_token)
{
    if (!bs || !out_parent || !out_token)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "beam search step: NULL argument");
    if (!bs->dev_pending)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT,
                            "beam search step: no device candidates for this step");
    if (bs->done) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "beam search step: finished");
    bs->dev_pending = false;
    for (int32_t i = 0; i < bs->ntk; i++) {
        const gl_beam_cand *c = &bs->dev_cand[i];
        if (c->beam < 0 || c->beam >= bs->nb || c->token < 0 || c->token >= bs->vocab)
            return glossa_error(GLOSSA_STATUS_INTERNAL,
                                "beam search step: device candidate %d is beam %d token %d", i,
                                c->beam, c->token);
        bs->cand_score[i] = c->score;
        bs->cand_flat[i] = c->beam * bs->vocab + c->token;
    }
    step_from_candidates(bs, out_parent, out_token);
    return GLOSSA_STATUS_OK;
}

/* A caller that stops before beam_search_done(): the running beams join the hypotheses with
 * score sum_logprobs / generated_len ** length_penalty, as the last step at max_length would
 * have merged its top candidates. */
static void finish_early(beam_search *bs)
{
    const int32_t nb = bs->nb, L = bs->max_len;
    bs->done = true;
    if (bs->cur_len <= 1) return;
    const double len_term = pow((double)(bs->cur_len - 1), bs->lp);
    for (int32_t s = 0; s < nb; s++)
        bs->merged[s] = bs->fin_score[s];
    for (int32_t j = 0; j < nb; j++)
        bs->merged[nb + j] = div_scalar(bs->run_score[j], len_term);
    select_top(bs->merged, 2 * nb, nb, bs->picked, bs->order);
    for (int32_t j = 0; j < nb; j++) {
        const int32_t c = bs->order[j];
        const bool old = c < nb;
        const int32_t src = old ? c : c - nb;
        const int32_t len = old ? bs->fin_len[src] : bs->cur_len;
        memcpy(bs->fin_seq_next + (size_t)j * L,
               (old ? bs->fin_seq : bs->run_seq) + (size_t)src * L, (size_t)len * sizeof(int32_t));
        bs->fin_len_next[j] = len;
        bs->fin_score_next[j] = bs->merged[c];
        bs->fin_done_next[j] = old ? bs->fin_done[src] : true;
    }
    BS_SWAP(bs->fin_seq, bs->fin_seq_next);
    BS_SWAP(bs->fin_len, bs->fin_len_next);
    BS_SWAP(bs->fin_score, bs->fin_score_next);
    BS_SWAP(bs->fin_done, bs->fin_done_next);
}

glossa_status beam_search_result(beam_search *bs, int32_t k, const int32_t **seq, int32_t *len,
                                 float *score)
{
    if (!bs || !seq || !len)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "beam search result: NULL argument");
    const int32_t nret = bs->p.num_return_sequences > 0 ? bs->p.num_return_sequences : 1;
    if (k < 0 || k >= nret)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT,
                            "beam search result: k %d outside num_return_sequences %d", k, nret);
    if (!bs->done) finish_early(bs);
    *seq = bs->fin_seq + (size_t)k * bs->max_len;
    *len = bs->fin_len[k];
    if (score) *score = bs->fin_score[k];
    return GLOSSA_STATUS_OK;
}
