# quill-server in a container: build with the Swift toolchain, run on Debian slim with only the shared libraries
# the binary needs. Build: `docker build -t quill .`  Run: `docker run --rm -p 8080:8080 quill`
# Configure with QUILL_* variables (docs/API.md, "Configuration"), e.g. `-e QUILL_API_KEY=secret`.
# scripts/container-check.sh rebuilds the runtime stage without Docker (debootstrap + chroot) and tests it.

# ---- build ------------------------------------------------------------------------------------------------------
FROM swift:6.3.1-bookworm AS build

# The C libraries' headers (Makefile's APT_PACKAGES). Versions are those of the Debian release the image is built
# from; pinning them would break the build at every Debian security update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libopenblas-dev libssl-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Dependencies first, so that a change to the sources does not fetch them again.
COPY Package.* ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
# The kernels are compiled for AVX2 + FMA (haswell), not for the machine that builds the image: the image runs on
# any x86-64 server since 2013 (Package.swift; a native build on an AVX-512 machine would not run elsewhere).
ENV QUILL_TARGET_CPU=haswell
# The Swift runtime and Foundation are linked statically: the runtime stage needs no Swift toolchain.
RUN swift build -c release --static-swift-stdlib --product quill-server \
    && install -D -m 0755 "$(swift build -c release --static-swift-stdlib --show-bin-path)/quill-server" \
        /out/usr/local/bin/quill-server

# ---- runtime ----------------------------------------------------------------------------------------------------
FROM debian:bookworm-slim

# Runtime libraries, from `ldd quill-server` of a --static-swift-stdlib build: libopenblas.so.0 (OpenBLAS, which
# brings libgfortran5 and libquadmath0), libssl.so.3 and libcrypto.so.3 (libssl3), libz.so.1 (zlib1g), and
# libstdc++.so.6 and libgcc_s.so.1 for the statically linked Foundation. scripts/container-check.sh installs exactly
# the packages of this apt-get install line, so keep them on it. Versions: see the build stage.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libopenblas0-pthread libssl3 zlib1g libstdc++6 libgcc-s1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 quill \
    && useradd --no-log-init --no-create-home --uid 10001 --gid quill --home-dir /app --shell /usr/sbin/nologin quill

WORKDIR /app
COPY --from=build /out/usr/local/bin/quill-server /usr/local/bin/quill-server
COPY Config/ ./Config/
COPY docs/openapi.yaml ./docs/openapi.yaml
COPY checkpoints/shakespeare-char.safetensors ./checkpoints/shakespeare-char.safetensors

# Settings: defaults < /app/Config/server.json < QUILL_* variables < flags (docs/API.md, "Configuration").
ENV QUILL_HOST=0.0.0.0 \
    QUILL_PORT=8080 \
    QUILL_CHECKPOINT=/app/checkpoints/shakespeare-char.safetensors \
    QUILL_OPENAPI=/app/docs/openapi.yaml \
    QUILL_LOG_LEVEL=info

USER 10001:10001
EXPOSE 8080
# SIGTERM: stop accepting, let in-flight requests finish for drain_seconds (10 s), exit 0.
STOPSIGNAL SIGTERM
# The slim image has no curl: bash's /dev/tcp sends the request. /health never needs the API key.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${QUILL_PORT:-8080} && printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '200 OK' <&3"]
ENTRYPOINT ["/usr/local/bin/quill-server"]
