# Quill's two commands: `make serve` and `make test`. Everything else is a step they use.
SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := libopenblas-dev libssl-dev zlib1g-dev openssl curl
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Tests run optimised (numeric code is slow in debug builds) in a build folder of their own,
# so that `make build` and `make test` do not rebuild each other's products.
TEST_FLAGS := -c release -Xswiftc -enable-testing --scratch-path .build-test

BROWSER_PACKAGES := chromium chromium-driver python3-venv

.PHONY: all deps browser-deps build test test-avx2-kernels test-browser test-sanitizers fuzz data bench bench-server serve container-check clean

all: build

## deps: install the C libraries (OpenBLAS, OpenSSL, zlib) with apt-get when any is missing
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

## build: release build of every product
build: deps
	$(SWIFT) build -c release

# The tests' data (tinyshakespeare.txt, gpt2/): QUILL_DATA when set (CI sets it); else data/ once `make data` has
# fetched it; else the shared data folder beside a developer's checkout, when there is one.
QUILL_DATA ?= $(if $(wildcard data/tinyshakespeare.txt),$(CURDIR)/data,$(if $(wildcard ../shared/data/tinyshakespeare.txt),$(abspath ../shared/data),$(CURDIR)/data))
export QUILL_DATA

## test: the whole test suite (Swift Testing, optimised), OpenAI's Python client against the server, the gguf reader on exports, the
## checks of the shipping files (hadolint, kubernetes-validate, openapi-spec-validator), and schemathesis against
## docs/openapi.yaml and the server (scripts/schemathesis.sh); Python tools go into
## virtual environments under ~/.cache on first use
## The HTTP server's suites run first, on their own, then the service's, on their own: their timeouts are measured in
## wall-clock time, and beside the CPU-heavy suites (gradient checks, training, tokenizing all of Tiny Shakespeare)
## a 2-core machine can hold the cooperative pool that their servers' handlers need for seconds (seen in CI: 14
## service tests timed out together after 11 s while those suites ran).
test: deps
	$(SWIFT) build $(TEST_FLAGS) --build-tests
	$(SWIFT) test $(TEST_FLAGS) --skip-build --filter QuillHTTPTests
	QUILL_OPENAI_PYTHON="$$(scripts/openai-venv.sh)" $(SWIFT) test $(TEST_FLAGS) --skip-build --filter QuillServiceTests
	QUILL_GGUF_PYTHON="$$(scripts/gguf-venv.sh)" \
	  $(SWIFT) test $(TEST_FLAGS) --skip-build --skip QuillHTTPTests --skip QuillServiceTests
	scripts/check-deploy.sh
	scripts/schemathesis.sh "$$($(SWIFT) build $(TEST_FLAGS) --show-bin-path)/quill-server"
	@if grep -qw avx512f /proc/cpuinfo 2>/dev/null && [ -z "$$QUILL_TARGET_CPU" ]; then $(MAKE) --no-print-directory test-avx2-kernels; fi

## test-avx2-kernels: the kernel suites again, built for AVX2 (QUILL_TARGET_CPU=haswell), in .build-avx2. `make test`
## runs it on AVX-512 machines, where the default build compiles the AVX-512 tiles instead, so that the tiles of the
## container image and of AVX2 machines stay tested too.
AVX2_FLAGS := -c release -Xswiftc -enable-testing --scratch-path .build-avx2
test-avx2-kernels: deps
	QUILL_TARGET_CPU=haswell $(SWIFT) build $(AVX2_FLAGS) --build-tests
	QUILL_TARGET_CPU=haswell $(SWIFT) test $(AVX2_FLAGS) --skip-build --filter QuillTensorTests \
	  --filter QuillModelTests.QuantizedInferenceTests --filter QuillModelTests.SplitDecodeTests \
	  --filter QuillModelTests.InferenceTests

