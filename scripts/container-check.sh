#!/usr/bin/env bash
# Proves the Dockerfile's runtime stage without Docker:
#   1. builds quill-server as the Dockerfile's build stage does (release, static Swift runtime), in .build-container;
#   2. makes a Debian bookworm minbase root file system with debootstrap (cached in .build-container), and applies
#      the Dockerfile's runtime stage to a copy of it: its RUN instruction (apt-get install of the runtime packages,
#      the non-root user) runs in the chroot as written, and its COPY, ENV, WORKDIR, USER and ENTRYPOINT
#      instructions are read from the Dockerfile, so this check and the image cannot drift apart;
#   3. checks with ldd inside the chroot that the binary finds every shared library;
#   4. runs the server there (chroot as the image's USER, on a free port), waits for /health, asks /health,
#      /complete and /openapi.yaml, runs the image's HEALTHCHECK command, then sends SIGTERM and checks it exits 0.
# Needs root (debootstrap, chroot, mount) and the network the first time (Debian's mirror).
# QUILL_CHECKPOINT_FILE=path puts another GPT checkpoint where the image has checkpoints/shakespeare-char.safetensors.
# DEBIAN_MIRROR overrides http://deb.debian.org/debian.
set -euo pipefail

cd "$(dirname "$0")/.."
repo="$PWD"
if [ "$(id -u)" != 0 ]; then exec sudo --preserve-env=QUILL_CHECKPOINT_FILE,DEBIAN_MIRROR "$0" "$@"; fi

scratch=.build-container
base="$scratch/bookworm-minbase"
rootfs="$scratch/rootfs"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
say() { printf '\n== %s\n' "$*"; }
die() { printf 'container-check: FAIL: %s\n' "$*" >&2; exit 1; }

# ---- the Dockerfile's runtime stage --------------------------------------------------------------------------------
# Prints shell assignments for the last stage: BASE_IMAGE, RUN_COMMANDS (array), PACKAGES, WORKDIR, USER_SPEC,
# ENV_VARS (array of KEY=VALUE), COPY_SOURCES / COPY_TARGETS (arrays; --from=build sources keep their path),
# ENTRYPOINT_ARGS (array) and HEALTHCHECK_ARGS (array).
parse_runtime_stage() {
    python3 - "$1" <<'PY'
import json, re, shlex, sys
text = open(sys.argv[1]).read()
lines, cur = [], ""
for raw in text.splitlines():
    s = raw.strip()
    if not cur and (not s or s.startswith("#")):
        continue
    if cur and s.startswith("#"):
        continue
    if s.endswith("\\"):
        cur += s[:-1].rstrip() + " "
        continue
    lines.append(cur + s)
    cur = ""
stages = []
for line in lines:
    word, _, rest = line.partition(" ")
    if word.upper() == "FROM":
        stages.append({"from": rest.split()[0], "ins": []})
    elif stages:
        stages[-1]["ins"].append((word.upper(), rest.strip()))
stage = stages[-1]
out = {"BASE_IMAGE": stage["from"], "RUN_COMMANDS": [], "WORKDIR": "/", "USER_SPEC": "0:0", "ENV_VARS": [],
       "COPY_SOURCES": [], "COPY_TARGETS": [], "ENTRYPOINT_ARGS": [], "HEALTHCHECK_ARGS": [], "PACKAGES": ""}
for word, rest in stage["ins"]:
    if word == "RUN":
        out["RUN_COMMANDS"].append(rest)
        m = re.search(r"apt-get install (.*?)(&&|$)", rest)
        if m:
            out["PACKAGES"] = " ".join(w for w in m.group(1).split() if not w.startswith("-"))
    elif word == "WORKDIR":
        out["WORKDIR"] = rest
    elif word == "USER":
        out["USER_SPEC"] = rest
    elif word == "ENV":
        out["ENV_VARS"] += shlex.split(rest)
    elif word == "COPY":
        args = shlex.split(rest)
        opts = [a for a in args if a.startswith("--")]
        paths = [a for a in args if not a.startswith("--")]
        for src in paths[:-1]:
            out["COPY_SOURCES"].append(("build:" if any(o.startswith("--from=") for o in opts) else "") + src)
            out["COPY_TARGETS"].append(paths[-1])
    elif word == "ENTRYPOINT":
        out["ENTRYPOINT_ARGS"] = json.loads(rest)
    elif word == "HEALTHCHECK":
        out["HEALTHCHECK_ARGS"] = json.loads(rest.split(" CMD ", 1)[1])
for key, value in out.items():
    if isinstance(value, list):
        print(key + "=(" + " ".join(shlex.quote(v) for v in value) + ")")
    else:
        print(key + "=" + shlex.quote(value))
PY
}
eval "$(parse_runtime_stage Dockerfile)"
[ "$BASE_IMAGE" = debian:bookworm-slim ] || die "the runtime stage is FROM $BASE_IMAGE; this check builds bookworm"
[ -n "$PACKAGES" ] || die "no apt-get install line in the Dockerfile's runtime stage"
[ "${#ENTRYPOINT_ARGS[@]}" -gt 0 ] || die "no ENTRYPOINT in the Dockerfile's runtime stage"
echo "runtime stage: FROM $BASE_IMAGE; packages: $PACKAGES; USER $USER_SPEC; WORKDIR $WORKDIR"

