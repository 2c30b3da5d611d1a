# Tether — every task the README names runs from here.
SHELL := /bin/bash
GO    ?= go
BUF   := $(GO) tool -modfile=tools/go.mod buf
FUZZTIME ?= 10m
# What make generate writes; make check-generate fails if any of it changes.
GENERATED := gen/ tether.schema.json examples/notes/gen/ examples/notes/proto/third_party/ gateway/assets/demo/demo_tether.js examples/notes/frontend/notes_tether.js

.PHONY: all run run-bg stop build build-notes generate check-generate lint test test-go test-js fuzz-short fuzz clean check-browser test-tour

all: build

# What make run and make run-bg serve, and where run-bg keeps its pid and log.
RUN_ARGS  ?= --data examples/demo/data
RUN_STATE ?= bin

## run: build and serve the demo app in the foreground (HTTP on 127.0.0.1:7400 behind the secret it prints as the address to open, gRPC on a 0600 socket in the runtime folder); Ctrl-C stops it
run: build
	./bin/tether serve $(RUN_ARGS)

## run-bg: build, serve the demo in the background and wait until it answers; while it runs, again is a no-op
run-bg: build
	@mkdir -p $(RUN_STATE); pid=$(RUN_STATE)/tether.pid; log=$(RUN_STATE)/tether.log; \
	if [ -f $$pid ] && kill -0 "$$(cat $$pid)" 2>/dev/null; then \
		echo "tether: already running (pid $$(cat $$pid), log $$log); 'make stop' stops it"; \
		grep -m1 '^tether: open ' $$log || true; exit 0; fi; \
	nohup ./bin/tether serve $(RUN_ARGS) >$$log 2>&1 </dev/null & echo $$! >$$pid; \
	if ! ./bin/tether wait --timeout 60s --http http://$(DEFAULT_HTTP) >/dev/null || ! kill -0 "$$(cat $$pid)" 2>/dev/null; then \
		echo "tether: did not start; its log ($$log):" >&2; cat $$log >&2; kill "$$(cat $$pid)" 2>/dev/null; rm -f $$pid; exit 1; fi; \
	echo "tether: serving the demo on http://$(DEFAULT_HTTP) (console at /_tether/) and gRPC $$(sed -n 's/^tether: gRPC on //p' $$log | head -1); pid $$(cat $$pid), log $$log; 'make stop' stops it"; \
	grep -m1 '^tether: open ' $$log || true

## stop: stop what make run-bg started (SIGINT: a graceful shutdown)
stop:
	@pid=$(RUN_STATE)/tether.pid; \
	if [ -f $$pid ] && kill -0 "$$(cat $$pid)" 2>/dev/null; then \
		kill -INT "$$(cat $$pid)"; for i in $$(seq 150); do kill -0 "$$(cat $$pid)" 2>/dev/null || break; sleep 0.1; done; \
		echo "tether: stopped"; else echo "tether: not running"; fi; rm -f $$pid

DEFAULT_HTTP := 127.0.0.1:7400

build:
	$(GO) build -o bin/tether ./cmd/tether

## build-notes: the notes example, its own Go module (examples/notes)
build-notes:
	cd examples/notes && $(GO) build -o ../../bin/notes .

## generate: regenerate gen/ from proto/ with the pinned buf and plugins (Go, and the
## TypeScript bindings under gen/ts), the config schema, the notes example's gen/, and the
## demo page's copy of its bindings
generate: js/node_modules
	$(BUF) generate
	$(BUF) lint
	$(GO) run ./config/internal/schemagen -o tether.schema.json
	$(GO) run ./cmd/tether proto export examples/notes/proto/third_party >/dev/null
	cd examples/notes && $(GO) tool -modfile=../../tools/go.mod buf generate && $(GO) tool -modfile=../../tools/go.mod buf lint
	cd js && node build.mjs

## check-generate: fail if regenerating changes anything generated
check-generate: generate
	@git diff --exit-code --stat -- $(GENERATED) || { echo "generated code is stale: run 'make generate' and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- $(GENERATED))" || { git status --porcelain -- $(GENERATED); echo "generated files are not committed" >&2; exit 1; }

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); test -z "$$out" || { echo "gofmt would change: $$out" >&2; exit 1; }
	$(GO) vet ./...

## test: everything CI runs (lint, race tests with leak checks, JS tests, short fuzzing, browser tests, the README's tour)
test: check-browser lint test-go test-js fuzz-short test-browser test-js-real test-tour

