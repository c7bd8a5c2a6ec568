#!/usr/bin/env bash
# Prints the python of a virtual environment with schemathesis, creating it on first use in
# ~/.cache/quill-schemathesis-venv. make test uses it (scripts/schemathesis.sh).
exec "$(dirname "$0")/python-venv.sh" "${QUILL_SCHEMATHESIS_VENV:-$HOME/.cache/quill-schemathesis-venv}" schemathesis 'schemathesis>=4,<5'
