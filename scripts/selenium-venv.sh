#!/usr/bin/env bash
# Prints the python of a virtual environment that has Selenium, creating it on first use in
# ~/.cache/quill-selenium-venv. make test-browser runs scripts/browser-test.py with it.
exec "$(dirname "$0")/python-venv.sh" "${QUILL_SELENIUM_VENV:-$HOME/.cache/quill-selenium-venv}" selenium 'selenium>=4.10'
