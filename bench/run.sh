#!/usr/bin/env bash
# Measures the machine peak, builds and runs the JMH benchmarks, and writes the results table into the
# README (between the bench markers). Args are passed to JMH (e.g. a benchmark regex, -p shape=...).
# Full run: ~15 minutes on 2 cores.
set -euo pipefail
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
export PATH="$JAVA_HOME/bin:$PATH"
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
res=$here/results
mkdir -p "$res"
cd "$root"
mvn -B -q -DskipTests package -pl bench -am
[ -f "$res/peak.json" ] || bench/peak/run.sh "$res/peak.json"
flags=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED)
gpu_filter=(); command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 || gpu_filter=(-e "org.imagenete.bench.gpu")
java "${flags[@]}" -jar bench/target/benchmarks.jar -rf json -rff "$res/jmh.json" "${gpu_filter[@]}" "$@"
java "${flags[@]}" -cp bench/target/benchmarks.jar org.imagenete.bench.BenchReport "$res/peak.json" "$res/jmh.json" > "$res/table.md"
cat "$res/table.md"
# Replace the README section between the markers with the new table.
awk -v table="$res/table.md" '
  /<!-- bench:begin -->/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
  /<!-- bench:end -->/ { skip = 0 }
  !skip { print }' README.md > README.md.tmp && mv README.md.tmp README.md
