#!/usr/bin/env bash
# Prints the python of a virtual environment at VENV that can import MODULES, creating it and installing PACKAGES
# on first use. The *-venv.sh scripts (openai, gguf, selenium) are this with their own folder and packages.
# Usage: scripts/python-venv.sh VENV "MODULE[, MODULE…]" PACKAGE…
set -euo pipefail
venv=${1:?usage: scripts/python-venv.sh VENV MODULES PACKAGE...}
modules=${2:?modules to import}
shift 2
if ! "$venv/bin/python" -c "import $modules" >/dev/null 2>&1; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "$@" >&2
fi
echo "$venv/bin/python"
