#!/usr/bin/env bash
# Quill against llama.cpp on the same GPT-2 124M-shaped model and cores, back to back in one run, in f32 and 8 bits:
#   decode at batch 1 (llama-bench tg64; quill-bench generate --prompt 1 --new 64),
#   prompt processing (llama-bench pp128; quill-bench generate --prompt 128, its prefill_tokens_per_s),
#   8 sequences in-process (quill-bench generate --batch 8), and
#   8 concurrent clients through each server (quill-bench server --route openai --concurrency 8: POST /v1/completions,
#   greedy, 64 new tokens) against quill-server --batch-capacity 8 and llama-server -np 8.
# Usage: scripts/bench-gpt2-decode.sh HF_DIR LLAMA_BIN_DIR [WORK_DIR]
#   HF_DIR: a Hugging Face GPT-2 folder (scripts/random-gpt2.py DIR QUILL_DATA/gpt2 writes a 124M one);
#   LLAMA_BIN_DIR: llama-bench, llama-quantize and llama-server, built from the vendor/llama.cpp folder of PyPI's
#   llama-cpp-python source distribution; WORK_DIR (default /tmp/quill-gpt2-bench): the GGUFs (Quill's own
#   `quill-train export --gguf`, F32, then llama-quantize to F16 and Q8_0) and the servers' logs.
# Prints JSON lines as it goes, then a Markdown table of tokens/s with the ratios.
set -euo pipefail
dir=${1:?usage: scripts/bench-gpt2-decode.sh HF_DIR LLAMA_BIN_DIR [WORK_DIR]}
bin=${2:?llama.cpp bin folder}
work=${3:-/tmp/quill-gpt2-bench}
mkdir -p "$work"
qb=.build/release/quill-bench qt=.build/release/quill-train qs=.build/release/quill-server
for b in "$qb" "$qt" "$qs"; do [ -x "$b" ] || { echo "build first: swift build -c release" >&2; exit 1; }; done
[ -f "$work/f32.gguf" ] || "$qt" export --checkpoint "$dir" --gguf "$work/f32.gguf" >&2
for t in f16 q8_0; do
  [ -f "$work/$t.gguf" ] || "$bin/llama-quantize" "$work/f32.gguf" "$work/$t.gguf" "${t^^}" > "$work/quantize-$t.log" 2>&1
done
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.readline())[sys.argv[1]])" "$1"; }
declare -A R
for w in f32 q8; do
  j=$("$qb" generate --checkpoint "$dir" --weights "$w" --batch 1 --prompt 1 --new 64 --repeats 3); echo "$j"
  R[quill_$w,tg]=$(field tokens_per_s <<<"$j")
  j=$("$qb" generate --checkpoint "$dir" --weights "$w" --batch 1 --prompt 128 --new 1 --repeats 3); echo "$j"
  R[quill_$w,pp]=$(field prefill_tokens_per_s <<<"$j")
  j=$("$qb" generate --checkpoint "$dir" --weights "$w" --batch 8 --prompt 16 --new 64 --repeats 3); echo "$j"
  R[quill_$w,b8]=$(field tokens_per_s <<<"$j")
done
for t in f32 f16 q8_0; do
  j=$("$bin/llama-bench" -m "$work/$t.gguf" -t 2 -p 128 -n 64 -r 3 -o json 2>/dev/null | python3 -c "
import json, sys
rows = json.load(sys.stdin)
pp = [r['avg_ts'] for r in rows if r['n_prompt'] == 128][0]
tg = [r['avg_ts'] for r in rows if r['n_gen'] == 64][0]
print(json.dumps({'impl': 'llama-bench', 'type': '$t', 'pp128': round(pp, 1), 'tg64': round(tg, 1)}))")
  echo "$j"
  R[llama_$t,pp]=$(field pp128 <<<"$j")
  R[llama_$t,tg]=$(field tg64 <<<"$j")
done
wait_health() {
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$1/health" > /dev/null 2>&1 && return 0; sleep 0.2; done
  echo "the server on port $1 did not come up" >&2; return 1
}
serve_bench() {  # NAME PORT: 8 clients for 30 s
  "$qb" server --port "$2" --route openai --impl "$1" --concurrency 8 --seconds 30 --new 64 --prompt "Hello, my name is"
}
for w in f32 q8; do
  "$qs" --checkpoint "$dir" --weights "$w" --port 18191 --batch-capacity 8 --threads 2 --log-level warning > "$work/quill-server-$w.log" 2>&1 &
  pid=$!
  wait_health 18191
  j=$(serve_bench "quill-server-$w" 18191); echo "$j"
  R[quill_$w,srv]=$(field tokens_per_s <<<"$j")
  kill $pid; wait $pid 2>/dev/null || true
done
for t in f32 q8_0; do
  "$bin/llama-server" -m "$work/$t.gguf" -t 2 -np 8 -c 8192 --port 18192 > "$work/llama-server-$t.log" 2>&1 &
  pid=$!
  wait_health 18192
  j=$(serve_bench "llama-server-$t" 18192); echo "$j"
  R[llama_$t,srv]=$(field tokens_per_s <<<"$j")
  kill $pid; wait $pid 2>/dev/null || true
done
ratio() { python3 -c "import sys; a,b=map(float,sys.argv[1:3]); print(f'{a/b:.2f}×')" "$1" "$2"; }
echo
echo "| tokens/s, 2 threads | Quill f32 | llama.cpp f32 | Quill f32 / llama.cpp f32 | Quill q8 | llama.cpp q8_0 | Quill q8 / llama.cpp q8_0 | llama.cpp f16 |"
echo "|---|---|---|---|---|---|---|---|"
echo "| decode, batch 1 (tg64) | ${R[quill_f32,tg]} | ${R[llama_f32,tg]} | $(ratio "${R[quill_f32,tg]}" "${R[llama_f32,tg]}") | ${R[quill_q8,tg]} | ${R[llama_q8_0,tg]} | $(ratio "${R[quill_q8,tg]}" "${R[llama_q8_0,tg]}") | ${R[llama_f16,tg]} |"
echo "| prompt processing (pp128) | ${R[quill_f32,pp]} | ${R[llama_f32,pp]} | $(ratio "${R[quill_f32,pp]}" "${R[llama_f32,pp]}") | ${R[quill_q8,pp]} | ${R[llama_q8_0,pp]} | $(ratio "${R[quill_q8,pp]}" "${R[llama_q8_0,pp]}") | ${R[llama_f16,pp]} |"
echo "| 8 clients, each server with 8 slots | ${R[quill_f32,srv]} | ${R[llama_f32,srv]} | $(ratio "${R[quill_f32,srv]}" "${R[llama_f32,srv]}") | ${R[quill_q8,srv]} | ${R[llama_q8_0,srv]} | $(ratio "${R[quill_q8,srv]}" "${R[llama_q8_0,srv]}") | |"
echo "| 8 sequences in-process (Quill) | ${R[quill_f32,b8]} | | | ${R[quill_q8,b8]} | | | |"
