# Shared helpers for the script tests (sourced). Expects GLOSSA, GLOSSA_FIXTURES, GLOSSA_SHARED_DATA.
set -euo pipefail
: "${GLOSSA:?path of the glossa binary}"
: "${GLOSSA_FIXTURES:?fixtures dir}"
: "${GLOSSA_SHARED_DATA:?shared data dir}"
TEST_TMP=$(mktemp -d)
trap 'rm -rf "$TEST_TMP"' EXIT
# Reference outputs (spm_encode etc.) are cached across builds in one test run.
REF_CACHE=${GLOSSA_REF_CACHE:-$TEST_TMP/ref}
mkdir -p "$REF_CACHE"
FAILS=0
PASSES=0

need() { command -v "$1" >/dev/null || { echo "missing tool: $1 (run scripts/setup.sh)"; exit 1; }; }

corpus() { # path of the whole shared-data corpus, one sentence a line
    local c="$REF_CACHE/corpus.txt"
    if [ ! -s "$c" ]; then "$GLOSSA_FIXTURES/spm/make_corpus.sh" "$GLOSSA_SHARED_DATA" > "$c.$$" && mv "$c.$$" "$c"; fi
    echo "$c"
}

parity_corpus() { # the corpus for reference-parity runs: all of it in the release build; under the
    # sanitizers (which check memory safety, ~5x slower) every 8th line, since the release run
    # has already compared every line with the reference
    local c
    c=$(corpus)
    if [ "${GLOSSA_SANITIZED:-OFF}" = "ON" ]; then
        local s="$REF_CACHE/corpus-every8.txt"
        [ -s "$s" ] || { awk 'NR % 8 == 1' "$c" > "$s.$$" && mv "$s.$$" "$s"; }
        c=$s
    fi
    echo "$c"
}

edge_text() { # hostile and corner-case lines: invalid UTF-8, NUL, empty, whitespace runs, 1 MB line
    local e="$REF_CACHE/edge.txt"
    if [ ! -s "$e" ]; then
        {
            printf '\n'
            printf '   \n'
            printf '  leading and   inner   and trailing spaces  \n'
            printf 'tab\there\n'
            printf 'bad \xff\xfe bytes \xc3 and \xe4\xbd truncated\n'
            printf 'overlong \xc0\xaf and surrogate \xed\xa0\x80 end\n'
            printf 'nul\000byte inside\n'
            printf '\xef\xbb\xbfBOM first\n'
            printf 'full\xef\xbc\xa1width \xef\xbd\xb6\xef\xbe\x9e kana \xe2\x85\xa0 roman\n'
            printf 'ligature \xef\xac\x81 and \xe2\x91\xa0 circled, \xe3\x8d\xbf sq\n'
            printf 'emoji \xf0\x9f\x98\x80\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd and zwj \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\n'
            printf 'combining e\xcc\x81 a\xcc\x8a \xe0\xa4\x95\xe0\xa5\x8d\xe0\xa4\xb7 \xe0\xb8\x81\xe0\xb8\xb3\n'
            printf '%%s %%d <br> {{name}} @@ user symbols%%s%%d\n'
            printf 'digits 1234567890 and 3.14159\n'
            printf '\xe2\x96\x81 literal lower-one-eighth block \xe2\x96\x81\xe2\x96\x81\n'
            printf 'nbsp\xc2\xa0thin\xe2\x80\x89ideographic\xe3\x80\x80space\n'
            printf 'control \x01\x02\x1b[0m chars\r\n'
            printf 'U+FFFD itself \xef\xbf\xbd and private \xee\x80\x80\n'
            head -c 1048576 /dev/zero | tr '\0' 'a'; printf '\n'
            for i in $(seq 1 2000); do printf 'Ünïcödé 日本語 '; done; printf '\n'
        } > "$e.$$"
        mv "$e.$$" "$e"
    fi
    echo "$e"
}

check_same() { # name, expected file, actual file
    if cmp -s "$2" "$3"; then
        PASSES=$((PASSES + 1))
    else
        FAILS=$((FAILS + 1))
        local total bad
        total=$(wc -l < "$2")
        bad=$(diff "$2" "$3" | grep -c '^<' || true)
        echo "FAIL $1: $bad of $total lines differ; first:"
        diff "$2" "$3" | head -6 | cut -c1-300
    fi
}

finish() {
    echo "$PASSES passed, $FAILS failed"
    [ "$FAILS" -eq 0 ]
}
