#!/usr/bin/env bash
# Time to first token with and without the prompt cache, for prompts that share a long prefix (a system prompt, a
# document asked several questions). Starts quill-server on CHECKPOINT, makes a prefix of PREFIX_TOKENS tokens of
# Tiny Shakespeare, and sends prefix + a different question each time: with cache_prompt false (every token
# computed), and with the cache (the prefix copied from the previous request's sequence). Prints one JSON object.
# Usage: scripts/bench-prompt-cache.sh CHECKPOINT [PREFIX_TOKENS=900] [REPEATS=5]   (QUILL_DATA: the data folder)
set -euo pipefail
checkpoint=${1:?usage: scripts/bench-prompt-cache.sh CHECKPOINT [PREFIX_TOKENS] [REPEATS]}
tokens=${2:-900}
repeats=${3:-5}
data=${QUILL_DATA:-../shared/data}
bin=${QUILL_SERVER:-.build/release/quill-server}
port=$((20000 + RANDOM % 20000))
log=$(mktemp)
"$bin" --checkpoint "$checkpoint" --port "$port" --reload-interval 0 --log-level warning >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 600); do
  curl -sf "localhost:$port/health" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.2
done
python3 - "$port" "$tokens" "$repeats" "$data/tinyshakespeare.txt" "$checkpoint" <<'PY'
import json, statistics, sys, time, urllib.error, urllib.request
port, want, repeats, corpus, checkpoint = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
def post(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            out = json.load(r)
    except urllib.error.HTTPError as e:
        sys.exit(f"bench-prompt-cache: {path} answered {e.code}: {e.read().decode()[:300]}")
    return out, (time.perf_counter() - t) * 1000
def count(text):
    return post("/tokenize", {"text": text, "count_only": True})[0]["count"]
text = open(corpus, encoding="utf-8").read()
lo, hi = 0, 20 * want
while lo < hi:  # the longest start of the corpus that is at most `want` tokens
    mid = (lo + hi + 1) // 2
    if count(text[:mid]) <= want: lo = mid
    else: hi = mid - 1
prefix = text[:lo]
def ttft(question, cache):
    r, wall = post("/complete", {"prompt": prefix + question, "max_tokens": 1, "strategy": "greedy", "cache_prompt": cache})
    t = r["timings"]
    return {"ttft_ms": t["queued_ms"] + t["prompt_ms"], "wall_ms": wall, "cached_tokens": t["cached_tokens"],
            "prompt_tokens": r["usage"]["prompt_tokens"]}
post("/complete", {"prompt": "warm up", "max_tokens": 1, "cache_prompt": False})
cold, warm = [], []
ttft("\nFirst question: who speaks?", True)  # leaves the prefix in the cache
for i in range(repeats):
    tag = "abcdefghijklmnopqrstuvwxyz"[i % 26] * (1 + i // 26)  # letters: a character model may lack digits
    cold.append(ttft(f"\nQuestion {tag}: who is there?", False))
    warm.append(ttft(f"\nQuestion {tag}: what says he?", True))
print(json.dumps({"cold_ttft_ms": [round(x["ttft_ms"], 1) for x in cold],
                  "cached_ttft_ms": [round(x["ttft_ms"], 1) for x in warm]}), file=sys.stderr)
med = lambda xs, k: round(statistics.median(x[k] for x in xs), 1)
print(json.dumps({
    "bench": "prompt_cache", "checkpoint": checkpoint, "prefix_tokens": count(prefix), "repeats": repeats,
    "prompt_tokens": cold[0]["prompt_tokens"],
    "without_cache": {"ttft_ms": med(cold, "ttft_ms"), "wall_ms": med(cold, "wall_ms"), "cached_tokens": med(cold, "cached_tokens")},
    "with_cache": {"ttft_ms": med(warm, "ttft_ms"), "wall_ms": med(warm, "wall_ms"), "cached_tokens": med(warm, "cached_tokens")},
    "speedup": round(med(cold, "ttft_ms") / max(med(warm, "ttft_ms"), 0.001), 1),
}))
PY
