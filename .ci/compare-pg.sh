#!/usr/bin/env bash
# compare.sh's side by side on PostgreSQL: the reference floor committing one
# row per step to PostgreSQL (../shared/bench/floor, serve -pg) and checkoutd
# on PostgreSQL (with the local key file: the floor has no Vault either),
# each on a database of its own in one private cluster on loopback
# (.ci/services.sh), both driven by the floor's driver with the same flow,
# ROUNDS times in turn (the machine's speed drifts within minutes). Prints
# each run's line and, per round, checkoutd's throughput and CPU against the
# floor's. Usage: make compare-pg [BENCH_N=2000 BENCH_C=16 ROUNDS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
floor_src=${FLOOR_SRC:-../shared/bench/floor}
[ -d "$floor_src" ] || { echo "compare-pg: no floor at $floor_src (set FLOOR_SRC)" >&2; exit 1; }
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "compare-pg: PostgreSQL's server binaries are missing (.ci/deps.sh installs them)" >&2; exit 1; }
n=${BENCH_N:-2000}
c=${BENCH_C:-16}
rounds=${ROUNDS:-3}
work=$(mktemp -d /tmp/checkout-cmp-pg.XXXXXX)
pids=()
PG_PORT=${PG_PORT:-5447} # apart from the tests', bench-prod's and the soak's clusters
source .ci/services.sh
trap stop_services EXIT INT TERM
(cd "$floor_src" && go build -o "$work/floor" .)
CGO_ENABLED=0 go build -trimpath -o "$work/checkoutd" ./cmd/checkoutd
start_postgres
runuser -u postgres -- "$pgbin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres floor
floor_url="postgres://postgres@127.0.0.1:$PG_PORT/floor?sslmode=disable"

wait_up() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }
field() { sed -n "$1" "$2" | head -1; }

# Each run: a fresh server, a warm-up of 200, then n measured checkouts.
run_floor() {
  "$work/floor" serve -addr 127.0.0.1:19180 -pg "$floor_url" >"$work/floor.srv" 2>&1 &
  local pid=$!
  pids+=($pid)
  wait_up http://127.0.0.1:19180/ || { echo "compare-pg: the floor did not start: $(tail -3 "$work/floor.srv")" >&2; exit 1; }
  "$work/floor" drive -url http://127.0.0.1:19180 -pid $pid -n 200 -c "$c" >/dev/null
  "$work/floor" drive -url http://127.0.0.1:19180 -pid $pid -from 1000 -n "$n" -c "$c" >"$work/floor.out"
  kill $pid; wait $pid 2>/dev/null || true
}
run_checkoutd() { # round
  CHECKOUT_LIMIT_MERCHANT=0 "$work/checkoutd" serve -addr 127.0.0.1:19190 -demo-addr 127.0.0.1:19191 \
    -demo-url http://127.0.0.1:19191 -base-url http://127.0.0.1:19190 -data-dir "$work/data" \
    -log-level warn >"$work/co.srv" 2>&1 &
  local pid=$!
  pids+=($pid)
  wait_up http://127.0.0.1:19190/healthz || { echo "compare-pg: checkoutd did not start: $(tail -3 "$work/co.srv")" >&2; exit 1; }
  local key from=$((1000 + $1 * (n + 1000)))
  key=$(grep -oE 'sk_[A-Za-z0-9_]+' "$work/co.srv" | head -1)
  "$work/floor" drive -url http://127.0.0.1:19190 -key "$key" -return-url http://127.0.0.1:19191/done -pid $pid \
    -from $((from - 500)) -n 200 -c "$c" >/dev/null
  "$work/floor" drive -url http://127.0.0.1:19190 -key "$key" -return-url http://127.0.0.1:19191/done -pid $pid \
    -from "$from" -n "$n" -c "$c" >"$work/co.out"
  kill $pid; wait $pid 2>/dev/null || true
}

for r in $(seq "$rounds"); do
  run_floor
  run_checkoutd "$r"
  echo "round $r floor-postgres: $(head -1 "$work/floor.out"); $(tail -1 "$work/floor.out")"
  echo "round $r checkoutd-postgres: $(head -1 "$work/co.out"); $(tail -1 "$work/co.out")"
  grep -h error "$work/floor.out" "$work/co.out" | head -5 || true
  ft=$(field 's/.*; \([0-9.]*\)\/s;.*/\1/p' "$work/floor.out"); ct=$(field 's/.*; \([0-9.]*\)\/s;.*/\1/p' "$work/co.out")
  fc=$(field 's/.*server cpu per checkout: \([0-9.]*\) ms.*/\1/p' "$work/floor.out")
  cc=$(field 's/.*server cpu per checkout: \([0-9.]*\) ms.*/\1/p' "$work/co.out")
  python3 -c "print(f'round $r checkoutd vs PostgreSQL floor: throughput {float(${ct:-0})/float(${ft:-1}):.2f}x, CPU per checkout {float(${cc:-99})/float(${fc:-1}):.2f}x')"
done
