#!/usr/bin/env bash
# The topology of compose.yaml without containers, on loopback: a Vault
# server (dev mode, Transit + AppRole), a private PostgreSQL cluster, two
# checkoutd instances and nginx in front of them. Ctrl-C stops everything.
#   make cluster      then open http://localhost:8080 (demo shop: :8081)
set -euo pipefail
cd "$(dirname "$0")/.."

PROXY_PORT=${PROXY_PORT:-8080}
DEMO_PORT=${DEMO_PORT:-8081}
VAULT_PORT=${VAULT_PORT:-8200}
PG_PORT=${PG_PORT:-5440}
work=$(mktemp -d /tmp/checkout-cluster.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$work/pg/postmaster.pid" ] && runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

.ci/deps.sh
command -v nginx >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q nginx-light >/dev/null; }
vault_bin=$(.ci/vault.sh)
pgbin=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
make -s build

echo "cluster: Vault on 127.0.0.1:$VAULT_PORT"
export VAULT_ADDR=http://127.0.0.1:$VAULT_PORT VAULT_TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$vault_bin" server -dev -dev-root-token-id="$VAULT_TOKEN" -dev-listen-address=127.0.0.1:$VAULT_PORT >"$work/vault.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do "$vault_bin" status >/dev/null 2>&1 && break; sleep 0.2; done
"$vault_bin" secrets enable transit >/dev/null
"$vault_bin" write -f transit/keys/checkout type=aes256-gcm96 >/dev/null
bin/checkoutd kek policy | "$vault_bin" policy write checkoutd - >/dev/null
"$vault_bin" auth enable approle >/dev/null
"$vault_bin" write auth/approle/role/checkoutd token_policies=checkoutd token_no_default_policy=true token_ttl=1h >/dev/null
"$vault_bin" read -field=role_id auth/approle/role/checkoutd/role-id >"$work/role_id"
"$vault_bin" write -f -field=secret_id auth/approle/role/checkoutd/secret-id >"$work/secret_id"
chmod 0400 "$work/secret_id"

echo "cluster: PostgreSQL on 127.0.0.1:$PG_PORT"
mkdir -p "$work/pg" && chown postgres "$work" "$work/pg"
runuser -u postgres -- "$pgbin/initdb" -D "$work/pg" -A trust -U postgres >/dev/null
runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
  -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $work" start >/dev/null
runuser -u postgres -- "$pgbin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres checkout

export CHECKOUT_STORE=postgres CHECKOUT_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/checkout?sslmode=disable"
export CHECKOUT_KEK=transit CHECKOUT_VAULT_ROLE_ID_FILE="$work/role_id" CHECKOUT_VAULT_SECRET_ID_FILE="$work/secret_id"
export CHECKOUT_BASE_URL=http://localhost:$PROXY_PORT
unset VAULT_TOKEN # the instances authenticate with their AppRole only

bin/checkoutd serve -addr 127.0.0.1:8091 -demo-addr 127.0.0.1:$DEMO_PORT -demo-url http://localhost:$DEMO_PORT -data-dir "$work/a" &
pids+=($!)
sleep 1 # the first instance runs the migrations; the second waits on goose's lock anyway
bin/checkoutd serve -addr 127.0.0.1:8092 -demo-addr "" -data-dir "$work/b" >/dev/null &
pids+=($!)

cat >"$work/nginx.conf" <<NGINX
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events {}
http {
  access_log off;
  upstream checkout { server 127.0.0.1:8091 max_fails=1 fail_timeout=5s; server 127.0.0.1:8092 max_fails=1 fail_timeout=5s; }
  server {
    listen 127.0.0.1:$PROXY_PORT;
    client_max_body_size 32k;
    location / { proxy_pass http://checkout; proxy_set_header Host \$host; proxy_next_upstream error timeout http_502 http_503; }
  }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)
echo "cluster: checkout http://localhost:$PROXY_PORT (instances 127.0.0.1:8091, :8092), demo shop http://localhost:$DEMO_PORT; Ctrl-C stops"
wait