## check-browser: install Debian's chromium when missing (as root), else fail at once, not ten minutes in
check-browser:
	@if [ ! -x "$${CHROMIUM:-/usr/bin/chromium}" ] && [ -z "$${CHROMIUM:-}" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "make test: installing Debian's chromium for the browser tests (apt-get)"; \
		apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null; fi
	@test -x "$${CHROMIUM:-/usr/bin/chromium}" || { echo "make test needs Chromium at $${CHROMIUM:-/usr/bin/chromium} for the browser tests: apt-get install -y chromium (or set CHROMIUM=/path/to/chromium)" >&2; exit 1; }
	@"$${CHROMIUM:-/usr/bin/chromium}" --version >/dev/null 2>&1 || { echo "$${CHROMIUM:-/usr/bin/chromium} does not run ('$${CHROMIUM:-/usr/bin/chromium} --version' fails)" >&2; exit 1; }

## test-tour: the README's tour, pasted as one block into a fresh shell, twice, in a network namespace of its own
test-tour: build
	scripts/tour-test.sh

js/node_modules: js/package-lock.json
	cd js && npm ci --no-audit --no-fund
	@touch js/node_modules

## test-js: the JS client and shim, the demo's generated TypeScript bindings (tsc must
## accept their correct use and refuse greet({ nam: "x" })), and that the committed build is current
test-js: js/node_modules
	cd js && npm run typecheck && npm test
	sh js/check-build.sh

# The TypeScript compiler for internal/tsgen's tests (which skip without one).
test-go: export TETHER_TSC := $(CURDIR)/js/node_modules/.bin/tsc
test-go: js/node_modules
	$(GO) test -race -count=1 ./...
	@# The notes example is a module of its own: it can reach only Tether's public packages.
	cd examples/notes && $(GO) vet ./... && $(GO) test -race -count=1 ./...
	@# -race scales the fan-out tests down; run them once at full size (100 listeners x 100k events).
	$(GO) test -count=1 -run 'TestFanout100|TestStalledSubscriber|TestMemoryBound' -v ./bus | grep -E '^(--- |ok|FAIL|PASS)|events|lag'

fuzz-short:
	scripts/fuzz.sh 5s

## fuzz: every fuzz target for FUZZTIME (default 10m) each
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin

## test-js-real: the JS client and shim suite against a real `tether serve` (TETHER_URL)
.PHONY: test-js-real
test-js-real: build js/node_modules
	node tests/browser/lib/with-tether.mjs --data examples/demo/data -- sh -c 'cd js && npm test'

tests/browser/node_modules: tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund
	@touch tests/browser/node_modules

## test-browser: Debian's Chromium (playwright-core) against a real `tether serve`
.PHONY: test-browser
test-browser: check-browser build build-notes tests/browser/node_modules
	$(GO) build -o bin/tauri-backend ./tests/browser/backend
	mkdir -p artifacts
	cd tests/browser && npm test

.PHONY: bench bench-quick bench-replicas

## bench: every comparison in full; writes BENCHMARKS.md and bench-results.json
bench:
	$(GO) build -o bin/tether-bench ./cmd/tether-bench
	./bin/tether-bench -v

## bench-replicas: fan-out and emit → receive latency across three replicas on NATS JetStream, against JetStream itself
bench-replicas:
	$(GO) build -o bin/tether-bench-replicas ./cmd/tether-bench-replicas
	./bin/tether-bench-replicas $(BENCHREPLICAFLAGS)

## bench-quick: every comparison, short (under 60 s): one RATIO line each
bench-quick:
	@$(GO) build -o bin/tether-bench ./cmd/tether-bench
	@./bin/tether-bench -quick

.PHONY: load fault
LOADFLAGS  ?=
FAULTFLAGS ?=
FAULTREPLICAFLAGS ?=

SSE_LISTENERS ?= 50000

## load: 64 clients x 100k invokes (in total; -per-client for each) + 100 listeners over loopback TCP, brownfield then isolation;
## then 400 emits and 300 keyed invokes of 4 MB, which must keep the core under 256 MiB RSS;
## then SSE_LISTENERS idle SSE listeners on one core and a fan-out to all of them (writes load-results.md for make bench)
load:
	$(GO) build -o bin/tether-load ./cmd/tether-load
	./bin/tether-load $(LOADFLAGS)
	$(GO) build -o bin/tether-load-bytes ./cmd/tether-load-bytes
	./bin/tether-load-bytes
	./bin/tether-load-bytes -idempotency file
	./bin/tether-load -sse $(SSE_LISTENERS) -sse-fit

## fault: the core as a child process, SIGKILLed mid-load and restarted; then three replicas on NATS JetStream, one
## SIGKILLed after another under load, clients moving between them; counts double executions and lost events
fault:
	$(GO) build -o bin/tether-fault ./cmd/tether-fault
	./bin/tether-fault $(FAULTFLAGS)
	./bin/tether-fault -replicas 3 -kills 6 $(FAULTREPLICAFLAGS)
