#!/usr/bin/env bash
# Pack what a device call needs into .carry/bundle.tar.xz (tests/gpu/device_session.sh unpacks it):
# glossa, the tests/gpu binaries of BUILD_DIR (a CUDA build made here), and the shared libraries the
# GPU machine lacks (libutf8proc, libmicrohttpd and its gnutls chain).
# With ALT_BUILD_DIR (another CUDA build, e.g. of a branch): its glossa and tests/gpu binaries too,
# under alt/ (device_session.sh step 10 compares the two; xz -9e stores the near-identical
# binaries once, ~6 MB for both; a build for another target, e.g. sm_90a, shares less: ALT_TESTS
# names the alt tests to pack, default all, to stay under the carry limit).
# TESTS does the same for BUILD_DIR's tests.
# Usage: [TESTS=...] [ALT_TESTS="test_cuda_linear ..."] tests/gpu/make_bundle.sh BUILD_DIR [ALT_BUILD_DIR]
set -euo pipefail
b=${1:?usage: make_bundle.sh BUILD_DIR [ALT_BUILD_DIR]}
alt=${2:-}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# fresh BUILD BIN: BIN was linked after BUILD's libglossa.a was last built (`make glossa` builds only
# the library, the CLI is target glossa_cli: a bundle of a stale glossa measured old code once)
fresh() {
    if [ "$1/libglossa.a" -nt "$2" ]; then
        echo "make_bundle.sh: $2 is older than $1/libglossa.a: run make in $1" >&2
        exit 1
    fi
}
# pack BUILD DEST [NAMES]: BUILD's glossa and its tests/gpu binaries (those in NAMES if given)
pack() {
    mkdir -p "$2"
    fresh "$1" "$1/glossa"
    cp "$1/glossa" "$2/"
    for t in "$1"/tests/test_cuda_*; do
        case " ${3:-$(basename "$t")} " in
            *" $(basename "$t") "*) [ -x "$t" ] && fresh "$1" "$t" && cp "$t" "$2/";;
        esac
    done
    return 0
}
mkdir -p "$stage/lib" .carry
pack "$b" "$stage" "${TESTS:-}"
[ -z "$alt" ] || pack "$alt" "$stage/alt" "${ALT_TESTS:-}"
libdir=/usr/lib/x86_64-linux-gnu
for l in libutf8proc.so.2 libmicrohttpd.so.12 libgnutls.so.30 libp11-kit.so.0 libidn2.so.0 \
         libunistring.so.2 libtasn1.so.6 libnettle.so.8 libhogweed.so.6 libgmp.so.10 libffi.so.8; do
    cp -L "$libdir/$l" "$stage/lib/"
done
strip "$stage"/glossa "$stage"/test_cuda_* 2>/dev/null || true
[ -z "$alt" ] || strip "$stage"/alt/* 2>/dev/null || true
XZ_OPT=-9e tar -C "$stage" -cJf .carry/bundle.tar.xz.new .
mv .carry/bundle.tar.xz.new .carry/bundle.tar.xz
ls -la .carry/bundle.tar.xz
