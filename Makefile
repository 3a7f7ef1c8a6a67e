# banger build, test and run targets. `make run` and `make test` do all the
# set-up on a fresh Debian/Ubuntu machine (as root): they install the host
# packages first.

GO        ?= go
BIN       := build/bin
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS   := -s -w -X banger/internal/buildinfo.Version=$(VERSION) -X banger/internal/buildinfo.Commit=$(COMMIT)
ARGS      ?=
FUZZTIME  ?= 30s
FUZZMIN   ?= 100x
FUZZFLAGS ?=
SCRIPTS   := $(wildcard scripts/*.sh) .ci/run

.PHONY: all build deps deps-dev test unit e2e lint run bench fuzz clean ui

all: build

deps:
	bash scripts/deps.sh

# The web UI's vendored xterm.js and uPlot, fetched again from npm at the
# versions pinned in the script (the output is checked in; see
# docs/dependencies.md). Nothing else needs it: the files are committed.
ui:
	bash scripts/ui-vendor.sh

# The host packages plus what the tests and the bench use.
deps-dev:
	bash scripts/deps.sh --dev

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/banger ./cmd/banger
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/bangerd ./cmd/bangerd
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS) -X main.version=$(VERSION)' -o $(BIN)/banger-agent ./cmd/banger-agent
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/banger-controller ./cmd/banger-controller
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/banger-node ./cmd/banger-node

# The whole suite: unit tests and the end-to-end tests that boot VMs.
test: deps-dev build
	BANGER_BIN_DIR=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 45m ./...

# Unit tests only (no VM boots).
unit:
	$(GO) test -count=1 -short ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	shellcheck $(SCRIPTS)
	$(GO) run ./scripts/sizecheck .

# Every Go fuzz target (func FuzzX in a _test.go file under internal/) for
# FUZZTIME each, e.g. `make fuzz FUZZTIME=5m FUZZFLAGS=-parallel=2`. Each
# new input is minimised with at most FUZZMIN runs of the target (Go's
# default, 60s per input, eats a short run whole when the target touches
# files). Plain `go test` already runs their seed corpora
# (testdata/fuzz/FuzzX) as tests.
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' internal | sort); do \
	  for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
	    echo "== $$t in ./$$(dirname $$f) for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMIN) $(FUZZFLAGS) ./$$(dirname $$f); \
	  done; \
	done

run: deps build
	$(BIN)/banger vm run $(ARGS)

# Start times against a plain QEMU floor and a plain minimal Debian, and
# bangerd's memory (docs/bench.md). As root; RUNS=3 VMS=10 by default.
bench: deps-dev build
	RUNS=$(or $(RUNS),3) VMS=$(or $(VMS),10) bash scripts/bench.sh

clean:
	rm -rf build
