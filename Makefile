# Tollgate developer targets. CI runs `bash .ci/run`; `make lint test` is the same checks.

SHELL := bash
.DEFAULT_GOAL := build

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# one pinned staticcheck version, kept in .ci/run
STATICCHECK_VERSION := $(shell sed -n 's/^STATICCHECK_VERSION=//p' .ci/run)

# extra arguments: make test ARGS="-run Foo ./provider/..."; make bench BENCH_ARGS="..."
ARGS ?=
BENCH_ARGS ?=

.PHONY: run build test lint bench fuzz clean

run:
	go run ./cmd/tollgate

build:
	go build -trimpath -ldflags "$(LDFLAGS)" -o bin/tollgate ./cmd/tollgate

test:
	scripts/test.sh $(ARGS)

lint:
	@unformatted="$$(gofmt -l .)"; if [[ -n "$$unformatted" ]]; then echo "not gofmt-ed (run: gofmt -w .):"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

bench: build
	go run ./cmd/tollgate-bench -gateway bin/tollgate $(BENCH_ARGS)

# fuzz each parser for FUZZTIME (CI runs a short count-bounded smoke of the same targets)
FUZZTIME ?= 60s
fuzz:
	go test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) ./provider/sse
	go test -run '^$$' -fuzz '^FuzzRoundTrip$$' -fuzztime $(FUZZTIME) ./provider/sse
	go test -run '^$$' -fuzz '^FuzzParseChat$$' -fuzztime $(FUZZTIME) ./web/api
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./cmd/tollgate/internal/config
	go test -run '^$$' -fuzz '^FuzzCountChat$$' -fuzztime $(FUZZTIME) ./metering/tokens

clean:
	rm -rf bin
