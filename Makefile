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

# Each fuzz target runs for FUZZTIME (go test allows one -fuzz per run).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg >/dev/null || { $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; exit 1; }; \
	  done; \
	done

# Micro-benchmarks and the load test on SQLite and PostgreSQL.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	bash bench/run.sh

fmt:
	gofmt -w $$($(GO) list -f '{{.Dir}}' ./...)
