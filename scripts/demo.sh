#!/usr/bin/env bash
# The README's demo: English to German, French, Chinese, Arabic and Russian with the default model
# (models/glossa-demo, trained by tools/train_demo on Multi30k image captions and UI strings).
# Captions go to German and French (the caption languages of its training data), UI strings to
# every language. Usage: scripts/demo.sh [glossa binary]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
glossa=${1:-$root/build/glossa}
show() { # lang, file
    echo "== en -> $1"
    "$glossa" translate --src en --tgt "$1" < "$2" | paste -d '\n' "$2" - | sed 'n;s/^/   -> /'
}
for t in de fr; do show "$t" "$root/docs/demo/captions.en"; done
for t in de fr zh ar ru; do show "$t" "$root/docs/demo/ui.en"; done
