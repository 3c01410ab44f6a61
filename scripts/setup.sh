#!/usr/bin/env bash
# Installs the Debian 12 packages glossa needs (when missing) and builds it into build/.
# Usage: scripts/setup.sh [--no-install]
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=(build-essential cmake pkg-config libjansson-dev libutf8proc-dev libopenblas-dev libmicrohttpd-dev sentencepiece
          python3 xz-utils gzip clang libfuzzer-14-dev)
if [ "${1:-}" != "--no-install" ]; then
    missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        sudo=""
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        echo "setup: installing ${missing[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" > /dev/null
    fi
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)"
echo "setup: built build/glossa"
