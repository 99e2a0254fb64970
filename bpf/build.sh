#!/bin/sh
# Rebuilds src/bpf/tasks.bpf.o, the eBPF object cgdash embeds (issue 18),
# from src/bpf/tasks.bpf.c. `cargo build` does not run this: the object is
# committed, so building cgdash needs no clang. CI (`.ci/run`) runs it and
# fails if the result differs from the committed object by one byte.
#
# Needs clang-14 and llvm-14 (llvm-strip) and libbpf-dev (bpf_helpers.h):
#   apt-get install --no-install-recommends clang-14 llvm-14 libbpf-dev
# Deterministic: fixed compiler, relative paths, the source directory mapped
# to "." in the debug info (BTF keeps file names), DWARF stripped (only BTF,
# which the loader needs for CO-RE, stays).
#
# Usage: bpf/build.sh [OUT]   (default: src/bpf/tasks.bpf.o)
set -eu
cd "$(dirname "$0")/.."
CLANG=${CLANG:-clang-14}
STRIP=${LLVM_STRIP:-llvm-strip-14}
out=${1:-src/bpf/tasks.bpf.o}
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
"$CLANG" --version | head -1 | grep -q 'version 14\.' || {
	echo "bpf/build.sh: needs clang 14 (the committed object is clang-14's); got: $("$CLANG" --version | head -1)" >&2
	exit 1
}
"$CLANG" -target bpf -O2 -g -Wall -Werror \
	-fdebug-prefix-map="$PWD"=. -ffile-prefix-map="$PWD"=. \
	-I src/bpf -c src/bpf/tasks.bpf.c -o "$tmp"
"$STRIP" -g "$tmp"
mv "$tmp" "$out"
trap - EXIT
