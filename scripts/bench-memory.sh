#!/usr/bin/env bash
# Resident memory of quill-server under mixed valid and malformed traffic (issue 15, item 6). Starts the server on
# CHECKPOINT, sends REQUESTS requests from 8 client threads (a quarter each: short /complete generations, /tokenize,
# bodies that are not JSON or break a limit, and requests that break HTTP framing), and reads VmRSS from /proc every
# tenth of the way. Prints one JSON object: RSS after warm-up (the first 20%) and at the end, and the growth.
# Usage: scripts/bench-memory.sh [CHECKPOINT] [REQUESTS=100000]   (QUILL_SERVER_ARGS: more quill-server flags)
set -euo pipefail
checkpoint=${1:-checkpoints/shakespeare-char.safetensors}
requests=${2:-100000}
bin=${QUILL_SERVER:-.build/release/quill-server}
port=$((20000 + RANDOM % 20000))
log=$(mktemp)
"$bin" --checkpoint "$checkpoint" --port "$port" --reload-interval 0 --log-level error ${QUILL_SERVER_ARGS:-} >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 300); do
  curl -sf "localhost:$port/health" >/dev/null 2>&1 && break
  sleep 0.1
done
python3 - "$port" "$requests" "$server" <<'PY'
import json, random, socket, sys, threading, time
port, total, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1]) * 1024
def post(path, body, ctype="application/json"):
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode() + body
def request(i, rng):
    kind = i % 4
    if kind == 0:
        prompt = "".join(rng.choice("ROMEO JULIET:abcdefghij ") for _ in range(rng.randint(1, 60)))
        return post("/complete", json.dumps({"prompt": prompt, "max_tokens": rng.randint(1, 8), "seed": i}).encode())
    if kind == 1:
        return post("/tokenize", json.dumps({"text": "To be, or not to be" * rng.randint(1, 20)}).encode())
    if kind == 2:
        return rng.choice([post("/complete", b"{not json"), post("/complete", b'{"prompt": 5}'),
                           post("/complete", b'{"prompt":"a","max_tokens":999999999}'),
                           post("/v1/chat/completions", b'{"messages":[{"role":"wizard"}]}'),
                           post("/complete", b"x" * 2_000_000)])
    return rng.choice([b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                       b"POST /complete HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                       b"\x16\x03\x01\x00\xa5\x01\x00", b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n"])
done = [0]
lock = threading.Lock()
samples = []
def client(seed):
    rng = random.Random(seed)
    while True:
        with lock:
            i = done[0]
            if i >= total: return
            done[0] += 1
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(request(i, rng))
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536): pass
            s.close()
        except OSError:
            pass
threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
start = time.time()
for t in threads: t.start()
step = total // 10
mark = step
while any(t.is_alive() for t in threads):
    time.sleep(0.05)
    if done[0] >= mark:
        samples.append((done[0], rss()))
        mark += step
for t in threads: t.join()
samples.append((total, rss()))
warm = next(r for n, r in samples if n >= total // 5)
end = samples[-1][1]
print(json.dumps({"bench": "memory", "requests": total, "seconds": round(time.time() - start, 1),
                  "rss_mb": [[n, round(r / 2**20, 1)] for n, r in samples],
                  "after_warmup_mb": round(warm / 2**20, 1), "end_mb": round(end / 2**20, 1),
                  "growth_after_warmup": round(end / warm - 1, 3)}))
PY
