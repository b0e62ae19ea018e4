# The two commands a new machine needs are `make run` and `make test`
# (README). Everything else here is for convenience.
GO ?= go
CHROME_PATH ?= /usr/bin/chromium
export CHROME_PATH

.PHONY: run test deps vet fuzz bench bench-soak bench-soak-pg build cluster bench-prod bench-ab compare-pg lint-docker

run:
	$(GO) run ./cmd/checkoutd

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/checkoutd ./cmd/checkoutd

deps:
	.ci/deps.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

# The whole suite: unit, fuzz seed corpora, the real-Chromium browser test
# and the leak test. Installs what it needs first.
test: deps vet
	$(GO) test -count=1 -timeout 20m ./...

# A short coverage-guided run of every fuzz target (FUZZTIME each).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# Full checkouts over HTTP against the running binary, every defence on at
# its defaults (the benchmark merchant's limit raised), each checkout a
# shopper of its own, after BENCH_WARMUP unmeasured ones: throughput, p50,
# p99, checkoutd's CPU time per checkout, and how many met a defence.
BENCH_N ?= 2000
BENCH_C ?= 16
ROUNDS ?= 3
BENCH_WARMUP ?= 200
bench: build
	$(GO) run ./cmd/checkoutload -binary bin/checkoutd -n $(BENCH_N) -c $(BENCH_C) -warmup $(BENCH_WARMUP)

# The same for SOAK_N checkouts on one database (SQLite), measured per
# SOAK_SLICE: each slice's throughput and CPU per checkout, then the counter
# tables' rows and the database's size. Stops at SOAK_MAX_DURATION.
SOAK_N ?= 200000
SOAK_SLICE ?= 20000
SOAK_C ?= 16
SOAK_MAX_DURATION ?= 90m
bench-soak: build
	$(GO) run ./cmd/checkoutload -binary bin/checkoutd -n $(SOAK_N) -slice $(SOAK_SLICE) -c $(SOAK_C) \
	  -warmup $(BENCH_WARMUP) -max-duration $(SOAK_MAX_DURATION)

# The soak on a private PostgreSQL cluster (the local key file: the soak
# measures the store, not Vault).
bench-soak-pg: build
	SOAK_N=$(SOAK_N) SOAK_SLICE=$(SOAK_SLICE) SOAK_C=$(SOAK_C) SOAK_MAX_DURATION=$(SOAK_MAX_DURATION) .ci/bench-soak-pg.sh

# compose.yaml's topology without containers: Vault, PostgreSQL, two
# instances behind nginx, on loopback.
cluster:
	.ci/cluster.sh

# A revision against the working tree in one run, rounds taken in turn:
# make bench-ab BASE=HEAD~3 [ROUNDS=3 BENCH_N=2000 BENCH_C=16].
bench-ab:
	BASE=$(BASE) ROUNDS=$(ROUNDS) BENCH_N=$(BENCH_N) BENCH_C=$(BENCH_C) .ci/bench-ab.sh

# ../shared/bench/compare.sh's side by side on PostgreSQL: the floor and
# checkoutd on one private cluster, ROUNDS rounds taken in turn.
compare-pg:
	BENCH_N=$(BENCH_N) BENCH_C=$(BENCH_C) ROUNDS=$(ROUNDS) .ci/compare-pg.sh

# The same benchmark on PostgreSQL and HashiCorp Vault Transit (CPU per
# checkout is checkoutd's alone), with Vault calls per card and raw Transit
# encrypt throughput for comparison.
bench-prod: build
	BENCH_N=$(BENCH_N) BENCH_C=$(BENCH_C) .ci/bench-prod.sh

# No container engine runs here: the Dockerfile is linted, not built.
lint-docker:
	npx --yes dockerfile-utils@0.16.3 lint Dockerfile
