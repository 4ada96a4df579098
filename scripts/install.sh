#!/usr/bin/env bash
# `make install`: installs what is missing for development (venv, OS packages, npm packages), fast when warm.
#
# Each step is skipped when its stamp under .venv/.stamps/ matches the hash of the files it was built from,
# so a warm run costs a few hashes. Options: --bench also installs wrk and node-oidc-provider (P3's
# baseline); --browser Chromium and its WebDriver (for the browser tests); --force ignores the stamps.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
STAMPS="$VENV/.stamps"
PYTHON="${PYTHON:-python3.11}"
BENCH=0
BROWSER=0
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --bench) BENCH=1 ;;
    --browser) BROWSER=1 ;;
    --force) FORCE=1 ;;
    -h | --help)
      echo "usage: scripts/install.sh [--bench] [--browser] [--force]"
      exit 0
      ;;
    *)
      echo "install: unknown option $arg" >&2
      exit 2
      ;;
  esac
done

export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

say() { printf '==> %s\n' "$*"; }
die() {
  printf 'install: %s\n' "$*" >&2
  exit 1
}

# The hash of a set of files (names and contents); missing files simply do not count.
files_hash() {
  local file
  for file in "$@"; do
    if [[ -f "$file" ]]; then
      printf '%s\n' "$file"
      cat "$file"
    fi
  done | sha256sum | cut -d' ' -f1
}

