#!/usr/bin/env bash
# Training throughput of one process with 2 threads against 2 MPI ranks with 1 thread each, back to back, on the
# same data and global batch. Usage, from the project root after `swift build -c release`:
#   scripts/bench-mpi.sh DATA [rounds] [train flags…]   (default flags: config S, 40 steps)
# Prints a table row per run: the median tokens/s of its log lines after the first.
set -euo pipefail
data=$1; rounds=${2:-2}; shift $(( $# >= 2 ? 2 : 1 ))
flags=${*:-"--n_layer 8 --n_head 8 --n_embd 128 --block_size 128 --batch_size 32 --max_steps 40"}
bin="$(pwd)/.build/release/quill-train"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
common="--data $data --eval_interval 100000 --eval_iters 1 --sample_tokens 0 --log_interval 5 --dropout 0"
median() { python3 -c "import json,sys,statistics; r=[json.loads(l)['tokens_per_s'] for l in open(sys.argv[1]) if 'tokens_per_s' in l][1:]; print(f'{statistics.median(r):.0f}')" "$1"; }
echo "| run | tokens/s |"
echo "|---|---|"
for r in $(seq "$rounds"); do
  rm -f "$work"/*; "$bin" train $common $flags --threads 2 --out "$work/one.safetensors" >/dev/null 2>&1
  echo "| 1 process, 2 threads | $(median "$work/one.metrics.jsonl") |"
  rm -f "$work"/*; mpirun -np 2 --bind-to core "$bin" train $common $flags --threads 1 --out "$work/two.safetensors" >/dev/null 2>&1
  echo "| 2 ranks, 1 thread each | $(median "$work/two.metrics.jsonl") |"
done
