"""The language identifier's text model, shared by make_profiles.py (training, evaluation) and
mirrored in C by src/langid/langid.c. Python 3 standard library only.

Text -> features:
  1. printf placeholders (%s, %-10lu, %1$s, %%) become a space (strip_placeholders);
  2. NFC, then each code point is lowercased on its own (the simple mapping, as utf8proc_tolower);
  3. letters (Unicode L*) and marks (M*) form words; everything else (digits, punctuation,
     symbols, spaces) is a word boundary;
  4. the words joined by one space, with a space at each end: " w1 w2 ";
  5. every character 1- to 4-gram of that string, except the lone space.

Scripts: each letter (not marks) is counted in one of the scripts of SCRIPT_RANGES; the dominant
script picks the candidate languages (dominant_script). Any change here must be made in
src/langid/langid.c too (the ranges themselves are written into the generated C file).
"""
import unicodedata

OTHER, LATIN, GREEK, CYRILLIC, HEBREW, ARABIC, DEVANAGARI, BENGALI, THAI, GEORGIAN, HANGUL, \
    ETHIOPIC, KANA, HAN = range(14)
SCRIPT_NAMES = ["OTHER", "LATIN", "GREEK", "CYRILLIC", "HEBREW", "ARABIC", "DEVANAGARI",
                "BENGALI", "THAI", "GEORGIAN", "HANGUL", "ETHIOPIC", "KANA", "HAN"]

# (first, last, script), sorted, not overlapping. Letters outside these count as OTHER.
SCRIPT_RANGES = sorted([
    (0x0041, 0x005A, LATIN), (0x0061, 0x007A, LATIN), (0x00AA, 0x00AA, LATIN),
    (0x00BA, 0x00BA, LATIN), (0x00C0, 0x02AF, LATIN), (0x1D00, 0x1DBF, LATIN),
    (0x1E00, 0x1EFF, LATIN), (0x2C60, 0x2C7F, LATIN), (0xA720, 0xA7FF, LATIN),
    (0xAB30, 0xAB6F, LATIN), (0xFF21, 0xFF3A, LATIN), (0xFF41, 0xFF5A, LATIN),
    (0x0370, 0x03FF, GREEK), (0x1F00, 0x1FFF, GREEK),
    (0x0400, 0x052F, CYRILLIC), (0x1C80, 0x1C8F, CYRILLIC), (0x2DE0, 0x2DFF, CYRILLIC),
    (0xA640, 0xA69F, CYRILLIC),
    (0x0590, 0x05FF, HEBREW), (0xFB1D, 0xFB4F, HEBREW),
    (0x0600, 0x06FF, ARABIC), (0x0750, 0x077F, ARABIC), (0x0870, 0x08FF, ARABIC),
    (0xFB50, 0xFDFF, ARABIC), (0xFE70, 0xFEFF, ARABIC),
    (0x0900, 0x097F, DEVANAGARI), (0xA8E0, 0xA8FF, DEVANAGARI),
    (0x0980, 0x09FF, BENGALI),
    (0x0E00, 0x0E7F, THAI),
    (0x10A0, 0x10FF, GEORGIAN), (0x1C90, 0x1CBF, GEORGIAN), (0x2D00, 0x2D2F, GEORGIAN),
    (0x1100, 0x11FF, HANGUL), (0x3130, 0x318F, HANGUL), (0xA960, 0xA97F, HANGUL),
    (0xAC00, 0xD7FF, HANGUL), (0xFFA0, 0xFFDC, HANGUL),
    (0x1200, 0x139F, ETHIOPIC), (0x2D80, 0x2DDF, ETHIOPIC), (0xAB00, 0xAB2F, ETHIOPIC),
    (0x3040, 0x30FF, KANA), (0x31F0, 0x31FF, KANA), (0xFF66, 0xFF9F, KANA),
    (0x2E80, 0x2FDF, HAN), (0x3005, 0x3007, HAN), (0x3021, 0x3029, HAN), (0x3038, 0x303B, HAN),
    (0x3400, 0x4DBF, HAN), (0x4E00, 0x9FFF, HAN), (0xF900, 0xFAFF, HAN),
    (0x20000, 0x3FFFF, HAN),
])
for _a, _b in zip(SCRIPT_RANGES, SCRIPT_RANGES[1:]):
    assert _a[1] < _b[0], (_a, _b)

