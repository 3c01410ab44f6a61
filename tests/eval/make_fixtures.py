#!/usr/bin/env python3
"""Fixtures for tests/eval/test_eval_sacrebleu.c: hypothesis / reference texts and sacreBLEU's scores.

Two steps, so that the second can run where sacreBLEU is installed but the shared data is not:

  texts   needs ../shared/data (multi30k test_2016_flickr, ui-strings). Writes
          tests/fixtures/eval/*.txt: references taken from the data and "hypotheses" made from them
          by deterministic perturbations (dropped, replaced, doubled, swapped words or characters,
          another language's line, case changes, empty and punctuation-only lines, CRLF, a BOM,
          Unicode spaces), and tokenize_inputs.txt (lines of every script for tokenizer parity,
          besides the hand-made TRICKY strings below).
  scores  needs sacrebleu 2.x (and its `regex` module). Reads those texts as the sacrebleu command
          line does (UTF-8, newline="\\n", line.rstrip()) and writes tests/fixtures/eval/sacrebleu.json:
          per case BLEU (score, counts, totals, precisions, bp, sys_len, ref_len, text line) and
          chrF2 (score, text line) from sacrebleu.metrics.BLEU / CHRF with their defaults, and
          for every tokenize input each tokenizer's output and str.lower(). Where the sacrebleu
          command is on PATH each case is also scored through it, as a cross-check.

Usage (from the repository root):
  python3 tests/eval/make_fixtures.py texts [--data ../shared/data]
  python3 tests/eval/make_fixtures.py scores
"""
import argparse
import gzip
import json
import lzma
import os
import random
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "eval")
N_M30K = 250   # lines per multi30k case
N_UI = 200     # lines per ui-strings language
N_MIXED = 30   # lines per language in the mixed-script file

UI_MIXED = ["ar", "hi", "el", "he", "am", "bn", "ka", "th", "uk", "tr", "vi", "ne", "sw", "ko"]

# name, hypothesis file, reference files, tokenizer, lowercase
CASES = [
    ("en_13a", "en.hyp.txt", ["en.ref.txt"], "13a", False),
    ("de_13a", "de.hyp.txt", ["de.ref.txt"], "13a", False),
    ("fr_13a", "fr.hyp.txt", ["fr.ref.txt"], "13a", False),
    ("cs_13a", "cs.hyp.txt", ["cs.ref.txt"], "13a", False),
    ("de_identical", "de.ref.txt", ["de.ref.txt"], "13a", False),
    ("de_other_language", "en.ref.txt", ["de.ref.txt"], "13a", False),
    ("de_multiref", "de.hyp.txt", ["de.ref.txt", "de.ref2.txt"], "13a", False),
    ("de_multiref_gaps", "de.hyp.txt", ["de.ref.txt", "de.ref3.txt", "fr.ref.txt"], "13a", False),
    ("de_case_lc", "de.hyp_case.txt", ["de.ref.txt"], "13a", True),
    ("de_case", "de.hyp_case.txt", ["de.ref.txt"], "13a", False),
    ("en_none", "en.hyp.txt", ["en.ref.txt"], "none", False),
    ("en_char", "en.hyp.txt", ["en.ref.txt"], "char", False),
    ("en_intl", "en.hyp.txt", ["en.ref.txt"], "intl", False),
    ("cs_intl_lc", "cs.hyp_case.txt", ["cs.ref.txt"], "intl", True),
    ("short_hyps", "short.hyp.txt", ["de.ref.txt"], "13a", False),
    ("empty_hyps", "empty.hyp.txt", ["de.ref.txt"], "13a", False),
    ("one_line", "one.hyp.txt", ["one.ref.txt"], "13a", False),
    ("crlf_bom_spaces", "crlf.hyp.txt", ["en.ref.txt"], "13a", False),
    ("zh_zh", "zh.hyp.txt", ["zh.ref.txt"], "zh", False),
    ("zh_13a", "zh.hyp.txt", ["zh.ref.txt"], "13a", False),
    ("zh_char", "zh.hyp.txt", ["zh.ref.txt"], "char", False),
    ("zh_intl", "zh.hyp.txt", ["zh.ref.txt"], "intl", False),
    ("ja_zh", "ja.hyp.txt", ["ja.ref.txt"], "zh", False),
    ("ja_char", "ja.hyp.txt", ["ja.ref.txt"], "char", False),
    ("ru_intl", "ru.hyp.txt", ["ru.ref.txt"], "intl", False),
    ("ru_13a", "ru.hyp.txt", ["ru.ref.txt"], "13a", False),
    ("el_upper_lc", "el.hyp_upper.txt", ["el.ref.txt"], "13a", True),
    ("el_upper_intl_lc", "el.hyp_upper.txt", ["el.ref.txt"], "intl", True),
    ("tr_upper_lc", "tr.hyp_upper.txt", ["tr.ref.txt"], "13a", True),
    ("mixed_intl", "mixed.hyp.txt", ["mixed.ref.txt"], "intl", False),
    ("mixed_13a", "mixed.hyp.txt", ["mixed.ref.txt"], "13a", False),
    ("mixed_zh", "mixed.hyp.txt", ["mixed.ref.txt"], "zh", False),
    ("mixed_char_lc", "mixed.hyp.txt", ["mixed.ref.txt"], "char", True),
    ("edge_13a", "edge.hyp.txt", ["edge.ref.txt"], "13a", False),
    ("edge_zh", "edge.hyp.txt", ["edge.ref.txt"], "zh", False),
    ("edge_intl", "edge.hyp.txt", ["edge.ref.txt"], "intl", False),
    ("edge_char", "edge.hyp.txt", ["edge.ref.txt"], "char", False),
    ("edge_none_lc", "edge.hyp.txt", ["edge.ref.txt"], "none", True),
]
TOKENIZERS = ["13a", "zh", "intl", "char", "none"]

