# Tether — every task the README names runs from here.
SHELL := /bin/bash
GO    ?= go
BUF   := $(GO) tool -modfile=tools/go.mod buf
FUZZTIME ?= 10m
# What make generate writes; make check-generate fails if any of it changes.
GENERATED := gen/ tether.schema.json examples/notes/gen/ examples/notes/proto/third_party/ gateway/assets/demo/demo_tether.js examples/notes/frontend/notes_tether.js

.PHONY: all run build build-notes generate check-generate lint test test-go test-js fuzz-short fuzz clean

all: build

## run: build and serve the demo app (gRPC on 127.0.0.1:7401)
run: build
	./bin/tether serve --data examples/demo/data

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

## test: everything CI runs (lint, race tests with leak checks, JS tests, short fuzzing)
test: lint test-go test-js fuzz-short test-browser test-js-real

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
test-browser: build build-notes tests/browser/node_modules
	@test -x "$${CHROMIUM:-/usr/bin/chromium}" || { echo "test-browser needs Chromium at $${CHROMIUM:-/usr/bin/chromium} (apt-get install -y chromium)" >&2; exit 1; }
	mkdir -p artifacts
	cd tests/browser && npm test

.PHONY: bench bench-quick

## bench: every comparison in full; writes BENCHMARKS.md and bench-results.json
bench:
	$(GO) build -o bin/tether-bench ./cmd/tether-bench
	./bin/tether-bench -v

## bench-quick: every comparison, short (under 60 s): one RATIO line each
bench-quick:
	@$(GO) build -o bin/tether-bench ./cmd/tether-bench
	@./bin/tether-bench -quick

.PHONY: load fault
LOADFLAGS  ?=
FAULTFLAGS ?=

SSE_LISTENERS ?= 50000

## load: 64 clients x 100k invokes (in total; -per-client for each) + 100 listeners over loopback TCP, brownfield then isolation;
## then SSE_LISTENERS idle SSE listeners on one core and a fan-out to all of them (writes load-results.md for make bench)
load:
	$(GO) build -o bin/tether-load ./cmd/tether-load
	./bin/tether-load $(LOADFLAGS)
	./bin/tether-load -sse $(SSE_LISTENERS) -sse-fit

## fault: the core as a child process, SIGKILLed mid-load and restarted; counts double executions and lost events
fault:
	$(GO) build -o bin/tether-fault ./cmd/tether-fault
	./bin/tether-fault $(FAULTFLAGS)
