#!/usr/bin/env python3
"""Builds the built-in language identifier's n-gram profiles (src/langid/profiles_data.c) and its
held-out evaluation set (tests/fixtures/langid/heldout.tsv) from ../shared/data and
tools/langid/extra/. Python 3 standard library only; deterministic. From the repository root:

    python3 tools/langid/make_profiles.py [--data ../shared/data] [--eval]

--eval also scores the held-out set with a Python mirror of src/langid/langid.c (the C test,
tests/langid/test_langid.c, is the authority).

Model: a multinomial Naive Bayes over character 1- to 4-grams per language (see lidcore.py for
the text model), applied only among the languages written in the text's dominant script (Latin:
en de fr cs es tr vi sw; Cyrillic: ru uk; Devanagari: hi ne; Han: zh ja; Kana: ja; every other
script names one language). Costs are -ln P(n-gram | language) in steps of 1/STEP nat.

Data decisions:
  * Split: Multi30k train line i is held out when i % 10 == 9; a ui-strings pair is held out when
    crc32(english) % 10 == 0 (both sides; so a string repeated across catalogs never lands on
    both sides), and for Amharic also every translation of 20+ characters (there are 3);
    extra/sw.txt: every 10th text line. Held-out lines never train.
  * English trains on Multi30k train.en plus the English side of every ui-strings file (deduped).
  * ui-strings cleaning (training only): markup and entities, command-line options (-x,
    --foo=BAR), paths, identifiers (with / \\ @ _ = $ ` { } [ ] < > | # ~ ^ or ::), ASCII tokens
    mixing letters and digits, ALL-CAPS acronyms and camelCase tokens are dropped; pairs whose
    translation equals the English are dropped; ASCII tokens of a translation that also occur in
    its English source (product names, untranslated terms) are dropped.
  * Languages not written in Latin script learn no Latin-script words at all (their catalogs are
    full of English names), and a line with none of their own script's letters is skipped.
  * Swahili: the catalog has 51 lines, nearly all country names; extra/sw.txt (written for this
    project) supplements it.
  * Held-out set: lines of >= 20 characters after trimming, raw (placeholders kept: the
    identifier must cope with them); a translation equal to its English is skipped, and so is a
    line that is not recognisably its language: for non-Latin languages fewer than half of its
    letters in the language's script, for Latin ones fewer than half of its letters left after the
    cleaning above. Up to PER_LANG lines a language, chosen by crc32 order.
"""
import argparse
import gzip
import lzma
import math
import os
import re
import sys
import zlib
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lidcore as lc  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEP = 6                   # quantization steps per nat
MAX_BONUS = 88
# nats; fitted so that confidence matches accuracy on the held-out lines and their 20-character
# prefixes (expected calibration error about 0.006 on each)
TEMPERATURE = 16.0
PER_LANG = 300             # held-out lines per language at most
# n-grams kept per language and order (1..4): languages sharing a script with others need many,
# a language alone in its script only a token profile (the script decides).
K_SHARED = (400, 1500, 2200, 2200)
K_HAN = (3000, 2500, 1500, 1000)   # Han has thousands of characters: unigrams matter most
K_ALONE = (30, 0, 0, 0)
# A profile n-gram that a language lacks costs -ln(FLOOR_FRACTION * c / N), c the count of its
# first n-gram left out of the profile (at least 1), N its n-gram total of that order.
FLOOR_FRACTION = 0.05
# Amharic's catalog has only 3 translations of 20+ characters (mostly short names): all of them are
# held out, so that the evaluation has some; its script alone identifies it.
HELD_LONG = {"am"}
BONUS_ALPHABET = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"?\\|~')
assert len(BONUS_ALPHABET) > MAX_BONUS

_TAG = re.compile(r"<[^<>]{0,80}>|&[a-zA-Z]+;|&#[0-9]+;")
_CAMEL = re.compile(r"[a-z][A-Z]")
_PUNCT = ".,;:!?()[]{}'\"«»„“”‘’`*…¡¿"
_BADCH = set("/\\@_=$`{}[]<>|#~^")


def crc(s):
    return zlib.crc32(s.encode("utf-8"))


def _core(tok):
    return tok.strip(_PUNCT)


