#!/usr/bin/env bash
# Quill against llama.cpp on the same GPT-2 124M model and cores, back to back in one run: decode at batch 1
# (llama-bench tg64), prompt processing (pp128), and 8 sequences decoded together (Quill in-process).
# Usage: scripts/bench-gpt2-decode.sh HF_DIR GGUF LLAMA_BIN_DIR
#   HF_DIR: the Hugging Face folder (e.g. from scripts/gpt2-golden.py random-124m); GGUF: the same model in GGUF
#   (quill-train export --gguf, or llama.cpp's convert_hf_to_gguf.py on Quill's --hf export); LLAMA_BIN_DIR: the
#   folder with llama-bench (built from the vendor/llama.cpp of PyPI's llama-cpp-python source distribution).
set -euo pipefail
dir=${1:?usage: scripts/bench-gpt2-decode.sh HF_DIR GGUF LLAMA_BIN_DIR}
gguf=${2:?GGUF file}
bin=${3:?llama.cpp bin folder}
qb=.build/release/quill-bench
[ -x "$qb" ] || { echo "build first: swift build -c release" >&2; exit 1; }
field() { python3 -c "import json,sys; d=json.loads(sys.stdin.read()); print(d[sys.argv[1]])" "$1"; }
q1=$("$qb" generate --checkpoint "$dir" --batch 1 --prompt 1 --new 64 --repeats 3 | field tokens_per_s)
qp=$("$qb" generate --checkpoint "$dir" --batch 1 --prompt 128 --new 1 --repeats 3 | field prefill_tokens_per_s)
q8=$("$qb" generate --checkpoint "$dir" --batch 8 --prompt 16 --new 64 --repeats 3 | field tokens_per_s)
read -r lp lt <<<"$("$bin/llama-bench" -m "$gguf" -t 2 -p 128 -n 64 -r 3 -o json 2>/dev/null | python3 -c "
import json, sys
rows = json.load(sys.stdin)
pp = [r['avg_ts'] for r in rows if r['n_prompt'] == 128][0]
tg = [r['avg_ts'] for r in rows if r['n_gen'] == 64][0]
print(round(pp, 1), round(tg, 1))")"
echo "| | Quill f32 | llama.cpp f32 | ratio |"
echo "|---|---|---|---|"
python3 -c "import sys; a,b=map(float,sys.argv[1:3]); print(f'| decode, batch 1 (tg64) | {a:.1f} | {b:.1f} | {a/b:.2f}× |')" "$q1" "$lt"
python3 -c "import sys; a,b=map(float,sys.argv[1:3]); print(f'| prompt processing (pp128) | {a:.1f} | {b:.1f} | {a/b:.2f}× |')" "$qp" "$lp"
echo "| 8 sequences at once (Quill in-process) | $q8 | | |"
