#!/usr/bin/env bash
# The topology of compose.yaml without containers, on loopback: a Vault
# server (dev mode, Transit + AppRole), a private PostgreSQL cluster, two
# checkoutd instances and nginx in front of them. Ctrl-C stops everything.
#   make cluster      then open http://localhost:8080 (demo shop: :8081)
set -euo pipefail
cd "$(dirname "$0")/.."

PROXY_PORT=${PROXY_PORT:-8080}
DEMO_PORT=${DEMO_PORT:-8081}
work=$(mktemp -d /tmp/checkout-cluster.XXXXXX)
pids=()
.ci/deps.sh
make -s build
source .ci/services.sh
trap stop_services EXIT INT TERM
start_services

export CHECKOUT_BASE_URL=http://localhost:$PROXY_PORT
# nginx connects to the instances from 127.0.0.2 (proxy_bind), the only
# peer whose X-Forwarded-For they believe.
export CHECKOUT_TRUSTED_PROXIES=127.0.0.2
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
    location / {
      proxy_pass http://checkout;
      proxy_bind 127.0.0.2;
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_next_upstream error timeout http_502 http_503;
    }
  }
}
NGINX
"$(command -v nginx || echo /usr/sbin/nginx)" -c "$work/nginx.conf" -p "$work" &
pids+=($!)
echo "cluster: checkout http://localhost:$PROXY_PORT (instances 127.0.0.1:8091, :8092), demo shop http://localhost:$DEMO_PORT; Ctrl-C stops"
wait
