#!/usr/bin/env bash
# Rewrites the README's settings tables from the declarations (ServerConfig.table, TrainConfig.table), through
# the built binaries' --settings-table. A test fails when the README and the declarations disagree.
#   scripts/update-settings-tables.sh [BIN_DIR]     (default .build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/release}
python3 - "$("$bin/quill-server" --settings-table)" "$("$bin/quill-train" train --settings-table)" <<'PY'
import re, sys
server, train = sys.argv[1], sys.argv[2]
text = open("README.md").read()
def put(text, command, table):
    start = f"<!-- settings: {command} --settings-table (scripts/update-settings-tables.sh) -->\n"
    i = text.index(start) + len(start)
    j = text.index("<!-- end settings -->", i)
    return text[:i] + table.rstrip("\n") + "\n" + text[j:]
text = put(text, "quill-server", server)
text = put(text, "quill-train train", train)
open("README.md", "w").write(text)
PY
