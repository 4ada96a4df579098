#!/usr/bin/env bash
# `make test`, `make test-unit`, `make test-e2e`: run pytest over the chosen suites; zero tests is a failure.
#
# A few pytest sessions, each as its authors run it (default "prepend" import mode):
#   libs/polis/tests        alone: the shared package is tested as it ships, with no service installed around it
#   services/*/tests examples/*/tests tests  together: unique module names, one RabbitMQ and PostgreSQL
#   gateway/tests           from gateway/: run from the root, the folder gateway/ would shadow the package
# JUNIT_DIR=dir writes one JUnit report per session there (.ci/run uses it). Extra args go to pytest.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTEST="$ROOT/.venv/bin/pytest"
scope="${1:-all}"
shift || true

libs=0 gateway=0 shared_paths=()
case "$scope" in
  unit) libs=1 gateway=1 shared_paths=(services/*/tests examples/*/tests) ;;
  e2e) shared_paths=(tests) ;;
  all) libs=1 gateway=1 shared_paths=(services/*/tests examples/*/tests tests) ;;
  *)
    echo "usage: scripts/test.sh [unit|e2e|all] [pytest args]" >&2
    exit 2
    ;;
esac
[[ -d "$ROOT/gateway/tests" ]] || gateway=0

# Absolute before any session changes directory (the gateway's runs in gateway/).
if [[ -n "${JUNIT_DIR:-}" ]]; then
  mkdir -p "$JUNIT_DIR"
  JUNIT_DIR=$(cd "$JUNIT_DIR" && pwd)
fi

junit() { # name -> the --junitxml option, or nothing
  if [[ -n "${JUNIT_DIR:-}" ]]; then
    echo "--junitxml=$JUNIT_DIR/$1.xml"
  fi
}

failed=0
run() { # name dir paths...
  local name=$1 dir=$2 status=0
  shift 2
  echo "==> pytest ($name): $*"
  (cd "$dir" && "$PYTEST" -p polis.testing.plugin $(junit "$name") "$@") || status=$?
  if [[ $status -eq 5 ]]; then
    echo "test: pytest collected no tests in $name ($*): treated as a failure" >&2
    status=1
  fi
  [[ $status -eq 0 ]] || failed=$status
}

cd "$ROOT"
[[ $libs -eq 1 ]] && run polis "$ROOT" "$@" libs/polis/tests
run services "$ROOT" "$@" "${shared_paths[@]}"
[[ $gateway -eq 1 ]] && run gateway "$ROOT/gateway" "$@" tests
exit $failed