def clean_ui(text, source=None):
    """Drops markup and technical tokens; with source, also ASCII tokens copied from it."""
    text = _TAG.sub(" ", text)
    copied = {_core(t) for t in source.split()} if source else set()
    out = []
    for tok in text.split():
        core = _core(tok)
        if not core or core[0] == "-" or "::" in core or any(c in _BADCH for c in core):
            continue
        if core.isascii():
            letters = [c for c in core if c.isalpha()]
            if letters and any(c.isdigit() for c in core):
                continue
            if len(letters) >= 2 and all(c.isupper() for c in letters):
                continue
            if _CAMEL.search(core) or core in copied:
                continue
        out.append(tok)
    return " ".join(out)


def native_words(ws, lang_idx):
    """The words a language may learn from: for a non-Latin language, none with Latin letters."""
    scripts = lc.LANGS[lang_idx][1]
    if lc.LATIN in scripts:
        return ws
    return [w for w in ws if not any(sc == lc.LATIN for _, sc in w)]


def letter_count(ws):
    return sum(1 for w in ws for _, sc in w if sc is not None)


def read_lines(path):
    opener = gzip.open if path.endswith(".gz") else lzma.open if path.endswith(".xz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n").replace("\r", "") for line in f]


def load(data_dir):
    """Returns train {lang: [text]} and heldout candidates {lang: {source: [text]}}."""
    train = {c: [] for c in lc.LANG_CODES}
    held = {c: {} for c in lc.LANG_CODES}
    en_ui_train, en_ui_held = set(), set()
    for lang in ("en", "de", "fr", "cs"):
        path = os.path.join(data_dir, "multi30k", f"train.{lang}.gz")
        for i, line in enumerate(read_lines(path)):
            if not line.strip():
                continue
            if i % 10 == 9:
                held[lang].setdefault("multi30k", []).append(line)
            else:
                train[lang].append(line)
    ui_dir = os.path.join(data_dir, "ui-strings")
    for name in sorted(os.listdir(ui_dir)):
        m = re.match(r"en-(.+)\.tsv\.xz$", name)
        if not m:
            continue
        lang = "zh" if m.group(1) == "zh_CN" else m.group(1)
        seen = set()
        for line in read_lines(os.path.join(ui_dir, name)):
            parts = line.split("\t")
            if len(parts) != 2:
                continue
            src, tgt = parts[0].strip(), parts[1].strip()
            if not src or not tgt:
                continue
            tenth = crc(src) % 10
            (en_ui_held if tenth == 0 else en_ui_train).add(src)
            if tenth == 0 or (lang in HELD_LONG and len(" ".join(tgt.split())) >= 20):
                if tgt != src:
                    held[lang].setdefault("ui", []).append((tgt, src))
                continue
            if tgt == src or tgt in seen:
                continue
            seen.add(tgt)
            train[lang].append(clean_ui(tgt, src))
    train["en"].extend(clean_ui(s) for s in sorted(en_ui_train))
    held["en"]["ui"] = [(s, None) for s in sorted(en_ui_held)]
    extra = os.path.join(REPO, "tools", "langid", "extra")
    for name in sorted(os.listdir(extra)):
        lang = name.split(".")[0]
        lines = [ln for ln in read_lines(os.path.join(extra, name)) if ln.strip() and ln[0] != "#"]
        for i, line in enumerate(lines):
            (held[lang].setdefault("extra", []) if i % 10 == 9 else train[lang]).append(line)
    return train, held


def count(train):
    counts, totals = [], []
    for li, code in enumerate(lc.LANG_CODES):
        cs = [Counter() for _ in range(lc.MAX_ORDER)]
        own = set(lc.LANGS[li][1])
        for text in train[code]:
            ws = native_words(lc.words(text), li)
            if not ws:
                continue
            sc = lc.script_counts(ws)
            if not any(sc[s] for s in own):
                continue
            for k, g in lc.ngrams(lc.sequence(ws)):
                cs[k - 1][g] += 1
        counts.append(cs)
        totals.append([sum(c.values()) for c in cs])
    return counts, totals


def shares_script(li):
    return any(lj != li and set(lc.LANGS[lj][1]) & set(lc.LANGS[li][1])
               for lj in range(len(lc.LANGS)))


