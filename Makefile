# vpngw — build, test, benchmark.
#
#   make demo        the seed's topologies in a lab on this host, through the CLI (as root; Ctrl-C ends it)
#   make demo-check  the same once; exit 0 or 1 (part of make test)
#   make serve       build and run the control plane (vpngw serve) on 127.0.0.1:8480
#   make build       build bin/vpngw
#   make test        install missing Debian test packages (as root), go vet, every test
#   make portal-shots  regenerate docs/portal/*.png with the portal's browser test (root)
#   make fuzz        run every fuzz target for FUZZTIME (default 30s each)
#   make bench       data-plane and handshake benchmarks against baselines (root)
#                    SCALE="1000 10000" make bench: the scale mode instead
#                    TUNNELS=100 make bench: the same 100 TCP flows through 1 and through
#                      100 vpngw tunnels at once, raw ESP and UDP (aggregate ratio)
#                    GWOPS=100 make bench: vpngw serve with 100 connections on one
#                      gateway: create -> Connected, connection list (CLI and REST)
#                    P2S="1000 10000" make bench: point-to-site clients (certificates,
#                    pool addresses) against vpngw and strongSwan, connects/s, memory
#                    per client, time to first ping (docs/benchmarks.md "Point-to-site")
#                    BGP=1 make bench: agent start -> first packet on a BGP-learned route,
#                      withdraw/re-announce convergence, vpngw vs strongSwan + FRR
#   make bench-store API write latency and throughput, bbolt vs etcd, same run (needs etcd)
#
# Tests that need root, network namespaces or strongSwan fail (never skip)
# under `make test`, because it sets VPNGW_REQUIRE_PRIV=1.

GO        ?= go
BIN       ?= bin/vpngw
FUZZTIME  ?= 30s
TESTFLAGS ?=

.PHONY: all build serve demo demo-check test vet deps fuzz bench bench-store clean portal-shots

all: build

build:
	$(GO) build -o $(BIN) ./cmd/vpngw

serve: build
	./$(BIN) serve

demo: deps build
	VPNGW_BIN=$(CURDIR)/$(BIN) ./scripts/demo.sh

demo-check: deps build
	VPNGW_BIN=$(CURDIR)/$(BIN) ./scripts/demo.sh --check

deps:
	./scripts/install-deps.sh

vet:
	$(GO) vet ./...

test: deps vet build
	VPNGW_REQUIRE_PRIV=1 VPNGW_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 25m $(TESTFLAGS) ./...
	VPNGW_BIN=$(CURDIR)/$(BIN) ./scripts/demo.sh --check

# The same chromedp tests as in make test (internal/e2e/portal_test.go and
# devicecfg_test.go), writing their documentation screenshots.
portal-shots: deps build
	mkdir -p docs/portal
	VPNGW_REQUIRE_PRIV=1 VPNGW_BIN=$(CURDIR)/$(BIN) VPNGW_PORTAL_SHOTS=$(CURDIR)/docs/portal \
		$(GO) test -count=1 -timeout 15m -run '^(TestPortal|TestDeviceConfigStrongSwan)$$' ./internal/e2e/

fuzz:
	./scripts/fuzz-all.sh $(FUZZTIME)

bench: deps build
	./scripts/bench.sh

bench-store:
	$(GO) test -run '^$$' -bench BenchmarkAPIWrite -benchtime 3s ./internal/server/

clean:
	rm -rf bin
