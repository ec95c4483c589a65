#!/usr/bin/env bash
# Builds the fast CPU kernels (native/*.c) into shared libraries under $1, one per instruction-set
# level; the Java loader picks the best one the CPU supports. Called by Maven (generate-resources).
set -euo pipefail
out=${1:?usage: build.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
cc=${CC:-gcc}
srcs=("$here"/*.c)
# -Wmissing-prototypes: every exported definition is declared in imagenete.h (or internal.h); the rest is static
common=(-O3 -std=c11 -fPIC -shared -fopenmp -fno-math-errno -Wall -Wextra -Wno-unused-parameter -Wmissing-prototypes -I"$here")
# x86-64-v4 = AVX-512 F/BW/CD/DQ/VL; bf16 dot products on top.
# gcc < 13 has no znver4 tuning: fall back to znver3 there.
tune=-mtune=znver4
echo 'int x;' | "$cc" -x c -c -o /dev/null "$tune" - 2>/dev/null || tune=-mtune=znver3
"$cc" "${common[@]}" -march=x86-64-v4 -mavx512bf16 "$tune" -o "$out/libimagenete-avx512.so" "${srcs[@]}" -lm
# Portable build for CPUs without AVX-512 (AVX2 + FMA).
"$cc" "${common[@]}" -march=x86-64-v3 -o "$out/libimagenete-avx2.so" "${srcs[@]}" -lm
