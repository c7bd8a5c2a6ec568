#!/usr/bin/env bash
# schemathesis against docs/openapi.yaml and a running quill-server (the bundled model): every operation, a bounded
# number of generated requests each (EXAMPLES, default 20, deterministic), valid and invalid. Fails on any 5xx, or
# any response (SSE events included) that does not match the document's schema, status codes and content types.
# Usage: scripts/schemathesis.sh QUILL_SERVER [EXAMPLES]
set -euo pipefail
bin=${1:?usage: scripts/schemathesis.sh QUILL_SERVER [EXAMPLES]}
examples=${2:-20}
python=$("$(dirname "$0")/schemathesis-venv.sh")
port=$((20000 + RANDOM % 20000))
log=$(mktemp)
"$bin" --port "$port" --reload-interval 0 --log-level error >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 300); do
  curl -sf "localhost:$port/health" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
"$(dirname "$python")/st" run docs/openapi.yaml --url "http://127.0.0.1:$port" --max-examples "$examples" \
  --generation-deterministic --workers 1 --warnings off \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance
