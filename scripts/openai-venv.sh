#!/usr/bin/env bash
# Prints the python of a virtual environment that has OpenAI's official client (`openai`), creating it on first
# use in ~/.cache/quill-openai-venv. make test passes it to the service tests as QUILL_OPENAI_PYTHON.
set -euo pipefail
VENV="${QUILL_OPENAI_VENV:-$HOME/.cache/quill-openai-venv}"
if ! "$VENV/bin/python" -c 'import openai' >/dev/null 2>&1; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check 'openai>=1.0' >&2
fi
echo "$VENV/bin/python"
