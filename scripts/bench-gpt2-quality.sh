#!/usr/bin/env bash
# What 8 bits cost in quality: perplexity in f32 and in q8 (quill-bench perplexity), beside llama.cpp's f32 and
# q8_0 (llama-perplexity) on the same model converted to GGUF, with the same text, chunk length and chunk count.
# Both score only the second half of each chunk (llama-perplexity's method).
# Usage: scripts/bench-gpt2-quality.sh HF_DIR TEXT LLAMA_BIN_DIR [CHUNKS] [CTX] [WORK_DIR]
#   GGUFs are made as scripts/bench-gpt2-decode.sh makes them (WORK_DIR, default /tmp/quill-gpt2-bench).
#   Without LLAMA_BIN_DIR ("-"), only Quill runs (e.g. on the bundled character-level model, which GGUF cannot hold).
set -euo pipefail
dir=${1:?usage: scripts/bench-gpt2-quality.sh MODEL TEXT LLAMA_BIN_DIR|- [CHUNKS] [CTX] [WORK_DIR]}
text=${2:?text file}
bin=${3:?llama.cpp bin folder, or -}
chunks=${4:-}
ctx=${5:-}
work=${6:-/tmp/quill-gpt2-bench}
qb=.build/release/quill-bench qt=.build/release/quill-train
args=(--checkpoint "$dir" --text "$text")
[ -n "$chunks" ] && args+=(--chunks "$chunks")
[ -n "$ctx" ] && args+=(--ctx "$ctx")
for w in f32 q8; do "$qb" perplexity "${args[@]}" --weights "$w"; done
# q8 again with float activations (VNNI builds quantize them to 8 bits in every product by default)
"$qb" perplexity "${args[@]}" --weights q8 --float-activations
[ "$bin" = "-" ] && exit 0
mkdir -p "$work"
[ -f "$work/f32.gguf" ] || "$qt" export --checkpoint "$dir" --gguf "$work/f32.gguf" >&2
[ -f "$work/q8_0.gguf" ] || "$bin/llama-quantize" "$work/f32.gguf" "$work/q8_0.gguf" Q8_0 > "$work/quantize-q8_0.log" 2>&1
for t in f32 q8_0; do
  largs=(-m "$work/$t.gguf" -f "$text" -t 2)
  [ -n "$ctx" ] && largs+=(-c "$ctx" -b "$ctx")
  [ -n "$chunks" ] && largs+=(--chunks "$chunks")
  "$bin/llama-perplexity" "${largs[@]}" > "$work/perplexity-$t.log" 2>&1
  python3 - "$t" "$work/perplexity-$t.log" <<'PY'
import json, re, sys
log = open(sys.argv[2]).read()
ppl = re.search(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", log)
tok = re.search(r"tokenizing the input \.\.\.\n.*?tokenization took.*?\n", log, re.S)
n = re.search(r"perplexity: calculating perplexity over (\d+) chunks, n_ctx=(\d+)", log)
print(json.dumps({"impl": "llama-perplexity", "type": sys.argv[1], "perplexity": float(ppl.group(1)),
                  "plus_minus": float(ppl.group(2)), "chunks": int(n.group(1)), "ctx": int(n.group(2))}))
PY
done
