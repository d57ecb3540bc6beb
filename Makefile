GO       ?= go
BUILD    := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X tapline/version.Build=$(BUILD)
RUNDIR   := run

.PHONY: all build run deps test vet fmt-check fuzz bench bench-micro docs clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/tapline ./cmd/tapline

# The main job on embedded defaults: TCP 127.0.0.1:5029 plus a Unix socket
# under ./run, replaying the bundled sipp capture in a loop so listcalls shows
# live calls at once. No Redis, no root.
run: build
	@mkdir -p $(RUNDIR)
	./bin/tapline serve --managersocket $(RUNDIR)/tapline.sock \
		--replay testdata/demo.pcapng --replay-loop --sipport 5060-5072

deps:
	@./scripts/deps.sh

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) vet -tags tapline_testcmds ./...

test: deps fmt-check vet
	$(GO) test -race -count=1 -timeout 12m ./...

# Short coverage-guided runs of every fuzz target.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzNextLine$$' -fuzztime 30s ./server/
	$(GO) test -run '^$$' -fuzz '^FuzzJSONArgs$$' -fuzztime 30s ./commands/
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime 30s ./config/
	$(GO) test -run '^$$' -fuzz '^FuzzLegacyFrame$$' -fuzztime 30s ./crypto/
	$(GO) test -run '^$$' -fuzz '^FuzzHardenedOpen$$' -fuzztime 30s ./crypto/
	$(GO) test -run '^$$' -fuzz '^FuzzHardenedRoundTrip$$' -fuzztime 30s ./crypto/
	$(GO) test -run '^$$' -fuzz '^FuzzReplayCache$$' -fuzztime 30s ./crypto/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 30s ./sip/
	$(GO) test -run '^$$' -fuzz '^FuzzMembers$$' -fuzztime 30s ./jsonobj/
	$(GO) test -run '^$$' -fuzz '^FuzzMessageLen$$' -fuzztime 30s ./sip/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 30s ./capture/
	$(GO) test -run '^$$' -fuzz '^FuzzTCPReassembly$$' -fuzztime 30s ./capture/
	$(GO) test -run '^$$' -fuzz '^FuzzHEP$$' -fuzztime 30s ./capture/
	$(GO) test -run '^$$' -fuzz '^FuzzListParams$$' -fuzztime 30s ./state/
	$(GO) test -run '^$$' -fuzz '^FuzzAppendString$$' -fuzztime 30s ./state/

# Micro-benchmarks, next to the code they measure.
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The standard comparison of issue 5: tapline vs the gnet floor vs Redis vs
# HAProxy (each started on loopback when installed; skipped peers are named
# in the report), written to bench/results/latest.{md,json,png}.
# test_blob (the 1 MiB reply) needs the tapline_testcmds build.
BENCH_POINT ?= 2s
bench:
	$(GO) build -ldflags "$(LDFLAGS)" -tags tapline_testcmds -o bin/tapline-bench ./cmd/tapline
	./bin/tapline-bench bench --standard --tapline-bin bin/tapline-bench --out bench/results --point $(BENCH_POINT)

# Regenerate docs/COMMANDS.md from the command table.
docs:
	$(GO) test ./commands/ -run TestCommandsDoc -update

clean:
	rm -rf bin $(RUNDIR)
