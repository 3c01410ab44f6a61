#!/usr/bin/env python3
"""HF transformers' translations of the evaluation sets (data.eval_sets) with the demo model, and
their sacreBLEU scores: the reference side of docs/QUALITY.md's glossa-vs-HF comparison.

    python3 tools/train_demo/eval_hf.py --model DIR (--data DATA | --sets DIR) --out OUT [--beams 1,4]
        [--max-new 160] [--batch 256] [--limit N] [--device cuda]

Writes OUT/<mode>/<set>.txt (detokenised text) and OUT/<mode>/<set>.ids (generated ids after the
decoder start, pads dropped), mode = greedy or beam4, and OUT/scores.json. fp32 with TF32 off,
so that the reference is as exact as the GPU allows.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as D  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", help="the corpora (data.eval_sets)")
    ap.add_argument("--sets", help="or the sets as data.py export wrote them")
    ap.add_argument("--out", required=True)
    ap.add_argument("--beams", default="1,4")
    ap.add_argument("--max-new", type=int, default=160)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
    import sacrebleu

    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForSeq2SeqLM.from_pretrained(a.model, dtype=torch.float32).to(a.device).eval()
    eos, pad = model.generation_config.eos_token_id, model.generation_config.pad_token_id
    scores = {"sacrebleu": sacrebleu.__version__, "max_new_tokens": a.max_new, "sets": {}}
    t0 = time.time()
    for name, src, tgt, sources, refs in (D.read_sets(a.sets) if a.sets else D.eval_sets(a.data)):
        if a.limit:
            sources, refs = sources[:a.limit], refs[:a.limit]
        src_id = tok.convert_tokens_to_ids(D.LANG_CODES[src])
        tgt_id = tok.convert_tokens_to_ids(D.LANG_CODES[tgt])
        body = tok(sources, add_special_tokens=False)["input_ids"]
        ids = [[src_id] + b + [eos] for b in body]  # mBART-50: [src_lang] X </s>
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        entry = {"n": len(ids), "src": src, "tgt": tgt, "max_src_tokens": max(map(len, ids))}
        for nb in [int(x) for x in a.beams.split(",")]:
            mode = "greedy" if nb == 1 else f"beam{nb}"
            gen = [None] * len(ids)
            bs = max(1, a.batch // nb)
            for k in range(0, len(order), bs):
                part = order[k:k + bs]
                n = max(len(ids[i]) for i in part)
                x = torch.full((len(part), n), pad, dtype=torch.long)
                for r, i in enumerate(part):
                    x[r, :len(ids[i])] = torch.tensor(ids[i])
                x = x.to(a.device)
                with torch.no_grad():
                    out = model.generate(input_ids=x, attention_mask=(x != pad).long(),
                                         forced_bos_token_id=tgt_id, num_beams=nb, do_sample=False,
                                         max_new_tokens=a.max_new)
                for r, i in enumerate(part):
                    row = out[r].tolist()[1:]
                    while row and row[-1] == pad:
                        row.pop()
                    gen[i] = row
            hyps = tok.batch_decode(gen, skip_special_tokens=True)
            os.makedirs(os.path.join(a.out, mode), exist_ok=True)
            with open(os.path.join(a.out, mode, name + ".txt"), "w", encoding="utf-8") as f:
                f.writelines(h.replace("\n", " ") + "\n" for h in hyps)
            with open(os.path.join(a.out, mode, name + ".ids"), "w") as f:
                f.writelines(" ".join(map(str, g)) + "\n" for g in gen)
            bleu = sacrebleu.corpus_bleu(hyps, [refs], tokenize=D.bleu_tokenize(tgt))
            chrf = sacrebleu.corpus_chrf(hyps, [refs])
            entry[mode] = {"bleu": round(bleu.score, 4), "chrf": round(chrf.score, 4),
                           "bleu_str": str(bleu), "tokenize": D.bleu_tokenize(tgt)}
            print(f"{name:14s} {mode:7s} BLEU {bleu.score:6.2f} chrF {chrf.score:6.2f} "
                  f"({len(ids)} lines, {time.time() - t0:.0f} s)", flush=True)
        scores["sets"][name] = entry
    with open(os.path.join(a.out, "scores.json"), "w") as f:
        json.dump(scores, f, indent=1)


if __name__ == "__main__":
    main()