# Hand-made lines: tokenizer corner cases (13a's classes, numbers, dashes, entities, CJK ranges,
# Unicode punctuation and symbols, spaces Python splits on, final sigma, dotted capital I).
TRICKY = [
    "Hello, world!", "1,000.5 and 3.14", "2019-2020", "e-mail -12 12- 1-2-3", "end.", "in 2019.",
    "U.S.A.", "1.a a.1 ,5 5, .5 5.", "&quot;hi&quot; &amp; &lt;b&gt; &amp;lt;", "<skipped>x",
    "<skip<skipped>ped>", "$5.00 50% x/y [a]{b} `t` ~^_| @#*+=", "l'homme don't", "...", "a--b",
    "Mr.Smith,Jr.", "3.5×10⁶ €100 £5 ©2020 ½ Ⅻ ٣٤", "emoji 😀! 👍🏽", "tab\there", "nbsp\u00a0here",
    "ideo\u3000space", "  leading and trailing  ", "", "a\u2028b x\u0085y z\u001fw", "zero\u200bwidth",
    "full＠width Ａ１，", "我爱北京天安门", "中文，测试。", "“引号”—破折号…", "abc中def", "日本語のテキスト、です。",
    "한국어 문장입니다.", "Привет, мир!", "«Да» — «нет»", "مرحبا، بالعالم؟", "नमस्ते। १२३", "Ελληνικά; ερώτηση·",
    "α·β", "a\u0301b", "\ufeffbom", "İstanbul", "ΣΊΣΥΦΟΣ ΟΔΟΣ. ΑΣ'Α Σ", "ὈΔΥΣΣΕΎΣ", "ß ẞ ǅ ﬃ",
    "ⒶΣ ⅫΣ ªΣ 𝐀Σ", "%s: %d files (%.1f%%)", "C:\\path\\to\\file", "<a href=\"x\">y</a>",
    "one-\ntwo\nthree", "x\u2013y\u2014z\u2212w", "⁂ ※ † ‡ ‰ ′ ″", "𠀀𠀁 𪛖 丽", "ｶﾀｶﾅ ㄅㄆ ㈱ ㌀",
    "☀☃ ✂✈ ❤", "\u2000x\u2001y\u200az", "1.000,50 €", "20:30 12/31/2020", "ta'ala' 'quoted'",
]


def write_lines(name, lines, newline="\n", final_newline=True):
    text = newline.join(lines) + (newline if final_newline and lines else "")
    with open(os.path.join(OUT, name), "w", encoding="utf-8", newline="") as f:
        f.write(text)


def read_gz(path, n):
    with gzip.open(path, "rt", encoding="utf-8", newline="\n") as f:
        return [line.rstrip("\n") for _, line in zip(range(n), f)]


