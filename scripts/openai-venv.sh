#!/usr/bin/env bash
# Prints the python of a virtual environment that has OpenAI's official client (`openai`), creating it on first
# use in ~/.cache/quill-openai-venv. make test passes it to the service tests as QUILL_OPENAI_PYTHON.
exec "$(dirname "$0")/python-venv.sh" "${QUILL_OPENAI_VENV:-$HOME/.cache/quill-openai-venv}" openai 'openai>=1.0'
