#!/usr/bin/env bash
# quill-server against llama-server in one precision, alternately, ROUNDS rounds of SECONDS each: 8 clients of
# POST /v1/completions (greedy, 64 new tokens), quill-server --batch-capacity 8 and llama-server -np 8, as
# scripts/bench-gpt2-decode.sh runs them once. Alternating keeps a noisy machine's drift out of the ratios.
# Usage: scripts/bench-servers-ab.sh HF_DIR GGUF LLAMA_BIN_DIR [f32|q8] [ROUNDS] [SECONDS]
#   GGUF: the same model for llama.cpp (bench-gpt2-decode.sh's WORK_DIR/f32.gguf or q8_0.gguf).
# Prints one line per round: quill-server and llama-server tokens/s and their ratio.
set -euo pipefail
dir=${1:?usage: scripts/bench-servers-ab.sh HF_DIR GGUF LLAMA_BIN_DIR [f32|q8] [ROUNDS] [SECONDS]}
gguf=${2:?GGUF file}
bin=${3:?llama.cpp bin folder}
w=${4:-q8} rounds=${5:-3} seconds=${6:-20}
qb=.build/release/quill-bench qs=.build/release/quill-server
for b in "$qb" "$qs"; do [ -x "$b" ] || { echo "build first: swift build -c release" >&2; exit 1; }; done
wait_health() {
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$1/health" > /dev/null 2>&1 && return 0; sleep 0.2; done
  echo "the server on port $1 did not come up" >&2; return 1
}
tps() {  # PORT NAME
  "$qb" server --port "$1" --route openai --impl "$2" --concurrency 8 --seconds "$seconds" --new 64 \
    --prompt "Hello, my name is" | python3 -c "import json,sys; print(json.load(sys.stdin)['tokens_per_s'])"
}
for r in $(seq 1 "$rounds"); do
  "$qs" --checkpoint "$dir" --weights "$w" --port 18191 --batch-capacity 8 --threads 2 --log-level warning > /dev/null 2>&1 &
  pid=$!; wait_health 18191; q=$(tps 18191 "quill-server-$w"); kill $pid; wait $pid 2>/dev/null || true
  "$bin/llama-server" -m "$gguf" -t 2 -np 8 -c 8192 --port 18192 > /dev/null 2>&1 &
  pid=$!; wait_health 18192; l=$(tps 18192 llama-server); kill $pid; wait $pid 2>/dev/null || true
  python3 -c "import json; print(json.dumps({'round': $r, 'weights': '$w', 'quill_server': $q, 'llama_server': $l, 'ratio': round($q / $l, 2)}))"
done