stamp_ok() { [[ $FORCE -eq 0 && -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp_write() {
  mkdir -p "$STAMPS"
  printf '%s\n' "$2" >"$STAMPS/$1"
}

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found: install $* with your OS package manager"
  # Keep package scripts from starting system-wide daemons (a system RabbitMQ would hold port 5672).
  local policy=/usr/sbin/policy-rc.d ours=0
  if [[ ! -e $policy ]]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy"
    ours=1
  fi
  if [[ $APT_UPDATED -eq 0 ]]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  local status=0
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" || status=$?
  if [[ $ours -eq 1 ]]; then as_root rm -f "$policy"; fi
  [[ $status -eq 0 ]] || die "apt-get install $* failed"
}

# --- OS packages ----------------------------------------------------------------------------------------

rabbitmq_script() {
  # The package's own script (not the /usr/sbin wrapper, which switches to the rabbitmq user).
  local path
  path=$(dpkg -L rabbitmq-server 2>/dev/null | grep -E '/bin/rabbitmq-server$' | grep -v /sbin/ | head -n1 || true)
  [[ -n $path && -x $path ]] && echo "$path"
}

if [[ -z "$(rabbitmq_script)" ]]; then
  apt_install rabbitmq-server
  [[ -n "$(rabbitmq_script)" ]] || die "rabbitmq-server installed but its bin/rabbitmq-server script was not found"
fi

if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! command -v initdb >/dev/null; then
  # The test suite starts its own PostgreSQL cluster from the server binaries.
  apt_install postgresql
fi

# The gateway's tests run its shared store (sessions, refresh outcomes) on a real Redis, production's
# backend (gateway/tests/redis_server.py starts a private one); the package's own daemon stays off.
if ! command -v redis-server >/dev/null; then
  apt_install redis-server
fi

if [[ $BENCH -eq 1 ]] && ! command -v wrk >/dev/null; then
  apt_install wrk
fi

# The browser tests (tests/test_browser_*.py) drive Debian's Chromium through its WebDriver.
if [[ $BROWSER -eq 1 ]] && ! { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }; then
  apt_install chromium chromium-driver
fi

command -v npm >/dev/null || apt_install nodejs npm

# --- Python ---------------------------------------------------------------------------------------------

mapfile -t SERVICE_DIRS < <(find services -mindepth 2 -maxdepth 2 -name pyproject.toml -printf '%h\n' | sort)
PY_INPUTS=(libs/polis/pyproject.toml requirements-dev.txt)
for dir in "${SERVICE_DIRS[@]}"; do PY_INPUTS+=("$dir/pyproject.toml"); done
[[ -f gateway/pyproject.toml ]] && PY_INPUTS+=(gateway/pyproject.toml)
# The partner demos (examples/<name>/pyproject.toml), started by `make run` and the cross-service tests.
mapfile -t EXAMPLE_DIRS < <(find examples -mindepth 2 -maxdepth 2 -name pyproject.toml -printf '%h\n' 2>/dev/null | sort)
for dir in "${EXAMPLE_DIRS[@]}"; do PY_INPUTS+=("$dir/pyproject.toml"); done

if [[ ! -x "$VENV/bin/python" ]]; then
  command -v "$PYTHON" >/dev/null || PYTHON=python3
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "$PYTHON is older than 3.11; set PYTHON=/path/to/python3.11"
  say "creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv "$VENV" || die "python -m venv failed (Debian: apt-get install python3-venv)"
  rm -rf "$STAMPS"
fi

py_hash=$(files_hash "${PY_INPUTS[@]}")
if ! stamp_ok python "$py_hash"; then
  say "installing Python packages into .venv"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # polis[testing]: the test fixtures and the development stack (scripts/run.py, tests/support import them).
  pip_args=(-e "libs/polis[postgres,testing]")
  for dir in "${SERVICE_DIRS[@]}"; do pip_args+=(-e "$dir"); done
  [[ -f gateway/pyproject.toml ]] && pip_args+=(-e gateway)
  for dir in "${EXAMPLE_DIRS[@]}"; do pip_args+=(-e "$dir"); done
  pip_args+=(-r requirements-dev.txt)
  printf '    pip install %s\n' "${pip_args[*]}"
  "$VENV/bin/python" -m pip install --quiet "${pip_args[@]}"
  stamp_write python "$py_hash"
fi

# --- npm: the dev mailbox and the gateway's front-end assets -------------------------------------------

npm_install() { # dir
  if [[ -f "$1/package-lock.json" ]]; then
    say "npm ci in $1"
    (cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
  else
    say "npm install in $1 (no package-lock.json)"
    (cd "$1" && npm install --no-audit --no-fund --loglevel=error)
  fi
}

maildev_hash=$(files_hash tools/maildev/package.json tools/maildev/package-lock.json)
if ! stamp_ok maildev "$maildev_hash" || [[ ! -x tools/maildev/node_modules/.bin/maildev ]]; then
  npm_install tools/maildev
  stamp_write maildev "$maildev_hash"
fi

# --bench: node-oidc-provider, the baseline of P3 (tests/bench/p3_grants.py).
if [[ $BENCH -eq 1 ]]; then
  oidc_bench_hash=$(files_hash tools/oidc-provider-bench/package.json tools/oidc-provider-bench/package-lock.json)
  if ! stamp_ok oidc-provider-bench "$oidc_bench_hash" ||
    [[ ! -d tools/oidc-provider-bench/node_modules/oidc-provider ]]; then
    npm_install tools/oidc-provider-bench
    stamp_write oidc-provider-bench "$oidc_bench_hash"
  fi
fi

if [[ -f gateway/package.json ]]; then
  mapfile -t asset_inputs < <(find gateway/package.json gateway/package-lock.json gateway/scripts -type f 2>/dev/null | sort)
  assets_hash=$(files_hash "${asset_inputs[@]}")
  if ! stamp_ok gateway-assets "$assets_hash" || [[ ! -d gateway/node_modules ]]; then
    npm_install gateway
    say "npm run assets in gateway"
    (cd gateway && npm run --silent assets)
    stamp_write gateway-assets "$assets_hash"
  fi
else
  say "gateway/package.json not found: skipping the gateway's front-end assets"
fi

# --- translations ---------------------------------------------------------------------------------------

# Every gettext catalog: the shared layout's (polis.ui), the gateway's and each service's (<pkg>/translations).
mapfile -t TRANSLATION_DIRS < <(
  find libs/polis/polis/ui gateway/gateway services -path '*/node_modules' -prune -o \
    -type d -name translations -print 2>/dev/null | sort
)
for dir in "${TRANSLATION_DIRS[@]}"; do
  mapfile -t catalogs < <(find "$dir" -name '*.po' | sort)
  [[ ${#catalogs[@]} -gt 0 ]] || continue
  mo_missing=0
  for po in "${catalogs[@]}"; do [[ -f "${po%.po}.mo" ]] || mo_missing=1; done
  po_hash=$(files_hash "${catalogs[@]}")
  stamp="translations-$(printf '%s' "$dir" | tr '/' '-')"
  if ! stamp_ok "$stamp" "$po_hash" || [[ $mo_missing -eq 1 ]]; then
    say "compiling translations in $dir"
    "$VENV/bin/pybabel" compile --statistics -d "$dir"
    stamp_write "$stamp" "$po_hash"
  fi
done

say "install: up to date"
