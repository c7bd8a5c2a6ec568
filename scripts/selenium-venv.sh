#!/usr/bin/env bash
# Prints the python of a virtual environment that has Selenium, creating it on first use in
# ~/.cache/quill-selenium-venv. make test-browser runs scripts/browser-test.py with it.
set -euo pipefail
VENV="${QUILL_SELENIUM_VENV:-$HOME/.cache/quill-selenium-venv}"
if ! "$VENV/bin/python" -c 'import selenium' >/dev/null 2>&1; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check 'selenium>=4.10' >&2
fi
echo "$VENV/bin/python"
