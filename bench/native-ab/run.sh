#!/usr/bin/env bash
# Paired A/B of the native kernels: A = native/ at a git revision, B = native/ in the working tree, both built as
# native/build.sh builds them (AVX-512) and timed alternately in one process (see ab.c).
#   bash bench/native-ab/run.sh [REV=HEAD] [resnet|adm|chain] [rounds=7] [fp32|bf16]
# e.g. after editing native/gemm.c: bash bench/native-ab/run.sh HEAD chain 7 bf16
# Extra compiler flags for B only: IE_AB_CFLAGS="-DIE_MC=512" (try a block size without editing the source).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rev=${1:-HEAD}
out=$(mktemp -d "${TMPDIR:-/tmp}/imagenete-ab.XXXXXX")
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/a"
git -C "$root" archive "$rev" native | tar -x -C "$out/a"
cc=${CC:-gcc}
tune=-mtune=znver4
echo 'int x;' | "$cc" -x c -c -o /dev/null "$tune" - 2>/dev/null || tune=-mtune=znver3
flags=(-O3 -std=c11 -fPIC -shared -fopenmp -fno-math-errno -march=x86-64-v4 -mavx512bf16 "$tune")
"$cc" "${flags[@]}" -I"$out/a/native" -o "$out/a.so" "$out"/a/native/*.c -lm
# shellcheck disable=SC2086
"$cc" "${flags[@]}" ${IE_AB_CFLAGS:-} -I"$root/native" -o "$out/b.so" "$root"/native/*.c -lm
"$cc" -O2 -std=c11 -fopenmp -Wall -Wextra -o "$out/ab" "$here/ab.c" -ldl
"$out/ab" "$out/a.so" "$out/b.so" "${2:-resnet}" "${3:-7}" "${4:-fp32}"
