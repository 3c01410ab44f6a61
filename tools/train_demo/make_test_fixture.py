#!/usr/bin/env python3
"""tests/fixtures/demo/: the first lines of a few evaluation sets with HF transformers' greedy and
beam-4 translations by the demo model (eval_hf.py output), for tests/model/demo_model.test.sh.

    python3 tools/train_demo/make_test_fixture.py --sets .evalsets --hf HF_OUT --out tests/fixtures/demo
"""
import argparse
import os

SETS = ["m30k.en-de", "m30k.de-en", "m30k.en-fr", "m30k.cs-en", "ui.en-zh", "ui.zh-en", "ui.en-ar",
        "ui.en-ru", "ui.en-am", "ui.el-en", "ui.en-ja", "ui.hi-en", "ui.en-sw", "ui.ko-en"]
N_GREEDY, N_BEAM = 24, 8


def head(path, n):
    with open(path, encoding="utf-8") as f:
        return [l for _, l in zip(range(n), f)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", required=True)
    ap.add_argument("--hf", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    langs = {}
    for line in open(os.path.join(a.sets, "sets.tsv"), encoding="utf-8"):
        name, src, tgt = line.rstrip("\n").split("\t")
        langs[name] = (src, tgt)
    with open(os.path.join(a.out, "sets.tsv"), "w") as idx:
        for name in SETS:
            idx.write(f"{name}\t{langs[name][0]}\t{langs[name][1]}\n")
            for ext, src, n in (("src", os.path.join(a.sets, name + ".src"), N_GREEDY),
                                ("greedy", os.path.join(a.hf, "greedy", name + ".txt"), N_GREEDY),
                                ("beam4", os.path.join(a.hf, "beam4", name + ".txt"), N_BEAM)):
                with open(os.path.join(a.out, f"{name}.{ext}"), "w", encoding="utf-8") as f:
                    f.writelines(head(src, n))


if __name__ == "__main__":
    main()
