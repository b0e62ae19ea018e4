# The two commands a new machine needs are `make run` and `make test`
# (README). Everything else here is for convenience.
GO ?= go
CHROME_PATH ?= /usr/bin/chromium
export CHROME_PATH

.PHONY: run test deps vet fuzz bench build cluster bench-prod lint-docker

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

# Full checkouts over HTTP against the running binary: throughput, p50, p99.
BENCH_N ?= 2000
BENCH_C ?= 16
bench: build
	$(GO) run ./cmd/checkoutload -binary bin/checkoutd -n $(BENCH_N) -c $(BENCH_C)

# compose.yaml's topology without containers: Vault, PostgreSQL, two
# instances behind nginx, on loopback.
cluster:
	.ci/cluster.sh

# The same benchmark on PostgreSQL and HashiCorp Vault Transit, with Vault
# calls per card and raw Transit encrypt throughput for comparison.
bench-prod: build
	BENCH_N=$(BENCH_N) BENCH_C=$(BENCH_C) .ci/bench-prod.sh

# No container engine runs here: the Dockerfile is linted, not built.
lint-docker:
	npx --yes dockerfile-utils@0.16.3 lint Dockerfile
