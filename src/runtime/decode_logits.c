/* HF's logits processors (transformers 5.x generation/logits_process.py, assembled by
 * GenerationMixin._get_logits_processor in generation/utils.py), greedy argmax and log-softmax.
 *
 * _get_logits_processor appends, for the settings decode_params carries, in this order:
 *   RepetitionPenaltyLogitsProcessor   (repetition_penalty != 1.0)
 *   NoRepeatNGramLogitsProcessor       (no_repeat_ngram_size > 0)
 *   NoBadWordsLogitsProcessor          (bad_words_ids; single-token bad words equal to an EOS id
 *                                       are filtered out in its constructor)
 *   MinLengthLogitsProcessor           (min_length > 0 and an EOS id exists: while
 *                                       input_ids.shape[-1] < min_length, every EOS id -> -inf)
 *   MinNewTokensLengthLogitsProcessor  (min_new_tokens > 0 and an EOS id exists: while
 *                                       input_ids.shape[-1] - prompt_len < min_new_tokens; the
 *                                       decoder prompt is the start token, so prompt_len = 1)
 *   ForcedBOSTokenLogitsProcessor      (at input_ids.shape[-1] == 1: all -inf, forced id 0)
 *   ForcedEOSTokenLogitsProcessor      (at input_ids.shape[-1] == max_length - 1: same)
 * and, only when do_sample, the warpers Temperature, TopK, TopP (decode_sample.c).
 *
 * Greedy and sampling (_sample) run the list on the raw float32 logits; beam search
 * (_beam_search) runs it on log_softmax(logits). The same code serves both.
 *
 * Float details follow torch on CUDA (the project's reference device): `t * s` with a Python
 * scalar s multiplies by (float)s; `t / s` multiplies by (float)(1.0 / s), the reciprocal taken in
 * double (measured on an H100); on CPU torch divides by (float)s, at most one ulp away. The
 * Python scalar is the decimal the user wrote; decode_params holds floats, so the decimal is
 * recovered first (shortest repr that reads back as the same float).
 */
#include "runtime/decode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_eos(const decode_params *p, int32_t tok)
{
    for (int32_t i = 0; i < p->n_eos && i < DECODE_MAX_EOS; i++)
        if (p->eos_ids[i] == tok) return true;
    return false;
}

static void mask_eos(float *row, int32_t vocab, const decode_params *p)
{
    for (int32_t i = 0; i < p->n_eos && i < DECODE_MAX_EOS; i++)
        if (p->eos_ids[i] >= 0 && p->eos_ids[i] < vocab) row[p->eos_ids[i]] = -INFINITY;
}

static void force_token(float *row, int32_t vocab, int32_t tok)
{
    if (tok < 0 || tok >= vocab) return;
    for (int32_t i = 0; i < vocab; i++)
        row[i] = -INFINITY;
    row[tok] = 0.0f;
}

double decode_float_decimal(float f)
{
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f) return strtod(buf, NULL);
    }
    return (double)f;
}

static float penalise(float s, float pen, float inv_pen)
{
    return s < 0.0f ? s * pen : s * inv_pen;
}

/* RepetitionPenaltyLogitsProcessor: gather the scores of the tokens in seq, penalise, scatter
 * back; a token that occurs several times is penalised once. Vocabularies up to 2^18 use a
 * 32 KiB bitmap on the stack to see repeats; larger ones scan the earlier positions. */
#define REP_BITMAP_BITS (1u << 18)
static void repetition_penalty(float *row, int32_t vocab, const int32_t *seq, int32_t seq_len,
                               float pen)
{
    const float inv_pen = (float)(1.0 / decode_float_decimal(pen));
    if ((uint32_t)vocab <= REP_BITMAP_BITS) {
        uint64_t seen[REP_BITMAP_BITS / 64];
        for (int32_t i = 0; i < seq_len; i++) {
            int32_t t = seq[i];
            if (t >= 0 && t < vocab) seen[t >> 6] = 0; /* only words of tokens in seq are read */
        }
        for (int32_t i = 0; i < seq_len; i++) {
            int32_t t = seq[i];
            if (t < 0 || t >= vocab) continue;
            uint64_t bit = UINT64_C(1) << (t & 63);
            if (seen[t >> 6] & bit) continue;
            seen[t >> 6] |= bit;
            row[t] = penalise(row[t], pen, inv_pen);
        }
        return;
    }
    for (int32_t i = 0; i < seq_len; i++) {
        int32_t t = seq[i];
        if (t < 0 || t >= vocab) continue;
        bool repeat = false;
        for (int32_t j = 0; j < i && !repeat; j++)
            repeat = seq[j] == t;
        if (!repeat) row[t] = penalise(row[t], pen, inv_pen);
    }
}

/* NoRepeatNGramLogitsProcessor: with cur_len = seq_len >= n, the last n-1 tokens are the prefix;
 * every complete n-gram window of seq whose first n-1 tokens equal the prefix bans its last
 * token. */
static void no_repeat_ngram(float *row, int32_t vocab, const int32_t *seq, int32_t seq_len,
                            int32_t n)
{
    if (seq_len < n) return;
    const int32_t *prefix = seq + seq_len - (n - 1);
    for (int32_t w = 0; w + n <= seq_len; w++) {
        if (n > 1 && memcmp(seq + w, prefix, (size_t)(n - 1) * sizeof *seq) != 0) continue;
        int32_t t = seq[w + n - 1];
        if (t >= 0 && t < vocab) row[t] = -INFINITY;
    }
}

