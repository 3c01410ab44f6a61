#!/usr/bin/env python3
"""Randomised differential test of `glossa eval` against sacreBLEU (needs sacrebleu 2.x installed).

Writes random small corpora (ASCII words and punctuation, numbers with separators, CJK, Greek and
Turkish capitals, emoji, combining marks, Python whitespace of every kind, HTML entities, CR, BOM,
empty lines, one to three references), scores each with every tokenizer, with and without
lowercasing, through `glossa eval --json` and sacrebleu.metrics.BLEU / CHRF (files read as the
sacrebleu command line reads them), and reports every difference: counts, totals and lengths must
be equal, scores equal to 1e-9.

Usage (from the repository root): python3 tests/eval/compare_sacrebleu.py [--glossa build/glossa]
                                  [--corpora 200] [--seed 1]
Exit status 1 when anything differs.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

PIECES = (
    ["the", "cat", "sat", "on", "mat", "Haus", "über", "l'homme", "don't", "e-mail", "U.S.A."]
    + ["1,000.5", "3.14", "2019-2020", "12-", "-5", "1.a", "a.1", ",5", "5,", "50%", "$5", "x/y"]
    + [".", ",", "!", "?", ":", ";", "(", ")", "[", "]", "{", "}", "\"", "'", "`", "~", "^", "|"]
    + ["&quot;", "&amp;", "&lt;", "&gt;", "<skipped>", "-", "--", "...", "…", "—", "–", "«", "»"]
    + ["中文", "我", "爱", "北京", "。", "，", "“", "”", "日本語", "の", "、", "한국어", "ｶﾀｶﾅ", "Ａ１"]
    + ["ΟΔΟΣ", "ΣΑ", "Σ", "ΑΣ.", "ὈΔΥΣΣΕΎΣ", "İstanbul", "ISTANBUL", "ß", "ẞ", "ǅ", "ﬃ", "Ⅻ", "ⒶΣ"]
    + ["😀", "👍🏽", "€", "£", "©", "×", "½", "٣٤", "नमस्ते।", "مرحبا،", "Привет,", "α·β", "a\u0301"]
    + ["\ufeff", "\u200b", "𠀀", "丽", "㈱", "☀", "✂", "\u2028", "\u0085", "\x1c", "\x0b", "\x0c"]
)
SPACES = [" ", " ", " ", " ", "", "  ", "\t", "\u00a0", "\u3000", "\u2009", "\u202f", "\r"]


def random_line(rng):
    if rng.random() < 0.08:
        return ""
    n = rng.randrange(0, 14)
    return "".join(rng.choice(PIECES) + rng.choice(SPACES) for _ in range(n))


def perturb(line, rng):
    parts = line.split(" ")
    out = [p for p in parts if rng.random() > 0.2]
    if out and rng.random() < 0.3:
        out[rng.randrange(len(out))] = rng.choice(PIECES)
    return " ".join(out)


def read(path):
    with open(path, encoding="utf-8", newline="\n") as f:
        return [line.rstrip() for line in f]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--glossa", default="build/glossa")
    ap.add_argument("--corpora", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    import sacrebleu
    from sacrebleu.metrics import BLEU, CHRF

    rng = random.Random(a.seed)
    bad = runs = 0
    tmp = tempfile.mkdtemp(prefix="glossa-eval-")
    for k in range(a.corpora):
        n_lines, n_refs = rng.randrange(1, 12), rng.randrange(1, 4)
        refs = [[random_line(rng) for _ in range(n_lines)] for _ in range(n_refs)]
        hyp = [perturb(x, rng) if rng.random() < 0.8 else random_line(rng) for x in refs[0]]
        paths = []
        for j, lines in enumerate([hyp] + refs):
            p = os.path.join(tmp, f"{k}.{j}.txt")
            with open(p, "w", encoding="utf-8", newline="") as f:
                f.write("\n".join(lines) + ("\n" if rng.random() < 0.7 else ""))
            paths.append(p)
        hyps, ref_streams = read(paths[0]), [read(p) for p in paths[1:]]
        if len(hyps) == 0 or any(len(r) != len(hyps) for r in ref_streams):
            continue
        for tok in ["13a", "zh", "intl", "char", "none"]:
            for lc in (False, True):
                runs += 1
                b = BLEU(tokenize=tok, lowercase=lc).corpus_score(hyps, ref_streams)
                c = CHRF(lowercase=lc).corpus_score(hyps, ref_streams)
                cmd = [a.glossa, "eval", "--json", "--tokenize", tok, "--hyp", paths[0]]
                for p in paths[1:]:
                    cmd += ["--ref", p]
                if lc:
                    cmd.append("--lowercase")
                res = subprocess.run(cmd, capture_output=True, text=True)
                if res.returncode != 0:
                    bad += 1
                    print(f"corpus {k} {tok} lc={lc}: glossa failed: {res.stderr.strip()}")
                    continue
                g = json.loads(res.stdout)
                same = (g["counts"] == list(b.counts) and g["totals"] == list(b.totals)
                        and g["sys_len"] == b.sys_len and g["ref_len"] == b.ref_len
                        and abs(g["score"] - b.score) <= 1e-9 and abs(g["chrf"] - c.score) <= 1e-9)
                if not same:
                    bad += 1
                    print(f"corpus {k} {tok} lc={lc}: glossa {g}\n  sacreBLEU {b} {c} "
                          f"counts {b.counts} totals {b.totals}\n  files {paths}")
    print(f"sacrebleu {sacrebleu.__version__}: {runs} runs, {bad} differences")
    if bad:
        print(f"corpora kept in {tmp}")
    else:
        shutil.rmtree(tmp)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