checkpoint="${QUILL_CHECKPOINT_FILE:-checkpoints/shakespeare-char.safetensors}"
[ -f "$checkpoint" ] || die "no checkpoint at $checkpoint (set QUILL_CHECKPOINT_FILE to any GPT .safetensors)"

# ---- 1. the release binary, as the build stage makes it -------------------------------------------------------------
say "QUILL_TARGET_CPU=haswell swift build -c release --static-swift-stdlib --product quill-server --scratch-path $scratch"
export QUILL_TARGET_CPU=haswell   # as the Dockerfile's build stage sets it
build=(swift build -c release --static-swift-stdlib --product quill-server --scratch-path "$scratch")
"${build[@]}"
binary="$("${build[@]}" --show-bin-path)/quill-server"
[ -x "$binary" ] || die "no binary at $binary"
ls -l "$binary"

# ---- 2. the root file system ----------------------------------------------------------------------------------------
mounted=()
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid" 2>/dev/null || true; fi
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" || true; done
    mounted=()
}
trap cleanup EXIT
mount_system() {
    mount -t proc proc "$rootfs/proc" && mounted+=("$rootfs/proc")
    mount --bind /dev "$rootfs/dev" && mounted+=("$rootfs/dev")
}

if [ ! -f "$base/.quill-base" ]; then
    if [ ! -x "$base/usr/bin/apt-get" ]; then
        command -v debootstrap >/dev/null || {
            say "apt-get install debootstrap"
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap
        }
        say "debootstrap --variant=minbase bookworm $base $mirror"
        rm -rf "$base.tmp"
        debootstrap --variant=minbase bookworm "$base.tmp" "$mirror"
        mv "$base.tmp" "$base"
    fi
    # The same suites as the debian:bookworm-slim image (security updates included).
    cat >"$base/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
    touch "$base/.quill-base"
fi

# The runtime stage's RUN instructions, applied to a fresh copy of the base when they change.
stamp="$(printf '%s\n' "${RUN_COMMANDS[@]}" | sha256sum | cut -c1-64)"
if [ "$(cat "$rootfs/.quill-runtime" 2>/dev/null)" != "$stamp" ]; then
    say "runtime stage: RUN (in a chroot of a fresh copy of $base)"
    rm -rf "$rootfs"
    cp -a "$base" "$rootfs"
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
    mount_system
    for command in "${RUN_COMMANDS[@]}"; do
        echo "RUN $command"
        chroot "$rootfs" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            DEBIAN_FRONTEND=noninteractive /bin/sh -c "$command"
    done
    cleanup
    echo "$stamp" >"$rootfs/.quill-runtime"
fi

