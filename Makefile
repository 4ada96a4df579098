# Developer commands of Polis; `make` alone lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

VENV := .venv
BIN := $(VENV)/bin
MYPY_TARGETS := libs/polis/polis $(wildcard services/*/*/__init__.py) gateway/gateway \
                scripts/devstack.py scripts/run.py tests/support \
                examples/pagoinrete_demo/pagoinrete_demo

# Extra pytest arguments, e.g. make test-unit PYTEST_ARGS="-k sealing -x"
PYTEST_ARGS ?=

.PHONY: help
help: ## Show this list of targets
	@awk 'BEGIN {FS = ":.*## "; printf "Polis developer commands (make <target>):\n\n"} \
	     /^[a-zA-Z0-9_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: install
install: ## Install what is missing: .venv, RabbitMQ, npm packages, translations (fast when warm)
	@scripts/install.sh

.PHONY: run
run: install ## Start RabbitMQ, MailDev, the four services, the gateway and the partner demo; Ctrl-C stops all
	@$(BIN)/python scripts/run.py

.PHONY: test
test: ## Run the whole suite: libs, services, gateway and the cross-service tests (with a real browser)
	@scripts/install.sh --browser
	@scripts/test.sh all $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: install ## Run the fast tests: libs/polis, each service's and the gateway's unit/interface tests
	@scripts/test.sh unit $(PYTEST_ARGS)

.PHONY: test-e2e
test-e2e: ## Run the cross-service tests under tests/ (real processes, a real browser)
	@scripts/install.sh --browser
	@scripts/test.sh e2e $(PYTEST_ARGS)

.PHONY: lint
lint: install ## Check style and types: ruff check, ruff format --check, mypy
	@status=0; \
	echo "==> ruff check"; $(BIN)/ruff check . || status=1; \
	echo "==> ruff format --check"; $(BIN)/ruff format --check . || status=1; \
	echo "==> mypy"; $(BIN)/mypy $(patsubst %/__init__.py,%,$(MYPY_TARGETS)) || status=1; \
	exit $$status

.PHONY: format
format: install ## Rewrite the code in the project's style (ruff format, ruff check --fix)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: bench
bench: ## Run the benchmarks (tests/bench/run.py); installs wrk and node-oidc-provider when absent
	@scripts/install.sh --bench
	$(BIN)/python tests/bench/run.py

.PHONY: chaos
chaos: ## Run the long chaos test (kill -9s, broker restarts, a 60 s outage under load) and print its figures
	@scripts/install.sh
	CHAOS_PROFILE=long $(BIN)/pytest -p polis.testing.plugin -p no:logging -s -q tests/chaos $(PYTEST_ARGS)

# Cases per operation and phase of `make fuzz` (make test runs the same test with a small budget).
FUZZ_CASES ?= 200

.PHONY: fuzz
fuzz: install ## Fuzz every API document with schemathesis (FUZZ_CASES per operation); prints the figures
	@mkdir -p var; POLIS_FUZZ_CASES=$(FUZZ_CASES) POLIS_FUZZ_REPORT=var/fuzz-figures.txt \
	  $(BIN)/pytest -p polis.testing.plugin tests/fuzz -q -s -p no:logging $(PYTEST_ARGS)

.PHONY: migrate
migrate: install ## Apply every service's migrations to its development database
	@$(BIN)/python scripts/devstack.py migrate

.PHONY: clean
clean: ## Remove var/ (local data and logs) and caches; keeps .venv and node_modules
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
	find . -path ./.venv -prune -o -path '*/node_modules' -prune -o \
	  \( -name __pycache__ -o -name .pytest_cache \) -type d -print0 | xargs -0 rm -rf

.PHONY: distclean
distclean: clean ## Like clean, and also remove .venv and the npm packages
	rm -rf $(VENV) tools/maildev/node_modules gateway/node_modules
