# Every target runs through uv in the workspace's one virtual environment (.venv).
# `make` alone lists the targets; each `## ` comment below is its line in that list.

.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# uv installed by `make install` through pip lands in the user's bin, maybe not on PATH yet.
UV ?= $(shell command -v uv 2>/dev/null || echo "$$(python3 -m site --user-base)/bin/uv")
TEST_PATHS := libs services tests benchmarks/tests
MYPY_PATHS := libs/*/src services/*/src tools/src
PYTEST_ARGS ?=

.PHONY: uv-present help install dev test test-unit test-integration test-e2e lint fmt bench schemas \
	schemas-check clean

help: ## List the targets (this text)
	@echo "Usage: make <target>"
	@if [ -t 1 ]; then on=$$'\033[36m'; off=$$'\033[0m'; else on=; off=; fi; \
	awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*## "} \
		/^[a-zA-Z0-9_-]+:.*## / {printf "  %s%-18s%s %s\n", on, $$1, off, $$2}' $(MAKEFILE_LIST)

install: ## Install uv if missing, then every package and dev tool into .venv (uv sync)
	@command -v "$(UV)" >/dev/null 2>&1 || python3 -m pip install --quiet --user uv \
		|| python3 -m pip install --quiet --user --break-system-packages uv
	"$(UV)" sync

dev: uv-present ## Start everything locally: PostgreSQL, broker, mail sink, the four services (Ctrl-C stops)
	"$(UV)" run billing-dev

test: uv-present ## Run all tests: unit, integration and end-to-end (real PostgreSQL and broker)
	"$(UV)" run pytest $(TEST_PATHS) $(PYTEST_ARGS)

test-unit: uv-present ## Run the unit tests only (no database, no broker)
	"$(UV)" run pytest $(TEST_PATHS) -m "not integration and not e2e" $(PYTEST_ARGS)

test-integration: uv-present ## Run the integration tests only (real PostgreSQL and broker)
	"$(UV)" run pytest $(TEST_PATHS) -m integration $(PYTEST_ARGS)

test-e2e: uv-present ## Run the end-to-end tests only (the whole system, the browser)
	"$(UV)" run pytest $(TEST_PATHS) -m e2e $(PYTEST_ARGS)

lint: uv-present ## Check: ruff lint, ruff format, mypy (strict for libs/events and the domain packages)
	@# All three run, so one report shows every problem; any failure fails the target.
	@status=0; \
	echo "ruff check"; "$(UV)" run ruff check . || status=1; \
	echo "ruff format --check"; "$(UV)" run ruff format --check . || status=1; \
	echo "mypy"; "$(UV)" run mypy $(MYPY_PATHS) || status=1; \
	exit $$status

fmt: uv-present ## Format the code and apply ruff's safe fixes
	"$(UV)" run ruff format .
	"$(UV)" run ruff check --fix .

bench: uv-present ## Run the benchmarks (results in benchmarks/results)
	@if [ -f benchmarks/__main__.py ]; then \
		"$(UV)" run python -m benchmarks; \
	else \
		echo "No benchmarks yet: benchmarks/__main__.py does not exist."; \
	fi

schemas: uv-present ## Regenerate the committed JSON Schemas and AsyncAPI of the event contract
	"$(UV)" run python -m billing_events.schema_export

schemas-check: uv-present ## Fail if the committed schemas differ from the models or changed incompatibly
	"$(UV)" run python -m billing_events.schema_export --check

uv-present:
	@command -v "$(UV)" >/dev/null 2>&1 || { echo "uv is not installed: run \`make install\` first."; exit 1; }

clean: ## Remove caches, build output and local dev data (.devstack: embedded PostgreSQL, logs)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .devstack dist
	find . -name __pycache__ -type d -not -path "./.venv/*" -prune -exec rm -rf {} +
