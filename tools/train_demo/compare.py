#!/usr/bin/env python3
"""glossa vs HF transformers on the evaluation sets: the share of identical outputs per set and
mode, and the BLEU / chrF of each (glossa's through `glossa eval`, HF's as sacreBLEU computed them
in eval_hf.py's scores.json). Prints markdown tables for docs/QUALITY.md.

    python3 tools/train_demo/compare.py --glossa BIN --sets DIR --hf HF_OUT --ours GLOSSA_OUT
        [--cuda CUDA_OUT]
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as D  # noqa: E402


def lines(path):
    with open(path, encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f]


def score(glossa, hyp, ref, tgt):
    out = subprocess.run([glossa, "eval", "--hyp", hyp, "--ref", ref, "--tokenize", D.bleu_tokenize(tgt),
                          "--json"], check=True, capture_output=True, text=True).stdout
    j = json.loads(out)
    return j["score"], j["chrf"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--glossa", required=True)
    ap.add_argument("--sets", required=True)
    ap.add_argument("--hf", required=True)
    ap.add_argument("--ours", required=True)
    ap.add_argument("--cuda")
    a = ap.parse_args()
    hf_scores = json.load(open(os.path.join(a.hf, "scores.json")))["sets"]
    totals = {}
    rows = []
    for name, src, tgt, _, _ in D.read_sets(a.sets):
        ref = os.path.join(a.sets, name + ".ref")
        row = [name, len(lines(ref))]
        for mode in ("greedy", "beam4"):
            h = lines(os.path.join(a.hf, mode, name + ".txt"))
            g = lines(os.path.join(a.ours, mode, name + ".txt"))
            same = sum(x == y for x, y in zip(h, g)) if len(h) == len(g) else 0
            gb, gc = score(a.glossa, os.path.join(a.ours, mode, name + ".txt"), ref, tgt)
            hb, hc = hf_scores[name][mode]["bleu"], hf_scores[name][mode]["chrf"]
            t = totals.setdefault(mode, [0, 0])
            t[0] += same
            t[1] += len(h)
            row += [same / max(1, len(h)), gb, hb, gc, hc]
        if a.cuda:
            c = lines(os.path.join(a.cuda, "greedy", name + ".txt"))
            h = lines(os.path.join(a.hf, "greedy", name + ".txt"))
            same = sum(x == y for x, y in zip(h, c)) if len(h) == len(c) else 0
            t = totals.setdefault("cuda_greedy", [0, 0])
            t[0] += same
            t[1] += len(h)
            cb, _ = score(a.glossa, os.path.join(a.cuda, "greedy", name + ".txt"), ref, tgt)
            row += [same / max(1, len(h)), cb]
        rows.append(row)
    head = ("| set | lines | greedy identical | greedy BLEU glossa / HF | greedy chrF2 glossa / HF "
            "| beam 4 identical | beam 4 BLEU glossa / HF | beam 4 chrF2 glossa / HF |")
    if a.cuda:
        head += " CUDA fp16 greedy identical to HF fp32 | CUDA BLEU |"
    print(head)
    print("|" + "---|" * head.count(" | ") + "---|")
    for r in rows:
        s = f"| {r[0]} | {r[1]} | {100 * r[2]:.1f}% | {r[3]:.2f} / {r[4]:.2f} | {r[5]:.2f} / {r[6]:.2f} "
        s += f"| {100 * r[7]:.1f}% | {r[8]:.2f} / {r[9]:.2f} | {r[10]:.2f} / {r[11]:.2f} |"
        if a.cuda:
            s += f" {100 * r[12]:.1f}% | {r[13]:.2f} |"
        print(s)
    print()
    for mode, (same, n) in totals.items():
        print(f"{mode}: {same} of {n} outputs identical to HF ({100 * same / n:.2f}%)")


if __name__ == "__main__":
    main()
