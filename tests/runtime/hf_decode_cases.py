#!/usr/bin/env python3
"""Writes tests/runtime/data/decode_hf_cases.txt: HF transformers generate() (greedy and beam
search with the logits processors) on synthetic table "models", for test_decode_hf.c to replay;
with --warp-out, also HF's sampling warpers (temperature, top-k, top-p) on random rows.

The model is a tiny BART whose forward is replaced: the logits for a decoder prefix are a
deterministic pseudo-random row (float32), recorded as they are served. The fixture holds, per
case, the settings, every row HF asked for (prefix -> logits) and HF's outputs (sequences with
their own lengths, sequences_scores). test_decode.c serves the same rows to glossa's decoding
and compares.

Usage: python3 hf_decode_cases.py OUT_FILE [--device cuda|cpu] [--cases N] [--warp-out FILE]
"""
import argparse
import inspect
import random
import sys

import torch
import transformers
from transformers import BartConfig, BartForConditionalGeneration, GenerationConfig
from transformers.generation.logits_process import (TemperatureLogitsWarper, TopKLogitsWarper,
                                                     TopPLogitsWarper)
from transformers.modeling_outputs import Seq2SeqLMOutput


class TableBart(BartForConditionalGeneration):
    """BART whose logits come from a table keyed by the decoder prefix."""

    table_seed = 0
    ties = False  # torch.topk orders equal values differently on CPU and CUDA: off by default
    served = None  # prefix tuple -> list of float32 values

    def row(self, prefix):
        if prefix not in self.served:
            rng = random.Random(f"{self.table_seed}:{','.join(map(str, prefix))}")
            v = self.config.vocab_size
            vals = [rng.gauss(0.0, 2.0) for _ in range(v)]
            # EOS (id 1) grows likelier with length so that hypotheses end at various lengths
            vals[1] += 0.6 * len(prefix) - 2.0
            if self.ties and rng.random() < 0.15:  # exact ties between two tokens
                a, b = rng.randrange(2, v), rng.randrange(2, v)
                vals[a] = vals[b]
            self.served[prefix] = [float(torch.tensor(x, dtype=torch.float32)) for x in vals]
        return self.served[prefix]

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, **kwargs):
        rows = [self.row(tuple(int(t) for t in seq)) for seq in decoder_input_ids.tolist()]
        logits = torch.tensor(rows, dtype=torch.float32, device=decoder_input_ids.device)
        logits = logits[:, None, :].expand(-1, decoder_input_ids.shape[1], -1).contiguous()
        return Seq2SeqLMOutput(logits=logits)


def make_model(vocab, device):
    cfg = BartConfig(vocab_size=vocab, d_model=8, encoder_layers=1, decoder_layers=1,
                     encoder_attention_heads=1, decoder_attention_heads=1, encoder_ffn_dim=8,
                     decoder_ffn_dim=8, max_position_embeddings=64, pad_token_id=0,
                     bos_token_id=0, eos_token_id=1, decoder_start_token_id=0,
                     forced_eos_token_id=None)
    m = TableBart(cfg).to(device).eval()
    m.generation_config = GenerationConfig(decoder_start_token_id=0, pad_token_id=0,
                                           eos_token_id=1, bos_token_id=0)
    return m


def random_case(rng, idx):
    beam = idx % 4 != 3  # 3 beam cases for 1 greedy
    c = {
        "vocab": rng.choice([6, 9, 16]),
        "num_beams": rng.choice([2, 3, 4, 5]) if beam else 1,
        "max_length": rng.randint(3, 12),
        "length_penalty": rng.choice([0.0, 0.6, 1.0, 1.3, 2.0, -0.5]),
        "early_stopping": rng.choice([0, 1, 2]),
        "eos": rng.choice([[1], [1], [1, 2]]),
        "repetition_penalty": rng.choice([1.0, 1.0, 1.3, 0.8]),
        "no_repeat_ngram_size": rng.choice([0, 0, 2, 3]),
        "min_length": 0,
        "min_new_tokens": 0,
        "forced_bos": rng.choice([-1, -1, 3]),
        "forced_eos": rng.choice([-1, -1, 1]),
        "bad": rng.choice([[], [], [4], [4, 1]]),
    }
    if rng.random() < 0.3:
        c["min_length"] = rng.randint(2, 5)
    elif rng.random() < 0.3:
        c["min_new_tokens"] = rng.randint(1, 4)
    c["num_return_sequences"] = rng.randint(1, c["num_beams"])
    return c


