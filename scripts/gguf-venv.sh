#!/usr/bin/env bash
# Prints the python of a virtual environment that has the `gguf` package (llama.cpp's reader and writer), creating
# it on first use in ~/.cache/quill-gguf-venv. make test passes it to the export tests as QUILL_GGUF_PYTHON.
set -euo pipefail
VENV="${QUILL_GGUF_VENV:-$HOME/.cache/quill-gguf-venv}"
if ! "$VENV/bin/python" -c 'import gguf, numpy' >/dev/null 2>&1; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check gguf numpy >&2
fi
echo "$VENV/bin/python"
