#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, and nothing
# when it is already there: headless Chromium for the browser tests,
# PostgreSQL's server binaries (the tests run private clusters of their own),
# nginx (the proxy in front of two instances in the proxy test), npm's
# axe-core (the accessibility check in the browser), and a real HashiCorp
# Vault server built from the Go module proxy.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v npm >/dev/null 2>&1 || need+=(npm)

if ((${#need[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing ${need[*]}; run as root or install them: apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "deps: installing ${need[*]} from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
echo "deps: chromium $(chromium --version 2>/dev/null | awk '{print $2}')" >&2
echo "deps: postgresql $(ls -d /usr/lib/postgresql/*/ | tail -1)" >&2
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
echo "deps: $("$nginx_bin" -v 2>&1)" >&2
# axe-core, pinned: cmd/checkoutd/a11y_test.go's axeVersion.
axe_version=4.11.0
axe_dir="${XDG_CACHE_HOME:-$HOME/.cache}/hostedcheckout/axe-core-$axe_version"
if [ ! -f "$axe_dir/node_modules/axe-core/axe.min.js" ]; then
  npm install --prefix "$axe_dir" --no-audit --no-fund --no-save "axe-core@$axe_version" >/dev/null
fi
echo "deps: axe-core $axe_version" >&2
echo "deps: vault $("$(dirname "$0")/vault.sh")" >&2
