# Sourced by cluster.sh, bench-prod.sh and bench-soak-pg.sh: starts, on
# loopback, a HashiCorp Vault dev server with Transit and an AppRole holding
# checkoutd's policy (start_vault), and a private PostgreSQL cluster
# (start_postgres), and exports the CHECKOUT_* settings that point checkoutd
# at them; start_services starts both. The caller provides $work (a
# temporary directory), the pids array and a cleanup trap that calls
# stop_services.

VAULT_PORT=${VAULT_PORT:-8200}
PG_PORT=${PG_PORT:-5440}
pgbin=$(ls -d /usr/lib/postgresql/*/bin | tail -1)

start_services() {
  start_vault
  start_postgres
}

start_vault() {
  local vault_bin
  vault_bin=$(.ci/vault.sh)
  echo "services: Vault on 127.0.0.1:$VAULT_PORT" >&2
  export VAULT_ADDR=http://127.0.0.1:$VAULT_PORT
  VAULT_ROOT_TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  export VAULT_TOKEN=$VAULT_ROOT_TOKEN
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
  export CHECKOUT_KEK=transit CHECKOUT_VAULT_ADDR=$VAULT_ADDR
  export CHECKOUT_VAULT_ROLE_ID_FILE="$work/role_id" CHECKOUT_VAULT_SECRET_ID_FILE="$work/secret_id"
  unset VAULT_TOKEN # checkoutd authenticates with its AppRole only
}

start_postgres() {
  echo "services: PostgreSQL on 127.0.0.1:$PG_PORT" >&2
  mkdir -p "$work/pg" && chown postgres "$work" "$work/pg"
  runuser -u postgres -- "$pgbin/initdb" -D "$work/pg" -A trust -U postgres >/dev/null
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $work" start >/dev/null
  runuser -u postgres -- "$pgbin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres checkout
  export CHECKOUT_STORE=postgres CHECKOUT_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/checkout?sslmode=disable"
}

stop_services() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$work/pg/postmaster.pid" ] && runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