def ui_lines(data, lang, n):
    """n translations spread evenly over the catalogue, clean single-line strings."""
    with lzma.open(os.path.join(data, "ui-strings", f"en-{lang}.tsv.xz"), "rt", encoding="utf-8",
                   newline="\n") as f:
        pairs = [line.rstrip("\n").split("\t", 1) for line in f]
    good = [p[1] for p in pairs if len(p) == 2 and p[1].strip() and p[1].isprintable()]
    step = max(1, len(good) // n)
    return good[::step][:n]


def perturb_words(line, rng, vocab, p=0.25):
    out = []
    for t in line.split(" "):
        r = rng.random()
        if r < p / 3:
            continue
        if r < 2 * p / 3:
            out.append(rng.choice(vocab))
        elif r < p:
            out += [t, t]
        else:
            out.append(t)
    if len(out) > 2 and rng.random() < 0.4:
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    return " ".join(out)


def perturb_chars(line, rng, p=0.2):
    chars = list(line)
    out = []
    for c in chars:
        r = rng.random()
        if r < p / 2:
            continue
        out.append(rng.choice(chars) if r < p else c)
    return "".join(out)


def perturb_case(line, rng):
    words = line.split(" ")
    for i, w in enumerate(words):
        r = rng.random()
        words[i] = w.upper() if r < 0.2 else w.lower() if r < 0.4 else w.capitalize() if r < 0.5 else w
    return " ".join(words)


def make_texts(data):
    os.makedirs(OUT, exist_ok=True)
    m30k = {lang: read_gz(os.path.join(data, "multi30k", f"test_2016_flickr.{lang}.gz"), N_M30K)
            for lang in ["en", "de", "fr", "cs"]}
    for lang, refs in m30k.items():
        rng = random.Random(f"m30k-{lang}")
        vocab = sorted({w for line in refs for w in line.split()})
        write_lines(f"{lang}.ref.txt", refs)
        write_lines(f"{lang}.hyp.txt", [perturb_words(x, rng, vocab) for x in refs])
    rng = random.Random("de-ref2")
    de = m30k["de"]
    vocab = sorted({w for line in de for w in line.split()})
    write_lines("de.ref2.txt", [perturb_words(x, rng, vocab, 0.4) for x in de])
    write_lines("de.ref3.txt", ["" if i % 5 == 0 else perturb_words(x, rng, vocab, 0.3)
                                for i, x in enumerate(de)])
    for lang in ["de", "cs"]:
        rng = random.Random(f"case-{lang}")
        with open(os.path.join(OUT, f"{lang}.hyp.txt"), encoding="utf-8", newline="\n") as f:
            hyp = [x.rstrip("\n") for x in f]
        write_lines(f"{lang}.hyp_case.txt", [perturb_case(x, rng) for x in hyp])
    write_lines("short.hyp.txt", [" ".join(x.split()[:2]) for x in de])
    write_lines("empty.hyp.txt", [""] * len(de))
    write_lines("one.hyp.txt", [m30k["en"][0][:-1] + " !"], final_newline=False)
    write_lines("one.ref.txt", [m30k["en"][0]])
    # CRLF endings, a BOM, Unicode spaces, no final newline
    rng = random.Random("crlf")
    spaces = ["\u00a0", "\u3000", "\u2009", "\t", "  ", "\u202f"]
    crlf = []
    for x in m30k["en"]:
        words = x.split(" ")
        crlf.append("".join(w + (rng.choice(spaces) if rng.random() < 0.2 else " ") for w in words)
                    + rng.choice(["", " ", "\u3000", "\t"]))
    crlf[0] = "\ufeff" + crlf[0]
    write_lines("crlf.hyp.txt", crlf, newline="\r\n", final_newline=False)

    for lang, name in [("zh_CN", "zh"), ("ja", "ja"), ("ru", "ru"), ("el", "el"), ("tr", "tr")]:
        refs = ui_lines(data, lang, N_UI)
        rng = random.Random(f"ui-{lang}")
        write_lines(f"{name}.ref.txt", refs)
        if name in ("zh", "ja"):
            write_lines(f"{name}.hyp.txt", [perturb_chars(x, rng) for x in refs])
        elif name == "ru":
            vocab = sorted({w for line in refs for w in line.split()})
            write_lines(f"{name}.hyp.txt", [perturb_words(x, rng, vocab) for x in refs])
        else:
            write_lines(f"{name}.hyp_upper.txt",
                        [x.upper() if rng.random() < 0.5 else x for x in refs])
    mixed = [x for lang in UI_MIXED for x in ui_lines(data, lang, N_MIXED)]
    rng = random.Random("mixed")
    vocab = sorted({w for line in mixed for w in line.split()})
    write_lines("mixed.ref.txt", mixed)
    write_lines("mixed.hyp.txt", [perturb_words(x, rng, vocab) if i % 3 else perturb_chars(x, rng)
                                  for i, x in enumerate(mixed)])

    # edge cases: empty and punctuation-only lines, entities, numbers, dashes, CJK and symbols
    ref = [t for t in TRICKY if "\n" not in t and "\u2028" not in t and "\u0085" not in t]
    rng = random.Random("edge")
    hyp = []
    for i, x in enumerate(ref):
        k = i % 6
        hyp.append("" if k == 0 else "!?" if k == 1 else x if k == 2 else
                   perturb_chars(x, rng) if k == 3 else x.upper() if k == 4 else x + " ...")
    write_lines("edge.ref.txt", ref)
    write_lines("edge.hyp.txt", hyp)

    inputs = []
    for lang in ["zh_CN", "ja", "ko", "ru", "ar", "hi", "el", "he", "am", "bn", "ka", "th", "uk",
                 "tr", "vi", "ne", "sw", "de", "fr", "es"]:
        inputs += ui_lines(data, lang, 12)
    write_lines("tokenize_inputs.txt", inputs)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"texts written to {OUT}: {total} bytes")


