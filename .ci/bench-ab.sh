#!/usr/bin/env bash
# Two builds side by side in one run: checkoutd at BASE (a git revision) as
# A and at the working tree as B, each on a fresh SQLite database of its own,
# every defence at its default but the merchant limit (as compare.sh runs
# it), driven in turn by checkoutload for ROUNDS rounds of BENCH_N checkouts,
# each round with shoppers of its own. The machine's speed drifts within
# minutes; rounds taken in turn are what make A and B comparable.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${BASE:?BASE must name a git revision, e.g. BASE=HEAD~3}
rounds=${ROUNDS:-3}
n=${BENCH_N:-2000}
c=${BENCH_C:-16}
work=$(mktemp -d /tmp/checkout-ab.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  git worktree remove --force "$work/base" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

git worktree add --quiet --detach "$work/base" "$base"
(cd "$work/base" && CGO_ENABLED=0 go build -trimpath -o "$work/A" ./cmd/checkoutd)
CGO_ENABLED=0 go build -trimpath -o "$work/B" ./cmd/checkoutd
go build -o "$work/load" ./cmd/checkoutload

declare -A port pid key
for side in A B; do
  port[$side]=$([ "$side" = A ] && echo 19400 || echo 19410)
  p=${port[$side]}
  mkdir -p "$work/$side.data"
  CHECKOUT_LIMIT_MERCHANT=0 "$work/$side" serve -addr "127.0.0.1:$p" -demo-addr "127.0.0.1:$((p + 1))" \
    -demo-url "http://127.0.0.1:$((p + 1))" -base-url "http://127.0.0.1:$p" -data-dir "$work/$side.data" \
    -log-level warn >"$work/$side.log" 2>&1 &
  pid[$side]=$!
  pids+=("${pid[$side]}")
  for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$p/healthz" && break; sleep 0.1; done
  key[$side]=$(grep -oE 'sk_[A-Za-z0-9_]+' "$work/$side.log" | head -1)
  [ -n "${key[$side]}" ] || { echo "bench-ab: $side did not start: $(tail -3 "$work/$side.log")" >&2; exit 1; }
done

echo "A: $(git rev-parse --short "$base"), B: the working tree; $rounds rounds of $n checkouts, $c at once"
for r in $(seq "$rounds"); do
  for side in A B; do
    p=${port[$side]}
    out=$("$work/load" -url "http://127.0.0.1:$p" -key "${key[$side]}" -return-url "http://127.0.0.1:$((p + 1))/done" \
      -pid "${pid[$side]}" -from $((r * (n + 200))) -warmup 200 -n "$n" -c "$c" 2>"$work/load.err") ||
      { cat "$work/load.err" >&2; exit 1; }
    tput=$(sed -n 's/^throughput: \([0-9.]*\) checkouts\/s.*/\1/p' <<<"$out")
    cpu=$(sed -n 's/^server CPU: \([0-9.]*ms\) per checkout.*/\1/p' <<<"$out")
    met=$(sed -n 's/^checkouts that met a defence[^:]*: //p' <<<"$out")
    echo "round $r $side: $tput checkouts/s, $cpu of CPU per checkout; met a defence: $met"
  done
done
