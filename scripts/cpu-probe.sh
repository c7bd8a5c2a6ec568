#!/usr/bin/env bash
# Is this machine steady enough to time on? Builds scripts/cpu-probe.c (cc, AVX2 and FMA) into .build/cpu-probe and
# runs it on each CPU alone, then on every CPU at once (taskset). Run it before and after a benchmark; see
# BENCHMARKS.md ("Why N's ratio swings on the Zen 3 VM"). x86-64 with AVX2 only.
# `scripts/cpu-probe.sh watch [windows]` instead runs both loops on every CPU at once in short windows (default 100,
# about 0.1 s each), one figure per window, to see slow spells come and go. `scripts/cpu-probe.sh quick` prints one
# figure, the lowest CPU's median fma GFLOP/s with all CPUs at once (about 0.1 s), to check the host between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build
cc -O2 -mavx2 -mfma scripts/cpu-probe.c -o .build/cpu-probe
cpus=$(nproc)
if [ "${1:-}" = quick ]; then
  # One line: the lowest, over the CPUs, of each one's median fma GFLOP/s with every CPU running it at once (~0.1 s).
  pids=()
  for c in $(seq 0 $((cpus - 1))); do taskset -c "$c" .build/cpu-probe "cpu$c" quick > ".build/cpu-probe.$c" & pids+=($!); done
  wait "${pids[@]}"
  for c in $(seq 0 $((cpus - 1))); do cat ".build/cpu-probe.$c"; rm -f ".build/cpu-probe.$c"; done | sort -n | head -1
  exit 0
fi
if [ "${1:-}" = watch ]; then
  pids=()
  for c in $(seq 0 $((cpus - 1))); do taskset -c "$c" .build/cpu-probe "cpu$c" watch "${2:-100}" > ".build/cpu-probe.$c" & pids+=($!); done
  wait "${pids[@]}"
  for c in $(seq 0 $((cpus - 1))); do cat ".build/cpu-probe.$c"; rm -f ".build/cpu-probe.$c"; done
  exit 0
fi
for c in $(seq 0 $((cpus - 1))); do taskset -c "$c" .build/cpu-probe "cpu$c alone"; done
pids=()
for c in $(seq 0 $((cpus - 1))); do taskset -c "$c" .build/cpu-probe "cpu$c together" > ".build/cpu-probe.$c" & pids+=($!); done
wait "${pids[@]}"
for c in $(seq 0 $((cpus - 1))); do cat ".build/cpu-probe.$c"; rm -f ".build/cpu-probe.$c"; done
