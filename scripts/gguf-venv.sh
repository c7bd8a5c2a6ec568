#!/usr/bin/env bash
# Prints the python of a virtual environment that has the `gguf` package (llama.cpp's reader and writer), creating
# it on first use in ~/.cache/quill-gguf-venv. make test passes it to the export tests as QUILL_GGUF_PYTHON.
exec "$(dirname "$0")/python-venv.sh" "${QUILL_GGUF_VENV:-$HOME/.cache/quill-gguf-venv}" "gguf, numpy" gguf numpy
