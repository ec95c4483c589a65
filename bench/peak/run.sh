#!/usr/bin/env bash
# Measures the machine's fp32/bf16 compute peak and memory bandwidth; writes bench/results/peak.json.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../results/peak.json}
gcc -O2 -fopenmp -march=native -o /tmp/imagenete-peak "$here/peak.c"
/tmp/imagenete-peak | tee "$out"
