#!/usr/bin/env bash
# Builds HashiCorp Vault's own server from the Go module proxy (a separate
# module in .ci/vaultserver, so the product's go.mod stays clean) and caches
# the binary. The first build takes about ten minutes on two cores.
# Prints the binary's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${VAULT_BIN:-$HOME/.cache/hostedcheckout/vault-1.21.0}
if [ ! -x "$bin" ]; then
  echo "deps: building the Vault server for tests into $bin (first time only, ~10 min)" >&2
  mkdir -p "$(dirname "$bin")"
  (cd "$here/vaultserver" && go build -o "$bin.tmp" .)
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
