#!/usr/bin/env bash
# GPU check of the CUDA backend: every GPU test, then the GPU benchmarks, one table. Under 8 minutes on an H200.
#
# The GPU node needs: an NVIDIA driver (libcuda.so.1, sm_80 or newer), Java 25, and a bundle made on a build
# machine (the node need not reach the internet, have Maven, or have nvcc):
#
#   build machine:  bench/gpu-check.sh --bundle [DIR]     # default DIR: target/gpu-check (~25 MB)
#                   builds with Maven (offline if ~/.m2 is filled; nvcc compiles the kernels into the fatbin) and
#                   collects classes (with the fatbin and the emulation library) and the runtime jars (JCuda with its
#                   natives, Jackson, ...; not ONNX Runtime) into DIR. Copy DIR, or the whole checkout with it, to
#                   the GPU node; the golden checks read the checkout's testdata/ folder.
#   GPU node:       bench/gpu-check.sh [--quick] [--bundle-dir DIR] [--junit] [--jmh]
#                   runs org.imagenete.gpucheck.GpuCheck from the bundle: self-test kernels, every op in fp32 (the
#                   sampler's ops included: Philox noise bit-identical to the CPU's) and the tensor-core convolutions in
#                   bf16/f16 against the reference, tensor cores against their emulated twin, golden ADM-tiny and
#                   ResNet-50, CUDA graph replay, the golden guided blended step on the device, and blended sampling
#                   (step graph = eager bit for bit, batch-independent, <= 1 KiB per image and step); then ADM-256
#                   forward (batch 1 and 8, fp32 and bf16, eager and as a graph), one guided step, 10 blended
#                   sampling steps eager and as a step graph (ms, launches and host time per step), ResNet-50 at
#                   batch 256, and one convolution against cuBLAS where the node has libcublas ("kernel 0").
#                   Writes the table to bench/results/gpu-check.md. --quick: small shapes, no benchmarks (~1 minute).
#                   --junit: also `mvn -o test -Dtest=CudaGpuTest` (needs Maven and a filled ~/.m2 on the node).
#                   --jmh: also the JMH GPU benchmarks from bench/target/benchmarks.jar (built by bench/run.sh).
# Without a bundle but with Maven on the node, it builds one first (the fatbin then comes from core/target/classes
# of an earlier build, or from nvcc if the node has it).
# Exit status: 0 all checks passed, 1 a check failed, 2 no usable GPU or setup problem, 124 timeout.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$root"
bundle=target/gpu-check
mode=run
quick=()
junit=0
jmh=0
while [ $# -gt 0 ]; do
    case "$1" in
        --bundle) mode=bundle; if [ $# -gt 1 ] && [[ "$2" != --* ]]; then bundle=$2; shift; fi ;;
        --bundle-dir) bundle=$2; shift ;;
        --quick) quick=(--quick) ;;
        --junit) junit=1 ;;
        --jmh) jmh=1 ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "gpu-check: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

say() { echo "[gpu-check.sh] $*"; }
die() { echo "[gpu-check.sh] ERROR: $*" >&2; exit 2; }

find_java() {
    for j in "${JAVA_HOME:-}/bin/java" /usr/lib/jvm/temurin-25-jdk-amd64/bin/java "$(command -v java 2>/dev/null)"; do
        [ -x "$j" ] || continue
        v=$("$j" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
        if [ "${v%%.*}" -ge 25 ] 2>/dev/null; then echo "$j"; return; fi
    done
}
java=$(find_java)
[ -n "$java" ] || die "Java 25 not found (set JAVA_HOME); the node needs a Java 25 runtime"
export JAVA_HOME=$(dirname "$(dirname "$java")")
export PATH="$JAVA_HOME/bin:$PATH"

make_bundle() {
    command -v mvn >/dev/null || die "no Maven to build with; build the bundle elsewhere (bench/gpu-check.sh --bundle) and copy it to $bundle"
    say "building (mvn -o package -DskipTests; drop -o if ~/.m2 lacks a dependency)"
    mvn -o -q -B -DskipTests package -pl core -am || die "Maven build failed"
    [ -f core/target/classes/cuda/imagenete.fatbin ] \
        || die "no CUDA kernels: core/target/classes/cuda/imagenete.fatbin missing (nvcc was not found; see core/target/cuda-build-report.txt)"
    [ -f core/target/classes/native/libimagenete-cuda-emu.so ] || say "warning: no emulation library: the tensor-core twin check will fail"
    rm -rf "$bundle"
    mkdir -p "$bundle/lib"
    cp -r core/target/classes "$bundle/classes"
    mvn -o -q -B -pl core dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$bundle/lib" -DexcludeArtifactIds=onnxruntime \
        || die "copying the runtime jars failed"
    cp core/target/cuda-build-report.txt "$bundle/" 2>/dev/null || true
    say "bundle $bundle: $(du -sh "$bundle" | cut -f1) ($(ls "$bundle/lib" | wc -l) jars); kernel build report: $bundle/cuda-build-report.txt"
}

if [ "$mode" = bundle ]; then
    make_bundle
    exit 0
fi

if [ ! -d "$bundle/classes" ]; then
    say "no bundle at $bundle: trying to build one here"
    make_bundle
fi
[ -f "$bundle/classes/cuda/imagenete.fatbin" ] || die "$bundle has no CUDA kernels (classes/cuda/imagenete.fatbin): rebuild it where nvcc is installed"

if command -v nvidia-smi >/dev/null; then
    say "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
fi
ldconfig -p 2>/dev/null | grep -q 'libcuda.so.1' || say "warning: libcuda.so.1 not in the linker cache (no NVIDIA driver?)"

mkdir -p bench/results
testdata=$root/testdata
[ -d "$testdata/golden" ] || say "warning: no golden data at $testdata/golden: golden checks are skipped"
cp="$bundle/classes:$bundle/lib/*"
flags=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g -XX:+UseParallelGC)
start=$(date +%s)
say "running GpuCheck ${quick[*]:-} (time limit 450 s)"
timeout 450 "$java" "${flags[@]}" -cp "$cp" org.imagenete.gpucheck.GpuCheck "${quick[@]}" --testdata "$testdata" \
    --out bench/results/gpu-check.md 2>&1 | tee bench/results/gpu-check.log
status=${PIPESTATUS[0]}
say "GpuCheck exit status $status after $(( $(date +%s) - start )) s; table in bench/results/gpu-check.md, log in bench/results/gpu-check.log"

if [ "$junit" = 1 ]; then
    if command -v mvn >/dev/null; then
        say "JUnit GPU test (mvn -o test -Dtest=CudaGpuTest)"
        mvn -o -q -B test -pl core -am -Dtest=CudaGpuTest -Dsurefire.failIfNoSpecifiedTests=false || status=1
    else
        say "--junit: no Maven on this node, skipped (GpuCheck above ran the same checks)"
    fi
fi
if [ "$jmh" = 1 ]; then
    if [ -f bench/target/benchmarks.jar ]; then
        say "JMH GPU benchmarks (1 fork, short)"
        timeout 300 "$java" "${flags[@]}" -jar bench/target/benchmarks.jar 'org.imagenete.bench.gpu.*' -f 1 -wi 1 -i 3 \
            -rf json -rff bench/results/gpu-jmh.json || status=1
    else
        say "--jmh: bench/target/benchmarks.jar missing (build it with bench/run.sh on a machine with Maven), skipped"
    fi
fi
exit "$status"
