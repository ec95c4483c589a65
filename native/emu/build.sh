#!/usr/bin/env bash
# Builds the CUDA emulation library: every cuda-kernels/*.cu compiled as C++ by g++ against cuda_emu.h (force-
# included, IE_EMULATION defined), plus the runtime, into OUTDIR/libimagenete-cuda-emu.so, which EmulatedDevice
# loads through FFM. Called by Maven (generate-resources). Skips the work when the library is newer than every
# input. Needs g++ with OpenMP (C++17); without g++ it says so and exits 0: the emulated backend then reports
# that its library is missing, and the build still passes.
set -euo pipefail
out=${1:?usage: build.sh OUTDIR KERNELDIR}
kernels=${2:?usage: build.sh OUTDIR KERNELDIR}
here=$(cd "$(dirname "$0")" && pwd)
cxx=${CXX:-g++}
lib="$out/libimagenete-cuda-emu.so"
if ! command -v "$cxx" >/dev/null 2>&1; then
    echo "native/emu: $cxx not found: CUDA emulation library not built" >&2
    exit 0
fi
mkdir -p "$out"
srcs=("$kernels"/*.cu)
# native/philox.h: the Philox transform sampler.cu shares with the CPU kernels
inputs=("${srcs[@]}" "$kernels"/*.cuh "$here"/../philox.h "$here"/cuda_emu.h "$here"/emu_runtime.cpp "$here"/build.sh)
if [ -f "$lib" ]; then
    stale=0
    for f in "${inputs[@]}"; do [ "$f" -nt "$lib" ] && stale=1; done
    if [ "$stale" = 0 ]; then echo "native/emu: $lib is up to date"; exit 0; fi
fi
obj=$(mktemp -d)
trap 'rm -rf "$obj"' EXIT
# -O2 and the x86-64 baseline ISA: the library must load on any CI machine; -fno-fast-math keeps IEEE semantics
# (the GPU build does not use fast math either).
flags=(-O2 -std=c++17 -fPIC -fopenmp -fno-strict-aliasing -Wall -Wextra -Wno-unused-parameter -Wno-unused-function
       -Wno-unknown-pragmas -I"$here" -I"$kernels" -DIE_EMULATION)
pids=()
i=0
for s in "${srcs[@]}" "$here/emu_runtime.cpp"; do
    o="$obj/$i.o"
    if [[ "$s" == *.cu ]]; then
        "$cxx" "${flags[@]}" -x c++ -include cuda_emu.h -c "$s" -o "$o" &
    else
        "$cxx" "${flags[@]}" -c "$s" -o "$o" &
    fi
    pids+=($!)
    i=$((i + 1))
    # at most as many compilers as cores
    if [ "${#pids[@]}" -ge "$(nproc)" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done
"$cxx" -shared -fopenmp -o "$lib.tmp" "$obj"/*.o
mv "$lib.tmp" "$lib"
echo "native/emu: built $lib from ${#srcs[@]} kernel files"
