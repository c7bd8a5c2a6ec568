#!/usr/bin/env bash
# Checks Quill's Hugging Face export with transformers itself and records the result for the tests:
# exports Tests/Fixtures/tiny-gpt2 with `quill-train export --hf`, has scripts/gpt2-golden.py check-export load the
# folder with GPT2LMHeadModel.from_pretrained, and writes Tests/Fixtures/tiny-gpt2-export-check.json: transformers'
# logits, greedy tokens and tokenizer ids on Quill's export, plus the SHA-256 of every exported file (the test
# re-exports and requires the same bytes, so the check holds for what the code writes now).
# Usage: scripts/check-export.sh PYTHON   (a python with torch and transformers, e.g. $(../shared/bench/setup.sh))
set -euo pipefail
py=${1:?usage: scripts/check-export.sh PYTHON}
bin=${QUILL_TRAIN:-.build/release/quill-train}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$bin" export --checkpoint Tests/Fixtures/tiny-gpt2 --hf "$out/export"
"$py" scripts/gpt2-golden.py check-export "$out/export" "$out/check.json" --golden Tests/Fixtures/tiny-gpt2-golden.json
"$py" - "$out/export" "$out/check.json" Tests/Fixtures/tiny-gpt2-export-check.json <<'PY'
import hashlib, json, os, sys
folder, check, dest = sys.argv[1:4]
result = json.load(open(check))
result["files"] = {name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
                   for name in sorted(os.listdir(folder))}
json.dump(result, open(dest, "w"), indent=1)
print("wrote", dest, "for", ", ".join(sorted(result["files"])))
PY
