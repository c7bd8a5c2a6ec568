#!/usr/bin/env bash
# Serves a Hugging Face GPT-2 folder (e.g. the random 124M model of `scripts/gpt2-golden.py random-124m DIR`) with
# quill-server and reports what BENCHMARKS.md records: load time, resident memory once idle (VmRSS, with the
# weights' own bytes beside it), and one answer each from /complete, /tokenize and /v1/completions.
# Usage: scripts/serve-gpt2-check.sh DIR [PORT]   (needs a release build: swift build -c release)
set -euo pipefail
dir=${1:?usage: scripts/serve-gpt2-check.sh DIR [PORT]}
port=${2:-8093}
bin=.build/release/quill-server
[ -x "$bin" ] || { echo "build first: swift build -c release" >&2; exit 1; }
start=$(date +%s.%N)
"$bin" --checkpoint "$dir" --port "$port" > /tmp/quill-gpt2-check.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  curl -sf "localhost:$port/health" > /dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { cat /tmp/quill-gpt2-check.log; exit 1; }
  sleep 0.2
done
ready=$(date +%s.%N)
sleep 1
rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
weights=$(du -b "$dir"/model*.safetensors | awk '{s += $1} END {print s}')
info=$(curl -s "localhost:$port/info")
echo "loaded in $(echo "$ready - $start" | bc) s"
echo "idle VmRSS: $((rss_kb * 1024)) bytes; safetensors on disk: $weights bytes; ratio $(echo "scale=3; $rss_kb * 1024 / $weights" | bc)"
echo "/info memory: $(echo "$info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["model"]["memory"])')"
echo "--- /complete"
curl -s "localhost:$port/complete" -d '{"prompt":"Hello, my name is","max_tokens":8,"strategy":"greedy"}'; echo
echo "--- /tokenize"
curl -s "localhost:$port/tokenize" -d '{"text":"Hello, my name is"}'; echo
echo "--- /v1/completions"
name=$(echo "$info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["model"]["name"])')
curl -s "localhost:$port/v1/completions" -d '{"model":"'"$name"'","prompt":"Hello, my name is","max_tokens":8,"temperature":0}'; echo
rss_after=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
echo "VmRSS after three requests (one KV cache allocated and freed): $((rss_after * 1024)) bytes"
if [ -f "$dir/golden.json" ]; then
  echo "transformers' greedy first token for the golden prompt: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["argmax"])' "$dir/golden.json") (compare the first id of /complete above)"
fi