def select(counts, totals):
    """Returns {ngram: {lang: bonus}} and floors[lang][order] (both in steps)."""
    table, floors = {}, []
    for li in range(len(lc.LANGS)):
        ks = K_ALONE if not shares_script(li) else K_HAN if lc.HAN in lc.LANGS[li][1] else K_SHARED
        fl = []
        for k in range(lc.MAX_ORDER):
            ranked = sorted(counts[li][k].items(), key=lambda kv: (-kv[1], kv[0]))
            kept, rest = ranked[:ks[k]], ranked[ks[k]:]
            n = max(totals[li][k], 1)
            c_next = rest[0][1] if rest else 0
            floor = -math.log(max(c_next, 1) * FLOOR_FRACTION / n)
            fq = min(255, int(round(floor * STEP)))
            fl.append(fq)
            for g, c in kept:
                cost = int(round(-math.log(c / n) * STEP))
                bonus = max(0, min(MAX_BONUS, fq - cost))
                if bonus > 0:
                    table.setdefault(g, {})[li] = bonus
        floors.append(fl)
    # Prefix closure: every prefix of a profile n-gram is in the table (with no postings when no
    # profile keeps it, such an entry scores nothing), so scoring can stop at the first order
    # that the table lacks.
    for g in list(table):
        for k in range(1, len(g)):
            if g[:k] != " ":
                table.setdefault(g[:k], {})
    return table, floors


class Model:
    def __init__(self, table, floors):
        self.table, self.floors = table, floors

    def detect(self, text):
        ws = lc.words(text[:lc.MAX_CHARS])
        if letter_count(ws) == 0:
            return None, 0.0
        cands = lc.candidates(lc.dominant_script(lc.script_counts(ws)))
        cost = {c: 0 for c in cands}
        for k, g in lc.ngrams(lc.sequence(ws)):
            post = self.table.get(g)
            if not post:   # (the C code also stops at the first order the table lacks)
                continue
            for c in cands:
                cost[c] += self.floors[c][k - 1] - post.get(c, 0)
        return confidence(cands, cost)


def confidence(cands, cost):
    best = min(cands, key=lambda c: (cost[c], c))
    z = sum(math.exp(-(cost[c] - cost[best]) / (STEP * TEMPERATURE)) for c in cands)
    return best, 1.0 / z


def heldout(held):
    rows = []
    for li, code in enumerate(lc.LANG_CODES):
        srcs = held[code]
        picked = []
        for name in sorted(srcs):
            good = []
            for item in srcs[name]:
                text, src = item if isinstance(item, tuple) else (item, None)
                text = " ".join(text.split())
                if len(text) < 20:
                    continue
                ws = lc.words(text)
                total = letter_count(ws)
                if total == 0:
                    continue
                if lc.LATIN in lc.LANGS[li][1]:
                    kept = letter_count(lc.words(clean_ui(text, src))) if name == "ui" else total
                else:
                    sc = lc.script_counts(ws)
                    kept = sum(sc[s] for s in lc.LANGS[li][1])
                if kept * 2 >= total:
                    good.append(text)
            good = sorted(set(good), key=lambda t: (crc(t), t))
            picked.append(good)
        quota = PER_LANG // max(1, len(picked))
        out = []
        for i, good in enumerate(picked):   # even shares; a short source leaves room for others
            share = quota if i < len(picked) - 1 else PER_LANG - len(out)
            out.extend(good[:share])
        rows.extend((code, t) for t in out)
    return rows


