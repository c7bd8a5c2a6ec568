#!/usr/bin/env bash
# Is this machine steady enough to time on? Builds scripts/cpu-probe.c (cc, AVX2 and FMA) into .build/cpu-probe and
# runs it on each CPU alone, then on every CPU at once (taskset). Run it before and after a benchmark; see
# BENCHMARKS.md ("Why N's ratio swings on the Zen 3 VM"). x86-64 with AVX2 only.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build
cc -O2 -mavx2 -mfma scripts/cpu-probe.c -o .build/cpu-probe
cpus=$(nproc)
for c in $(seq 0 $((cpus - 1))); do taskset -c "$c" .build/cpu-probe "cpu$c alone"; done
pids=()
for c in $(seq 0 $((cpus - 1))); do taskset -c "$c" .build/cpu-probe "cpu$c together" > ".build/cpu-probe.$c" & pids+=($!); done
wait "${pids[@]}"
for c in $(seq 0 $((cpus - 1))); do cat ".build/cpu-probe.$c"; rm -f ".build/cpu-probe.$c"; done