void decode_process_logits(float *row, int32_t vocab, const int32_t *seq, int32_t seq_len,
                           const decode_params *p)
{
    if (!row || vocab <= 0 || !p || seq_len < 0 || (seq_len > 0 && !seq)) return;
    if (p->repetition_penalty != 1.0f && p->repetition_penalty > 0.0f)
        repetition_penalty(row, vocab, seq, seq_len, p->repetition_penalty);
    if (p->no_repeat_ngram_size > 0)
        no_repeat_ngram(row, vocab, seq, seq_len, p->no_repeat_ngram_size);
    for (int32_t i = 0; i < p->n_bad_words && i < DECODE_MAX_BAD_WORDS; i++) {
        int32_t b = p->bad_words[i];
        if (b >= 0 && b < vocab && !is_eos(p, b)) row[b] = -INFINITY;
    }
    if (!p->ignore_eos && p->n_eos > 0) {
        if (p->min_length > 0 && seq_len < p->min_length) mask_eos(row, vocab, p);
        if (p->min_new_tokens > 0 && seq_len - 1 < p->min_new_tokens) mask_eos(row, vocab, p);
    }
    if (p->forced_bos_token_id >= 0 && seq_len == 1)
        force_token(row, vocab, p->forced_bos_token_id);
    if (p->forced_eos_token_id >= 0 && seq_len == p->max_length - 1)
        force_token(row, vocab, p->forced_eos_token_id);
}

int32_t decode_forced_token(const decode_params *p, int32_t vocab, int32_t seq_len)
{
    /* the forcing processors run last and leave one finite entry: the later one (EOS) wins */
    if (p->forced_eos_token_id >= 0 && p->forced_eos_token_id < vocab &&
        seq_len == p->max_length - 1)
        return p->forced_eos_token_id;
    if (p->forced_bos_token_id >= 0 && p->forced_bos_token_id < vocab && seq_len == 1)
        return p->forced_bos_token_id;
    return -1;
}

bool decode_greedy_shortcut(const decode_params *p, int32_t vocab, int32_t seq_len,
                            int32_t raw_argmax, int32_t *tok)
{
    if (p->do_sample || (p->repetition_penalty != 1.0f && p->repetition_penalty > 0.0f) ||
        p->no_repeat_ngram_size > 0)
        return false;
    const int32_t forced = decode_forced_token(p, vocab, seq_len);
    if (forced >= 0) {
        *tok = forced;
        return true;
    }
    /* masking other entries never moves the argmax; masking the argmax itself does */
    for (int32_t i = 0; i < p->n_bad_words && i < DECODE_MAX_BAD_WORDS; i++)
        if (p->bad_words[i] == raw_argmax && !is_eos(p, raw_argmax)) return false;
    if (!p->ignore_eos && is_eos(p, raw_argmax) &&
        ((p->min_length > 0 && seq_len < p->min_length) ||
         (p->min_new_tokens > 0 && seq_len - 1 < p->min_new_tokens)))
        return false;
    *tok = raw_argmax;
    return true;
}

bool decode_greedy_rowless(const decode_params *p, int32_t vocab, int32_t seq_len)
{
    if (p->do_sample || (p->repetition_penalty != 1.0f && p->repetition_penalty > 0.0f) ||
        p->no_repeat_ngram_size > 0)
        return false;
    if (decode_forced_token(p, vocab, seq_len) >= 0) return true;
    for (int32_t i = 0; i < p->n_bad_words && i < DECODE_MAX_BAD_WORDS; i++)
        if (p->bad_words[i] >= 0 && p->bad_words[i] < vocab && !is_eos(p, p->bad_words[i]))
            return false; /* the argmax may be it */
    return p->ignore_eos || p->n_eos == 0 ||
           !((p->min_length > 0 && seq_len < p->min_length) ||
             (p->min_new_tokens > 0 && seq_len - 1 < p->min_new_tokens));
}

int32_t decode_argmax(const float *row, int32_t vocab)
{
    if (!row || vocab <= 0) return -1;
    /* torch.argmax: the first maximum; NaN counts as the maximum. */
    int32_t best = 0;
    for (int32_t i = 1; i < vocab; i++) {
        if (isnan(row[best])) break;
        if (isnan(row[i]) || row[i] > row[best]) best = i;
    }
    return best;
}

void decode_log_softmax(float *row, int32_t vocab)
{
    if (!row || vocab <= 0) return;
    float m = row[0];
    for (int32_t i = 1; i < vocab; i++)
        if (row[i] > m) m = row[i];
    if (isinf(m) && m < 0) {
        /* all -inf: torch yields NaN (x - max = -inf - -inf) */
        for (int32_t i = 0; i < vocab; i++)
            row[i] = NAN;
        return;
    }
    double sum = 0.0; /* expf like torch's kernels, the sum in double */
    for (int32_t i = 0; i < vocab; i++)
        sum += expf(row[i] - m);
    const float lse = (float)log(sum);
    for (int32_t i = 0; i < vocab; i++)
        row[i] = (row[i] - m) - lse;
}