def read_text(name):
    """As the sacrebleu command line reads a file."""
    with open(os.path.join(OUT, name), encoding="utf-8", newline="\n") as f:
        return [line.rstrip() for line in f]


def cli_scores(hyp, refs, tok, lc):
    exe = shutil.which("sacrebleu")
    if not exe:
        return None
    cmd = [exe] + [os.path.join(OUT, r) for r in refs] + ["-i", os.path.join(OUT, hyp),
                                                           "-m", "bleu", "chrf", "-tok", tok,
                                                           "-f", "json", "-w", "2"]
    if lc:
        cmd += ["-lc", "--chrf-lowercase"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        return {"error": res.stderr[-500:]}
    out = json.loads(res.stdout)
    return {d["name"]: d["score"] for d in (out if isinstance(out, list) else [out])}


def make_scores():
    import sacrebleu
    from sacrebleu.metrics import BLEU, CHRF

    result = {"sacrebleu_version": sacrebleu.__version__, "python_version": sys.version.split()[0],
              "cases": [], "tokenize": []}
    try:
        import regex
        import unicodedata
        result["regex_version"] = regex.__version__
        result["unicodedata_version"] = unicodedata.unidata_version
    except ImportError:
        pass
    bad = 0
    for name, hyp, refs, tok, lc in CASES:
        hyps = read_text(hyp)
        ref_streams = [read_text(r) for r in refs]
        b = BLEU(tokenize=tok, lowercase=lc).corpus_score(hyps, ref_streams)
        c = CHRF(lowercase=lc).corpus_score(hyps, ref_streams)
        case = {"name": name, "hyp": hyp, "refs": refs, "tokenize": tok, "lowercase": lc,
                "bleu": {"score": b.score, "counts": list(b.counts), "totals": list(b.totals),
                         "precisions": list(b.precisions), "bp": b.bp, "sys_len": b.sys_len,
                         "ref_len": b.ref_len, "text": b.format()},
                "chrf": {"score": c.score, "text": c.format()}}
        cli = cli_scores(hyp, refs, tok, lc)
        if cli is not None:
            case["cli"] = cli
            ok = (cli.get("BLEU") == round(b.score, 2) and
                  cli.get("chrF2") == round(c.score, 2))
            if not ok:
                bad += 1
                print(f"warning: {name}: command line {cli} vs API {b.score:.2f} {c.score:.2f}",
                      file=sys.stderr)
        result["cases"].append(case)
        print(f"{name:20s} {case['bleu']['text']}  {case['chrf']['text']}")
    inputs = TRICKY + read_text("tokenize_inputs.txt")
    tokenizers = {t: BLEU(tokenize=t).tokenizer for t in TOKENIZERS}
    for s in inputs:
        entry = {"input": s, "lower": s.lower()}
        for t, fn in tokenizers.items():
            entry[t] = " ".join(fn(s).split())
        result["tokenize"].append(entry)
    with open(os.path.join(OUT, "sacrebleu.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {os.path.join(OUT, 'sacrebleu.json')} (sacrebleu {sacrebleu.__version__})"
          + (f", {bad} command-line mismatches" if bad else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["texts", "scores"])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    a = ap.parse_args()
    if a.step == "texts":
        make_texts(a.data)
    else:
        make_scores()


if __name__ == "__main__":
    main()