# COPY: the built binary for --from=build sources, the repository's files for the others.
say "runtime stage: COPY"
workdir="$rootfs/${WORKDIR#/}"
mkdir -p "$workdir"
for i in "${!COPY_SOURCES[@]}"; do
    source="${COPY_SOURCES[i]}"
    target="${COPY_TARGETS[i]}"
    case "$target" in /*) dest="$rootfs$target" ;; *) dest="$workdir/${target#./}" ;; esac
    case "$source" in
        build:*quill-server) from="$binary" ;;
        build:*) die "unknown build-stage file ${source#build:}" ;;
        checkpoints/shakespeare-char.safetensors) from="$checkpoint" ;;
        *) from="$repo/$source" ;;
    esac
    echo "COPY $source -> ${dest#"$rootfs"} (from ${from#"$repo"/})"
    if [ -d "$from" ]; then
        rm -rf "$dest" && mkdir -p "$dest" && cp -a "$from/." "$dest/"
    else
        if [ -x "$from" ]; then mode=0755; else mode=0644; fi
        install -D -m "$mode" "$from" "$dest"
    fi
done

# ---- 3. shared libraries ---------------------------------------------------------------------------------------------
say "ldd ${ENTRYPOINT_ARGS[0]} (in the chroot)"
mount_system
ldd_out="$(chroot "$rootfs" ldd "${ENTRYPOINT_ARGS[0]}")"
echo "$ldd_out"
if grep -q "not found" <<<"$ldd_out"; then die "missing shared libraries in the runtime stage"; fi
if grep -q "libswift\|libFoundation" <<<"$ldd_out"; then die "the Swift runtime is linked dynamically"; fi

# ---- 4. run it ---------------------------------------------------------------------------------------------------------
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port"
log="$scratch/server.log"
# The image's environment, then this host's free port on the loopback address (the image listens on 0.0.0.0:8080).
run_env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME="$WORKDIR" "${ENV_VARS[@]}"
         QUILL_HOST=127.0.0.1 QUILL_PORT="$port")
# A plain command (not a function), so that in the background $! is the server's own pid: env, chroot and sh
# each exec the next.
in_container=(env -i "${run_env[@]}" chroot --userspec="$USER_SPEC" "$rootfs" /bin/sh -c 'cd "$0" && exec "$@"'
              "$WORKDIR")
say "server: chroot --userspec=$USER_SPEC $rootfs ${ENTRYPOINT_ARGS[*]} (port $port)"
"${in_container[@]}" "${ENTRYPOINT_ARGS[@]}" >"$log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$url/health" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$log"; die "the server exited before answering"; }
    sleep 0.2
done

say "curl $url/health"
health="$(curl -fsS "$url/health")" || { cat "$log"; die "/health did not answer 200"; }
echo "$health"
[ "$health" = '{"status":"ok"}' ] || die "unexpected /health body"

say "curl $url/complete -d '{\"prompt\":\"ROMEO:\",\"max_tokens\":40}'"
complete="$(curl -fsS "$url/complete" -d '{"prompt":"ROMEO:","max_tokens":40}')" || { cat "$log"; die "/complete failed"; }
echo "$complete"
python3 -c '
import json, sys
r = json.loads(sys.argv[1])
assert r["usage"]["completion_tokens"] == len(r["tokens"]) and 1 <= len(r["tokens"]) <= 40, r
assert r["finish_reason"] in ("length", "stop", "eos"), r
' "$complete" || die "/complete answered an unexpected body"

say "curl $url/openapi.yaml"
curl -fsS "$url/openapi.yaml" | cmp - docs/openapi.yaml || die "/openapi.yaml is not docs/openapi.yaml"
echo "200, the same bytes as docs/openapi.yaml"

if [ "${#HEALTHCHECK_ARGS[@]}" -gt 0 ]; then
    say "HEALTHCHECK ${HEALTHCHECK_ARGS[*]} (in the chroot, as $USER_SPEC)"
    "${in_container[@]}" "${HEALTHCHECK_ARGS[@]}" || die "the image's HEALTHCHECK command failed"
    echo "exit 0"
fi

say "SIGTERM"
kill -TERM "$server_pid"
status=""
for _ in $(seq 1 150); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        wait "$server_pid" && status=0 || status=$?
        break
    fi
    sleep 0.1
done
[ -n "$status" ] || { cat "$log"; die "the server did not exit within 15 s of SIGTERM"; }
server_pid=""
echo "server log:"
sed 's/^/  /' "$log"
[ "$status" = 0 ] || die "the server exited with status $status after SIGTERM"
echo "exit status 0"
say "container-check: OK"
