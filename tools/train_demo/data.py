"""Corpora of the demo model: Multi30k (en de fr cs, all directions) and the UI strings (English to
each of 20 languages and back), the held-out validation split, and the language codes.

Everything is deterministic: the UI validation split is chosen by the MD5 of the English string,
so every duplicate of a string falls on the same side."""
import gzip
import hashlib
import lzma
import os

# mBART-50 codes where mBART-50 has them; am_ET and el_GR are this model's own additions
LANG_CODES = {
    "en": "en_XX", "de": "de_DE", "fr": "fr_XX", "cs": "cs_CZ", "am": "am_ET", "ar": "ar_AR",
    "bn": "bn_IN", "el": "el_GR", "es": "es_XX", "he": "he_IL", "hi": "hi_IN", "ja": "ja_XX",
    "ka": "ka_GE", "ko": "ko_KR", "ne": "ne_NP", "ru": "ru_RU", "sw": "sw_KE", "th": "th_TH",
    "tr": "tr_TR", "uk": "uk_UA", "vi": "vi_VN", "zh": "zh_CN",
}
EXTRA_CODES = ["am_ET", "el_GR"]  # appended after <mask>
M30K_LANGS = ["en", "de", "fr", "cs"]
UI_LANGS = ["am", "ar", "bn", "de", "el", "es", "fr", "he", "hi", "ja", "ka", "ko", "ne", "ru",
            "sw", "th", "tr", "uk", "vi", "zh"]
UI_FILE = {l: ("zh_CN" if l == "zh" else l) for l in UI_LANGS}
MAX_CHARS = 300            # UI pairs longer than this on either side are left out
VAL_FRACTION = 0.03
VAL_MIN, VAL_MAX = 10, 500


def _gz_lines(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f]


def multi30k(data, split):
    """{lang: [lines]} of a Multi30k split: train, val, test_2016_flickr."""
    return {l: _gz_lines(os.path.join(data, "multi30k", f"{split}.{l}.gz")) for l in M30K_LANGS}


def _md5(s):
    return hashlib.md5(s.encode("utf-8")).hexdigest()


def ui_strings(data, lang):
    """(train, val) lists of (english, translation) pairs of one language."""
    path = os.path.join(data, "ui-strings", f"en-{UI_FILE[lang]}.tsv.xz")
    pairs = []
    with lzma.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 2:
                continue
            en, x = parts[0].strip(), parts[1].strip()
            if not en or not x or len(en) > MAX_CHARS or len(x) > MAX_CHARS:
                continue
            pairs.append((en, x))
    keys = sorted({_md5(en) for en, _ in pairs})
    k = min(VAL_MAX, max(VAL_MIN, round(VAL_FRACTION * len(keys))))
    held = set(keys[:k])
    train = [p for p in pairs if _md5(p[0]) not in held]
    val = [p for p in pairs if _md5(p[0]) in held]
    return train, val


def eval_sets(data):
    """[(name, src, tgt, sources, references)]: Multi30k test_2016 en<->de/fr/cs, then the UI
    validation split en<->X for every language."""
    sets = []
    test = multi30k(data, "test_2016_flickr")
    for x in ["de", "fr", "cs"]:
        sets.append((f"m30k.en-{x}", "en", x, test["en"], test[x]))
        sets.append((f"m30k.{x}-en", x, "en", test[x], test["en"]))
    for lang in UI_LANGS:
        _, val = ui_strings(data, lang)
        sets.append((f"ui.en-{lang}", "en", lang, [p[0] for p in val], [p[1] for p in val]))
        sets.append((f"ui.{lang}-en", lang, "en", [p[1] for p in val], [p[0] for p in val]))
    return sets


def bleu_tokenize(lang):
    """sacreBLEU tokeniser for a target language: zh for Chinese, char for Japanese and Thai
    (no spaces between words; sacreBLEU's ja-mecab needs MeCab), 13a otherwise."""
    return {"zh": "zh", "ja": "char", "th": "char"}.get(lang, "13a")


def export_sets(data, out):
    """Write the evaluation sets as plain files (OUT/sets.tsv: name, src, tgt; OUT/<name>.src and
    .ref), so that the evaluation runs where the corpora are not."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "sets.tsv"), "w", encoding="utf-8") as idx:
        for name, src, tgt, sources, refs in eval_sets(data):
            idx.write(f"{name}\t{src}\t{tgt}\n")
            for ext, lines in (("src", sources), ("ref", refs)):
                with open(os.path.join(out, f"{name}.{ext}"), "w", encoding="utf-8") as f:
                    f.writelines(l.replace("\n", " ") + "\n" for l in lines)


def read_sets(d):
    """The sets export_sets wrote."""
    sets = []
    with open(os.path.join(d, "sets.tsv"), encoding="utf-8") as idx:
        for line in idx:
            name, src, tgt = line.rstrip("\n").split("\t")
            read = lambda ext: [l.rstrip("\n") for l in open(os.path.join(d, f"{name}.{ext}"), encoding="utf-8")]
            sets.append((name, src, tgt, read("src"), read("ref")))
    return sets


if __name__ == "__main__":
    import sys
    if len(sys.argv) != 4 or sys.argv[1] != "export":
        sys.exit("usage: data.py export DATA_DIR OUT_DIR")
    export_sets(sys.argv[2], sys.argv[3])