## test-browser: the playground in a real headless Chromium (scripts/browser-test.py: Debian's chromium and
## chromium-driver, Selenium in a venv under ~/.cache) against quill-server with the bundled model and the tiny GPT-2
## fixture; screenshots go to .build-test/browser. .ci/run calls it after make test.
test-browser: deps browser-deps
	$(SWIFT) build $(TEST_FLAGS) --product quill-server
	"$$(scripts/selenium-venv.sh)" scripts/browser-test.py --out .build-test/browser \
	  --server "$$($(SWIFT) build $(TEST_FLAGS) --show-bin-path)/quill-server"

## test-sanitizers: the HTTP and service suites under AddressSanitizer (with LeakSanitizer), then under
## ThreadSanitizer, each in a build folder of its own; any report fails the run (Fuzz/tsan.supp holds the
## suppressions, each with its reason)
SANITIZER_SUITES := QuillHTTPTests|QuillServiceTests
test-sanitizers: deps
	$(SWIFT) build -c release -Xswiftc -enable-testing --scratch-path .build-asan --build-tests --sanitize=address
	ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 LSAN_OPTIONS=suppressions=$(CURDIR)/Fuzz/lsan.supp $(SWIFT) test -c release -Xswiftc -enable-testing --scratch-path .build-asan \
	  --skip-build --sanitize=address --filter '$(SANITIZER_SUITES)'
	$(SWIFT) build -c release -Xswiftc -enable-testing --scratch-path .build-tsan --build-tests --sanitize=thread
	TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/Fuzz/tsan.supp" $(SWIFT) test -c release -Xswiftc -enable-testing \
	  --scratch-path .build-tsan --skip-build --sanitize=thread --filter '$(SANITIZER_SUITES)'

## fuzz: libFuzzer on the request parser and on the API's JSON request decoding (Sources/quill-fuzz), FUZZ_SECONDS
## each (default 60), from the seed corpora in Fuzz/corpus; crashes go to .build-fuzz/crashes/ (replay one with
## `swift run quill-fuzz TARGET FILE`, then keep it in Fuzz/regressions/TARGET/, which the tests replay)
FUZZ_SECONDS ?= 60
fuzz: deps
	$(SWIFT) build -c release --scratch-path .build-fuzz --product quill-fuzz \
	  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DQUILL_FUZZ
	@mkdir -p .build-fuzz/crashes
	@for t in http json; do \
	  mkdir -p .build-fuzz/corpus/$$t && cp -n Fuzz/corpus/$$t/* .build-fuzz/corpus/$$t/ 2>/dev/null; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  QUILL_FUZZ_TARGET=$$t ASAN_OPTIONS=detect_leaks=0 .build-fuzz/release/quill-fuzz .build-fuzz/corpus/$$t Fuzz/corpus/$$t \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 -print_final_stats=1 \
	    -artifact_prefix=.build-fuzz/crashes/$$t- || exit 1; \
	done

## browser-deps: install Chromium, its WebDriver and python3-venv with apt-get when any is missing
browser-deps:
	@missing=""; for p in $(BROWSER_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

## data: download the tests' data (Tiny Shakespeare, GPT-2's vocab.json + merges.txt) into data/, checked by SHA-256;
## the tests read QUILL_DATA (set above) and skip, with the reason, what they cannot find
data:
	scripts/fetch-data.sh

## bench: Quill against PyTorch (training N/S/M, decoding S) and tiktoken (GPT-2 encoding), same machine, same run
## (installs PyTorch and tiktoken into ~/.cache on first use)
bench: build
	../shared/bench/compare.sh train
	../shared/bench/compare.sh generate
	$$(../shared/bench/setup.sh) scripts/compare_tiktoken.py

## serve: build and serve the bundled model (settings: Config/server.json, QUILL_* variables, or ARGS="--port 9000")
serve: build
	.build/release/quill-server $(ARGS)

## bench-server: quill-server under load (/health, /tokenize, /complete at concurrency 1, 4, 16, 64)
bench-server: build
	scripts/bench-server.sh

## container-check: the Dockerfile's runtime stage without Docker (debootstrap + chroot), then /health and /complete
container-check: deps
	scripts/container-check.sh

clean:
	rm -rf .build .build-test .build-container
