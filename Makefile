GO       ?= go
BUILD    := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X tapline/version.Build=$(BUILD)
RUNDIR   := run

.PHONY: all build run deps test vet lint fmt-check fuzz fuzz-short bench bench-report bench-micro docs clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/tapline ./cmd/tapline

# The main job on embedded defaults: TCP 127.0.0.1:5029 plus a Unix socket
# under ./run, replaying the bundled sipp capture in a loop so listcalls shows
# live calls at once. No Redis, no root.
run: build
	@mkdir -p $(RUNDIR)
	./bin/tapline serve --managersocket $(RUNDIR)/tapline.sock --statedir $(RUNDIR) --rundir $(CURDIR)/$(RUNDIR) \
		--replay testdata/demo.pcapng --replay-loop --sipport 5060-5072

deps:
	@./scripts/deps.sh

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) vet -tags tapline_testcmds ./...

# staticcheck, pinned, built from the Go module proxy into bin/ on first use.
STATICCHECK_VERSION := v0.8.2
STATICCHECK         := bin/staticcheck-$(STATICCHECK_VERSION)

$(STATICCHECK):
	@mkdir -p bin
	GOBIN="$(CURDIR)/bin/.staticcheck" $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv bin/.staticcheck/staticcheck $@ && rmdir bin/.staticcheck

lint: $(STATICCHECK)
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags tapline_testcmds ./...

test: deps fmt-check vet lint
	$(GO) test -race -count=1 -timeout 12m ./...
	$(MAKE) --no-print-directory fuzz-short

# Coverage-guided runs of every fuzz target (found by scripts/fuzz.sh, so a
# new one cannot be left out), one at a time, over the committed corpus in
# <pkg>/testdata/fuzz/. `make test` runs each for FUZZTIME (CI: about 1 min
# for all); `make fuzz` for FUZZTIME_LONG. Inputs that fail are written to
# testdata/fuzz/<FuzzX>/: commit them, go test replays them from then on.
FUZZTIME      ?= 3s
FUZZTIME_LONG ?= 30s

fuzz:
	GO="$(GO)" FUZZTIME=$(FUZZTIME_LONG) ./scripts/fuzz.sh

fuzz-short:
	GO="$(GO)" FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

# Micro-benchmarks, next to the code they measure.
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The standard comparison of issue 5: tapline vs the gnet floor vs Redis vs
# HAProxy (each started on loopback when installed; skipped peers are named
# in the report), written to bench/results/latest.{md,json,png} and
# docs/PERFORMANCE.md.
# test_blob (the 1 MiB reply) needs the tapline_testcmds build.
BENCH_POINT ?= 2s
bench:
	$(GO) build -ldflags "$(LDFLAGS)" -tags tapline_testcmds -o bin/tapline-bench ./cmd/tapline
	./bin/tapline-bench bench --standard --tapline-bin bin/tapline-bench --out bench/results --doc docs/PERFORMANCE.md --point $(BENCH_POINT)

# Redraw bench/results/latest.{md,png} and docs/PERFORMANCE.md from the saved
# bench/results/latest.json, measuring nothing (after a change to the report).
bench-report:
	$(GO) run ./cmd/tapline bench --report-from bench/results/latest.json --out bench/results --doc docs/PERFORMANCE.md

# Regenerate docs/COMMANDS.md from the command table and docs/CONFIG.md from
# the config key table.
docs:
	$(GO) test ./commands/ -run TestCommandsDoc -update
	$(GO) test ./config/ -run TestConfigDoc -update

clean:
	rm -rf bin $(RUNDIR)
