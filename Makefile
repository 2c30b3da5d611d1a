# Tether — every task the README names runs from here.
SHELL := /bin/bash
GO    ?= go
BUF   := $(GO) tool -modfile=tools/go.mod buf
FUZZTIME ?= 10m

.PHONY: all run build generate check-generate lint test test-go test-js fuzz-short fuzz clean

all: build

## run: build and serve the demo app (gRPC on 127.0.0.1:7401)
run: build
	./bin/tether serve --data examples/demo/data

build:
	$(GO) build -o bin/tether ./cmd/tether

## generate: regenerate gen/ from proto/ with the pinned buf and plugins
generate:
	$(BUF) generate
	$(BUF) lint

## check-generate: fail if regenerating changes anything under gen/
check-generate: generate
	@git diff --exit-code --stat -- gen/ || { echo "gen/ is stale: run 'make generate' and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- gen/)" || { git status --porcelain -- gen/; echo "gen/ has untracked files" >&2; exit 1; }

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); test -z "$$out" || { echo "gofmt would change: $$out" >&2; exit 1; }
	$(GO) vet ./...

## test: everything CI runs (lint, race tests with leak checks, JS tests, short fuzzing)
test: lint test-go test-js fuzz-short

js/node_modules: js/package-lock.json
	cd js && npm ci --no-audit --no-fund
	@touch js/node_modules

## test-js: the JS client and shim, and that their committed build is current
test-js: js/node_modules
	cd js && npm run typecheck && npm test
	sh js/check-build.sh

test-go:
	$(GO) test -race -count=1 ./...
	@# -race scales the fan-out tests down; run them once at full size (100 listeners x 100k events).
	$(GO) test -count=1 -run 'TestFanout100|TestStalledSubscriber|TestMemoryBound' -v ./bus | grep -E '^(--- |ok|FAIL|PASS)|events|lag'

fuzz-short:
	scripts/fuzz.sh 5s

## fuzz: every fuzz target for FUZZTIME (default 10m) each
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin

.PHONY: load fault
LOADFLAGS  ?=
FAULTFLAGS ?=

## load: 64 clients x 100k invokes (in total; -per-client for each) + 100 listeners over loopback TCP, brownfield then isolation
load:
	$(GO) run ./cmd/tether-load $(LOADFLAGS)

## fault: the core as a child process, SIGKILLed mid-load and restarted; counts double executions and lost events
fault:
	$(GO) build -o bin/tether-fault ./cmd/tether-fault
	./bin/tether-fault $(FAULTFLAGS)
