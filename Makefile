# tocsin — build, test, benchmark.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
FUZZTIME ?= 3s

.PHONY: build test test-short fuzz bench vet fmt

build:
	$(GO) build -ldflags "-X main.Version=$(VERSION)" -o bin/tocsin ./cmd/tocsin

# The whole suite: vet, tests (SQLite always; PostgreSQL when
# TOCSIN_TEST_POSTGRES_URL is set, and mandatory when CI=true), then a
# brief run of every fuzz target.
test: vet
	$(GO) test -count=1 -timeout 8m ./...
	$(MAKE) fuzz

test-short:
	$(GO) test -short ./...

vet:
	@test -z "$$(gofmt -l $$($(GO) list -f '{{.Dir}}' ./...))" || (gofmt -l $$($(GO) list -f '{{.Dir}}' ./...); echo "gofmt needed"; exit 1)
	$(GO) vet ./...

# Each fuzz target runs for FUZZTIME (go test allows one -fuzz per run) on
# one worker, minimising a new input for at most FUZZMINIMIZETIME (the
# default, 60s, would eat a short run), starting from the seeds (f.Add and
# testdata/fuzz). A failure prints its output. A failure that saved a
# crasher (testdata/fuzz/FuzzX/…, commit it: it then fails `go test` until
# fixed) fails the build; one without a crasher (the fuzzing process
# killed or hung on a loaded machine) is run once more and fails the build
# only if it fails again. Every target runs; the exit status tells.
FUZZMINIMIZETIME ?= 1s
FUZZPKGS ?= ./...
fuzz:
	@fail=0; log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	pkgs=$$($(GO) list $(FUZZPKGS)) || exit 1; \
	for pkg in $$pkgs; do \
	  targets=$$($(GO) test -list '^Fuzz' $$pkg) || { echo "$$targets"; fail=1; continue; }; \
	  for t in $$(echo "$$targets" | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$t"; \
	    for try in 1 2; do \
	      if $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) -parallel 1 $$pkg >$$log 2>&1; then \
	        [ $$try = 1 ] || echo "fuzz $$pkg $$t: passed on the second run (no crasher was saved by the first)"; break; \
	      fi; \
	      cat $$log; \
	      if grep -q 'Failing input written to' $$log; then echo "FAIL fuzz $$pkg $$t: crasher saved (see above)"; fail=1; break; fi; \
	      if [ $$try = 2 ]; then echo "FAIL fuzz $$pkg $$t: failed twice"; fail=1; else echo "fuzz $$pkg $$t failed without a crasher; running it again"; fi; \
	    done; \
	  done; \
	done; \
	exit $$fail

# Micro-benchmarks, then bench/run.sh: issue 13's target table on SQLite
# and PostgreSQL, beside a trivial net/http handler (BENCH_* knobs in the
# environment: bench/README.md).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	bash bench/run.sh

fmt:
	gofmt -w $$($(GO) list -f '{{.Dir}}' ./...)