# The languages, in the order of the generated table, with the scripts they are written in. A tie
# goes to the first (so Han text with no known n-gram reads as Chinese).
LANGS = [
    ("en", [LATIN]), ("de", [LATIN]), ("fr", [LATIN]), ("cs", [LATIN]), ("es", [LATIN]),
    ("tr", [LATIN]), ("vi", [LATIN]), ("sw", [LATIN]),
    ("ru", [CYRILLIC]), ("uk", [CYRILLIC]), ("el", [GREEK]), ("he", [HEBREW]), ("ar", [ARABIC]),
    ("hi", [DEVANAGARI]), ("ne", [DEVANAGARI]), ("bn", [BENGALI]), ("th", [THAI]),
    ("ka", [GEORGIAN]), ("am", [ETHIOPIC]), ("ko", [HANGUL]), ("zh", [HAN]), ("ja", [HAN, KANA]),
]
LANG_CODES = [c for c, _ in LANGS]
MAX_ORDER = 4
MAX_CHARS = 1000       # the C side reads at most this many code points of a text

_FLAGS = set("0123456789$-+#'.*")
_LENMOD = set("hlLqjzt")


def _ascii_letter(c):
    return ("a" <= c <= "z") or ("A" <= c <= "Z")


def strip_placeholders(s):
    """Replace printf conversions with a space: '%', flag/width/precision characters
    (0-9 $ - + # ' . *), up to two length modifiers (h l L q j z t), a conversion letter; '%%'."""
    out, i, n = [], 0, len(s)
    while i < n:
        if s[i] != "%":
            out.append(s[i])
            i += 1
            continue
        j = i + 1
        while j < n and s[j] in _FLAGS:
            j += 1
        end = -1
        if j < n and s[j] == "%":
            end = j
        elif j + 2 < n and s[j] in _LENMOD and s[j + 1] in _LENMOD and _ascii_letter(s[j + 2]):
            end = j + 2
        elif j + 1 < n and s[j] in _LENMOD and _ascii_letter(s[j + 1]):
            end = j + 1
        elif j < n and _ascii_letter(s[j]):
            end = j
        if end < 0:
            out.append("%")
            i += 1
        else:
            out.append(" ")
            i = end + 1
    return "".join(out)


def script_of(cp):
    lo, hi = 0, len(SCRIPT_RANGES)
    while lo < hi:
        mid = (lo + hi) // 2
        a, b, s = SCRIPT_RANGES[mid]
        if cp < a:
            hi = mid
        elif cp > b:
            lo = mid + 1
        else:
            return s
    return OTHER


def lower1(ch):
    low = ch.lower()
    return low[0] if low else ch


def words(text):
    """The text's words: lists of (lowercased char, script or None for marks)."""
    s = unicodedata.normalize("NFC", strip_placeholders(text))
    out, cur = [], []
    for ch in s:
        cat = unicodedata.category(ch)[0]
        if cat == "L":
            c = lower1(ch)
            cur.append((c, script_of(ord(c))))
        elif cat == "M":
            cur.append((ch, None))
        elif cur:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def script_counts(ws):
    counts = [0] * len(SCRIPT_NAMES)
    for w in ws:
        for _, sc in w:
            if sc is not None:
                counts[sc] += 1
    return counts


def dominant_script(counts):
    """LATIN unless some other known script has at least a quarter as many letters as Latin (the
    one with the most wins); OTHER when no letter is in a known script."""
    best, best_n = OTHER, 0
    for sc in range(GREEK, len(SCRIPT_NAMES)):
        if counts[sc] > best_n:
            best, best_n = sc, counts[sc]
    if best_n > 0 and best_n * 4 >= counts[LATIN]:
        return best
    if counts[LATIN] > 0:
        return LATIN
    return OTHER


def candidates(script):
    if script == OTHER:
        return list(range(len(LANGS)))
    return [i for i, (_, scs) in enumerate(LANGS) if script in scs]


def sequence(ws):
    """' w1 w2 ... ' as a string (the words' characters only)."""
    return " " + " ".join("".join(c for c, _ in w) for w in ws) + " "


def ngrams(seq):
    n = len(seq)
    for i in range(n):
        for k in range(1, MAX_ORDER + 1):
            if i + k > n:
                break
            g = seq[i:i + k]
            if g != " ":
                yield k, g