def run_case(c, seed, device, ties):
    model = make_model(c["vocab"], device)
    model.table_seed = seed
    model.ties = ties
    model.served = {}
    es = {0: False, 1: True, 2: "never"}[c["early_stopping"]]
    kw = dict(max_length=c["max_length"], num_beams=c["num_beams"],
              num_return_sequences=c["num_return_sequences"], do_sample=False,
              eos_token_id=c["eos"], pad_token_id=0, decoder_start_token_id=0, use_cache=False,
              return_dict_in_generate=True, output_scores=True)
    if c["num_beams"] > 1:
        kw.update(length_penalty=c["length_penalty"], early_stopping=es)
    if c["repetition_penalty"] != 1.0:
        kw["repetition_penalty"] = c["repetition_penalty"]
    if c["no_repeat_ngram_size"]:
        kw["no_repeat_ngram_size"] = c["no_repeat_ngram_size"]
    if c["min_length"]:
        kw["min_length"] = c["min_length"]
    if c["min_new_tokens"]:
        kw["min_new_tokens"] = c["min_new_tokens"]
    if c["forced_bos"] >= 0:
        kw["forced_bos_token_id"] = c["forced_bos"]
    if c["forced_eos"] >= 0:
        kw["forced_eos_token_id"] = c["forced_eos"]
    if c["bad"]:
        kw["bad_words_ids"] = [[b] for b in c["bad"]]
    gc = GenerationConfig(**kw)
    enc = torch.tensor([[5, 3, 1]], device=device)
    with torch.no_grad():
        out = model.generate(input_ids=enc, attention_mask=torch.ones_like(enc), generation_config=gc)
    seqs = out.sequences.tolist()
    hyps = []
    if c["num_beams"] > 1:
        bi = out.beam_indices
        for k in range(len(seqs)):
            n = 1 + int((bi[k] != -1).sum()) if bi is not None else len(seqs[k])
            hyps.append((seqs[k][:n], float(out.sequences_scores[k])))
    else:
        s = seqs[0]
        n = len(s)
        for i in range(1, len(s)):
            if s[i] in c["eos"]:
                n = i + 1
                break
        hyps.append((s[:n], 0.0))
    return model.served, hyps


def fmt(x):
    return "%.9g" % x


def warp_cases(out, device, n, seed):
    """HF's warpers in _get_logits_processor's order (num_beams 1: min_tokens_to_keep 1)."""
    rng = random.Random(seed)
    lines = [f"# transformers {transformers.__version__} torch {torch.__version__} device {device}"]
    fixed = [  # probabilities .5 .25 .125 .0625 .0625: top_p boundaries on exact cumsums
        ([0.5, 0.25, 0.125, 0.0625, 0.0625], 1.0, 0, p) for p in (0.75, 0.875, 0.5, 0.9375, 0.8)]
    for i in range(n + len(fixed)):
        if i < len(fixed):
            probs, temp, top_k, top_p = fixed[i]
            row = [float(torch.tensor(probs).log()[j]) for j in range(len(probs))]
        else:
            v = rng.choice([5, 20, 60, 200])
            temp = rng.choice([1.0, 0.7, 1.3, 0.5])
            top_k = rng.choice([0, 0, 1, 5, 50])
            top_p = rng.choice([1.0, 0.9, 0.5, 0.95, 0.1, 0.99])
            row = [rng.gauss(0.0, 3.0) for _ in range(v)]
            if top_p == 1.0 and rng.random() < 0.5:  # ties at the k-th value (top-k keeps them)
                for _ in range(3):
                    row[rng.randrange(v)] = row[rng.randrange(v)]
        x = torch.tensor([row], dtype=torch.float32, device=device)
        ids = torch.zeros((1, 1), dtype=torch.long, device=device)
        if temp != 1.0:
            x = TemperatureLogitsWarper(temp)(ids, x)
        if top_k != 0:
            x = TopKLogitsWarper(top_k=top_k, min_tokens_to_keep=1)(ids, x)
        if top_p < 1.0:
            x = TopPLogitsWarper(top_p=top_p, min_tokens_to_keep=1)(ids, x)
        lines.append(f"warp {i} vocab {len(row)} temp {fmt(temp)} topk {top_k} topp {fmt(top_p)}")
        lines.append(" ".join(fmt(float(torch.tensor(r, dtype=torch.float32))) for r in row))
        lines.append(" ".join(fmt(float(w)) for w in x[0].tolist()))
    lines.append("end")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{n + len(fixed)} warp cases written to {out}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--cases", type=int, default=48)
    ap.add_argument("--seed", type=int, default=20251113)
    ap.add_argument("--ties", action="store_true", help="inject exact ties between logits")
    ap.add_argument("--warp-out", help="also write the sampling-warper cases here")
    a = ap.parse_args()
    if a.warp_out:
        warp_cases(a.warp_out, a.device, 60, a.seed + 1)
    rng = random.Random(a.seed)
    lines = [f"# transformers {transformers.__version__} torch {torch.__version__} device {a.device}"]
    ok = 0
    for idx in range(a.cases):
        c = random_case(rng, idx)
        seed = rng.randrange(1 << 30)
        try:
            served, hyps = run_case(c, seed, a.device, a.ties)
        except Exception as e:  # report and go on
            print(f"case {idx}: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        ok += 1
        lines.append(
            f"case {idx} vocab {c['vocab']} beams {c['num_beams']} nret {c['num_return_sequences']}"
            f" maxlen {c['max_length']} lp {fmt(c['length_penalty'])} es {c['early_stopping']}"
            f" rep {fmt(c['repetition_penalty'])} ngram {c['no_repeat_ngram_size']}"
            f" minlen {c['min_length']} minnew {c['min_new_tokens']} fbos {c['forced_bos']}"
            f" feos {c['forced_eos']} eos {len(c['eos'])} {' '.join(map(str, c['eos']))}"
            f" bad {len(c['bad'])} {' '.join(map(str, c['bad']))}".replace("  ", " "))
        lines.append(f"rows {len(served)}")
        for prefix, row in sorted(served.items()):
            lines.append(f"{len(prefix)} {' '.join(map(str, prefix))} {' '.join(fmt(v) for v in row)}")
        lines.append(f"hyps {len(hyps)}")
        for seq, score in hyps:
            lines.append(f"{len(seq)} {' '.join(map(str, seq))} {fmt(score)}")
    lines.append("end")
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{ok}/{a.cases} cases written to {a.out}")


if __name__ == "__main__":
    main()
