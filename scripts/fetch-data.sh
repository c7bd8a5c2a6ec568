#!/usr/bin/env bash
# make data: downloads the tests' data into data/ (the tests find it there, or wherever QUILL_DATA points):
# Tiny Shakespeare and GPT-2's vocabulary. Each file is downloaded to a temporary name, checked against its
# SHA-256 and only then renamed into place; a file that fails is removed and the script stops with one line.
# Files already present with the right hash are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=data

# name, URL, SHA-256. vocab.json is Hugging Face's (= OpenAI's encoder.json, 1,042,301 bytes, non-ASCII escaped
# as \uXXXX); ../shared/data/gpt2/vocab.json holds the same mapping written unescaped, so its bytes differ.
FILES=(
  "tinyshakespeare.txt https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt 86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
  "gpt2/vocab.json https://huggingface.co/openai-community/gpt2/resolve/main/vocab.json 196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
  "gpt2/merges.txt https://huggingface.co/openai-community/gpt2/resolve/main/merges.txt 1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
)

sha256() { if command -v sha256sum >/dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d' ' -f1; }
fail() { echo "fetch-data: $*" >&2; rmdir "$DEST/gpt2" "$DEST" 2>/dev/null || true; exit 1; }

tmp=""
trap '[ -z "$tmp" ] || rm -f "$tmp"' EXIT
for entry in "${FILES[@]}"; do
  read -r name url want <<<"$entry"
  file="$DEST/$name"
  if [ -f "$file" ] && [ "$(sha256 "$file")" = "$want" ]; then echo "$file: ok"; continue; fi
  mkdir -p "$(dirname "$file")"
  tmp="$file.download-$$"
  if ! err=$(curl -fsSL --connect-timeout 20 --retry 2 -o "$tmp" "$url" 2>&1); then
    rm -f "$tmp" "$file"
    fail "cannot download $url: ${err##*$'\n'}"
  fi
  got=$(sha256 "$tmp")
  if [ "$got" != "$want" ]; then
    rm -f "$tmp" "$file"
    fail "$url: SHA-256 $got, expected $want; removed"
  fi
  mv -f "$tmp" "$file"
  tmp=""
  echo "$file: downloaded, SHA-256 ok"
done