def write_c(path, table, floors, totals, ntrain):
    entries = sorted(table.items(), key=lambda kv: kv[0])
    chunks, cur = [], ""
    for g, post in entries:
        pairs = "".join(chr(ord("A") + li) + BONUS_ALPHABET[b] for li, b in sorted(post.items()))
        e = g + "|" + pairs + "~"
        if len(cur.encode("utf-8")) + len(e.encode("utf-8")) > 96:
            chunks.append(cur)
            cur = ""
        cur += e
    if cur:
        chunks.append(cur)
    with open(path, "w", encoding="utf-8") as f:
        f.write("/* GENERATED by tools/langid/make_profiles.py from ../shared/data (Multi30k "
                "train, ui-strings) and\n * tools/langid/extra/ -- do not edit. Regenerate from "
                "the repository root with\n *     python3 tools/langid/make_profiles.py\n"
                " * Character n-gram profiles of the built-in language identifier "
                "(src/langid/langid.c).\n")
        f.write(" * Training lines (after cleaning) / n-gram tokens per language:\n")
        for li, code in enumerate(lc.LANG_CODES):
            tot = " ".join(str(t) for t in totals[li])
            f.write(f" *   {code}: {ntrain[code]} lines, {tot}\n")
        f.write(" */\n#include \"langid/profiles.h\"\n\n")
        f.write("const langid_script_range langid_script_ranges[] = {\n")
        for a, b, s in lc.SCRIPT_RANGES:
            f.write(f"    {{0x{a:05X}, 0x{b:05X}, LANGID_SCRIPT_{lc.SCRIPT_NAMES[s]}}},\n")
        f.write("};\nconst size_t langid_num_script_ranges = sizeof langid_script_ranges / "
                "sizeof langid_script_ranges[0];\n\n")
        f.write("const langid_lang_info langid_langs[] = {\n")
        for li, (code, scs) in enumerate(lc.LANGS):
            mask = " | ".join(f"LANGID_SCRIPT_BIT(LANGID_SCRIPT_{lc.SCRIPT_NAMES[s]})" for s in scs)
            fl = ", ".join(str(x) for x in floors[li])
            f.write(f"    {{\"{code}\", {mask}, {{{fl}}}}},\n")
        f.write("};\nconst size_t langid_num_langs = "
                "sizeof langid_langs / sizeof langid_langs[0];\n\n")
        f.write(f"const int langid_steps_per_nat = {STEP};\n")
        f.write(f"const double langid_temperature = {TEMPERATURE!r};\n")
        f.write(f"const size_t langid_profile_num_ngrams = {len(entries)};\n")
        f.write("const char langid_profile_blob[] =\n")
        for ch in chunks:
            f.write(f"    \"{ch}\"\n")
        f.write("    ;\nconst size_t langid_profile_blob_len = sizeof langid_profile_blob - 1;\n")


def evaluate(model, rows):
    per = {}
    for code, text in rows:
        got, conf = model.detect(text)
        ok, n, cs = per.get(code, (0, 0, 0.0))
        hit = got is not None and lc.LANG_CODES[got] == code
        per[code] = (ok + hit, n + 1, cs + conf)
    tot_ok = sum(v[0] for v in per.values())
    tot = sum(v[1] for v in per.values())
    for code in lc.LANG_CODES:
        ok, n, cs = per.get(code, (0, 0, 0.0))
        if n:
            print(f"  {code}: {ok}/{n} = {100.0 * ok / n:.1f}%  mean confidence {cs / n:.3f}")
    print(f"overall: {tot_ok}/{tot} = {100.0 * tot_ok / tot:.2f}%")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(REPO, "..", "shared", "data"))
    ap.add_argument("--out-c", default=os.path.join(REPO, "src", "langid", "profiles_data.c"))
    ap.add_argument("--out-heldout",
                    default=os.path.join(REPO, "tests", "fixtures", "langid", "heldout.tsv"))
    ap.add_argument("--eval", action="store_true")
    args = ap.parse_args()
    train, held = load(args.data)
    counts, totals = count(train)
    table, floors = select(counts, totals)
    rows = heldout(held)
    os.makedirs(os.path.dirname(args.out_c), exist_ok=True)
    os.makedirs(os.path.dirname(args.out_heldout), exist_ok=True)
    write_c(args.out_c, table, floors, totals, {c: len(train[c]) for c in lc.LANG_CODES})
    with open(args.out_heldout, "w", encoding="utf-8") as f:
        for code, text in rows:
            f.write(f"{code}\t{text}\n")
    print(f"{len(table)} n-grams, {sum(len(p) for p in table.values())} postings; "
          f"{os.path.getsize(args.out_c)} bytes C; {len(rows)} held-out lines, "
          f"{os.path.getsize(args.out_heldout)} bytes")
    if args.eval:
        evaluate(Model(table, floors), rows)


if __name__ == "__main__":
    main()
