#!/usr/bin/env bash
# quill-server under load, and in-process batched decode for comparison, in one go on this machine:
# starts the release quill-server on a free port with the bundled model, runs `quill-bench server` for
# /health (keep-alive, 32 connections too), /tokenize and /complete (128 new tokens), then
# `quill-bench generate --batch 16` with the same model's shape. One JSON line each.
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT="${QUILL_CHECKPOINT:-checkpoints/shakespeare-char.safetensors}"
PORT="${PORT:-18080}"
SECONDS_PER_LEVEL="${SECONDS_PER_LEVEL:-10}"
.build/release/quill-server --checkpoint "$CKPT" --port "$PORT" --log-level warning --queue-capacity 256 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
B=.build/release/quill-bench
$B server --port "$PORT" --route health --concurrency 1,4,16,32,64 --seconds "$SECONDS_PER_LEVEL"
$B server --port "$PORT" --route tokenize --concurrency 1,4,16,64 --seconds "$SECONDS_PER_LEVEL"
$B server --port "$PORT" --route complete --concurrency 1,4,16,64 --seconds "$((SECONDS_PER_LEVEL * 2))" --new 128
kill $PID; wait $PID || true; trap - EXIT
# In-process batched decode with the served model's shape, for the 80% comparison.
read -r L H E T V < <(python3 - "$CKPT" <<'PY'
import json, struct, sys
f = open(sys.argv[1], 'rb'); n = struct.unpack('<Q', f.read(8))[0]; meta = json.loads(f.read(n))['__metadata__']
c = json.loads(meta['quill.config']); c = c.get('gpt', c)
print(c['n_layer'], c['n_head'], c['n_embd'], c['block_size'], c['vocab_size'])
PY
)
# ROMEO: is 6 tokens. 128 new, as over HTTP, slide the window once per sequence (a re-prefill of its last 64 tokens;
# in-process all 16 shift in the same step); 122 new fill the window exactly, with no shift.
G=(generate --n-layer "$L" --n-head "$H" --n-embd "$E" --block-size "$T" --vocab "$V" --batch 16 --prompt 6 --repeats 5)
$B "${G[@]}" --new 128
$B "${G[@]}" --new $((T - 6))
