# Tether — every task the README names runs from here.
SHELL := /bin/bash
GO    ?= go
BUF   := $(GO) tool -modfile=tools/go.mod buf

.PHONY: all generate check-generate lint test build

all: build

## generate: regenerate gen/ from proto/ with the pinned buf and plugins
generate:
	$(BUF) generate
	$(BUF) lint

## check-generate: fail if regenerating changes anything under gen/
check-generate: generate
	@git diff --exit-code --stat -- gen/ || { echo "gen/ is stale: run 'make generate' and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- gen/)" || { git status --porcelain -- gen/; echo "gen/ has untracked files" >&2; exit 1; }

build:
	$(GO) build ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'))" || { gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'); exit 1; }
	$(GO) vet ./...

test: lint
	$(GO) test -race -count=1 ./...
