#!/usr/bin/env bash
# The checkout benchmark on the production configuration: PostgreSQL and
# HashiCorp Vault Transit (both private, on loopback). It reports full
# checkout throughput and latency, Vault calls per card, and, from the same
# load generator, raw Transit encrypt throughput for comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/checkout-bench.XXXXXX)
pids=()
.ci/deps.sh
make -s build
source .ci/services.sh
trap stop_services EXIT INT TERM
start_services
go run ./cmd/checkoutload -binary bin/checkoutd -n "${BENCH_N:-2000}" -c "${BENCH_C:-16}" \
  -count-vault "$VAULT_ADDR" -transit-token "$VAULT_ROOT_TOKEN"
