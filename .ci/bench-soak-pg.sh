#!/usr/bin/env bash
# The soak (make bench-soak) on PostgreSQL: a private cluster on loopback
# (.ci/services.sh's start_postgres) and the local key file, not Vault
# Transit, which the soak does not measure. One database for the whole run;
# the driver prints each slice's throughput and server CPU per checkout,
# then the counter tables' rows and pg_database_size.
set -euo pipefail
cd "$(dirname "$0")/.."
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "bench-soak-pg: PostgreSQL's server binaries are missing (.ci/deps.sh installs them)" >&2; exit 1; }
work=$(mktemp -d /tmp/checkout-soak.XXXXXX)
pids=()
PG_PORT=${PG_PORT:-5446} # not the tests' or bench-prod's 5440: they may run beside it
make -s build
source .ci/services.sh
trap stop_services EXIT INT TERM
start_postgres
go run ./cmd/checkoutload -binary bin/checkoutd -n "${SOAK_N:-200000}" -slice "${SOAK_SLICE:-20000}" \
  -c "${SOAK_C:-16}" -max-duration "${SOAK_MAX_DURATION:-90m}"
