#!/usr/bin/env bash
# Compiles every cuda-kernels/*.cu with nvcc into ONE fatbin (SASS for sm_80 and sm_90, PTX for compute_90, so a
# newer GPU can JIT it) at OUTDIR/imagenete.fatbin, a class-path resource that JCudaDevice loads with
# cuModuleLoadData; and writes ptxas's resource usage per kernel (registers, shared memory, stack, spills) to
# REPORT. Called by Maven (generate-resources). Without nvcc it writes a report saying so and exits 0: the build
# passes and the CUDA backend reports that it has no kernels. Skips the work when the fatbin is newer than every
# input. NVCC=... picks the compiler; IE_SKIP_NVCC=1 skips the step.
set -euo pipefail
out=${1:?usage: build.sh OUTDIR REPORT}
report=${2:?usage: build.sh OUTDIR REPORT}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out" "$(dirname "$report")"
fatbin="$out/imagenete.fatbin"
nvcc=${NVCC:-}
if [ -z "$nvcc" ]; then
    nvcc=$(command -v nvcc || true)
    [ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc
fi
if [ "${IE_SKIP_NVCC:-0}" = 1 ] || [ -z "$nvcc" ]; then
    why="nvcc not found (PATH, /usr/local/cuda/bin)"
    [ "${IE_SKIP_NVCC:-0}" = 1 ] && why="IE_SKIP_NVCC=1"
    printf 'CUDA kernel build: skipped: %s.\nNo fatbin: the cuda backend reports that it has no kernels.\n' "$why" > "$report"
    echo "cuda-kernels: $why: no fatbin built" >&2
    exit 0
fi
srcs=("$here"/*.cu)
if [ -f "$fatbin" ] && [ -f "$report" ]; then
    stale=0
    # ../native/philox.h: the Philox transform sampler.cu shares with the CPU kernels
    for f in "${srcs[@]}" "$here"/*.cuh "$here"/../native/philox.h "$here"/build.sh; do [ "$f" -nt "$fatbin" ] && stale=1; done
    if [ "$stale" = 0 ]; then echo "cuda-kernels: $fatbin is up to date"; exit 0; fi
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# One translation unit, so that nvcc writes one fatbin holding every kernel.
for s in "${srcs[@]}"; do echo "#include \"$s\""; done > "$work/all.cu"
arch=(-gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90)
start=$(date +%s)
if ! "$nvcc" -fatbin -std=c++17 -O3 "${arch[@]}" -Xptxas -v -I"$here" -o "$fatbin.tmp" "$work/all.cu" 2> "$work/ptxas.log"; then
    cat "$work/ptxas.log" >&2
    echo "cuda-kernels: nvcc failed" >&2
    exit 1
fi
mv "$fatbin.tmp" "$fatbin"
secs=$(( $(date +%s) - start ))
{
    echo "CUDA kernel build: $("$nvcc" --version | tail -1)"
    echo "fatbin: $fatbin ($(stat -c %s "$fatbin") bytes, ${secs}s), targets sm_80 sm_90 SASS + compute_90 PTX"
    echo "sources: $(cd "$here" && ls *.cu | tr '\n' ' ')"
    echo
    # ptxas -v prints, per kernel and architecture: "Compiling entry function 'K' for 'sm_XX'", then
    # "Function properties for K" / "N bytes stack frame, N bytes spill stores, N bytes spill loads", then
    # "Used N registers, ... N bytes smem ...". One row per kernel and arch.
    awk '
      /Compiling entry function/ { s = $0; sub(/.*function ./, "", s); k = s; sub(/[^A-Za-z0-9_].*/, "", k)
                                   a = $0; sub(/.* for ./, "", a); sub(/[^A-Za-z0-9_].*/, "", a); ar = a
                                   stack = "?"; st = "?"; ld = "?"; next }
      /bytes stack frame/ && k != "" { n = split($0, f, /[ ,]+/)
                                       for (i = 1; i + 3 <= n; i++) if (f[i+1] == "bytes") {
                                           if (f[i+2] == "stack") stack = f[i]
                                           if (f[i+2] == "spill" && f[i+3] == "stores") st = f[i]
                                           if (f[i+2] == "spill" && f[i+3] == "loads") ld = f[i] }
                                       next }
      /Used [0-9]+ registers/ && k != "" { r = $0; sub(/.*Used /, "", r); sub(/ .*/, "", r); smem = 0
                                           if ($0 ~ /bytes smem/) { t = $0; sub(/ bytes smem.*/, "", t); sub(/.* /, "", t); smem = t }
                                           printf "%-34s %-6s %4s regs %6s B smem %5s B stack %5s B spill-st %5s B spill-ld\n", k, ar, r, smem, stack, st, ld
                                           k = "" }
    ' "$work/ptxas.log" | sort -k1,1 -k2,2 > "$work/rows.txt"
    cat "$work/rows.txt"
    echo
    echo "$(wc -l < "$work/rows.txt") kernel/arch pairs; $(awk '$9 + 0 > 0 || $12 + 0 > 0' "$work/rows.txt" | wc -l) spill to local memory;" \
         "max $(awk 'BEGIN { m = 0 } $3 + 0 > m { m = $3 + 0 } END { print m }' "$work/rows.txt") registers per thread"
} > "$report"
echo "cuda-kernels: built $fatbin in ${secs}s; resource usage in $report"
