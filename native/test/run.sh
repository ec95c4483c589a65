#!/usr/bin/env bash
# Builds and runs the GEMM/conv kernel tests (both ISA levels) or the benchmark.
#   bash native/test/run.sh            correctness, AVX-512 and AVX2 builds
#   bash native/test/run.sh bench [..] benchmark (AVX-512 build), args passed to ie_test bench
#   bash native/test/run.sh error      Winograd vs direct numerical error
# Same compiler flags as native/build.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
out=${IE_TEST_OUT:-/tmp/ie_test.$(id -u)}
mkdir -p "$out"
cc=${CC:-gcc}
common=(-O3 -std=c11 -fopenmp -fno-math-errno -Wall -Wextra -Wno-unused-parameter -Wmissing-prototypes -I"$src")
tune=-mtune=znver4
echo 'int x;' | "$cc" -x c -c -o /dev/null "$tune" - 2>/dev/null || tune=-mtune=znver3
files=("$src/gemm.c" "$src/conv.c" "$src/winograd.c" "$src/grad.c" "$src/ops.c" "$src/scratch.c" "$here/ie_test.c")
"$cc" "${common[@]}" -march=x86-64-v4 -mavx512bf16 "$tune" ${IE_CFLAGS:-} -o "$out/ie_test_avx512" "${files[@]}" -lm
mode=${1:-test}
if [ "$mode" = test ]; then
  "$cc" "${common[@]}" -march=x86-64-v3 ${IE_CFLAGS:-} -o "$out/ie_test_avx2" "${files[@]}" -lm
  echo "== AVX-512 build"; "$out/ie_test_avx512" test
  echo "== AVX2 build"; IE_NO_WINO=${IE_NO_WINO:-} "$out/ie_test_avx2" test
  echo "== AVX-512 build, 1 thread"; IE_THREADS=1 "$out/ie_test_avx512" test
else
  shift || true
  exec "$out/ie_test_avx512" "$mode" "$@"
fi
