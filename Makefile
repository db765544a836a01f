# The two commands a new user runs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PG_TEST_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

.PHONY: run test test-sqlite test-postgres lint system-deps install bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## Install and start the registry with its embedded defaults (SQLite + ./dockyard-data).
run: $(STAMP)
	$(BIN)/dockyard serve

system-deps:
	./scripts/install-system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check dockyard tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test-sqlite: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider

test-postgres: $(STAMP)
	./scripts/ensure-postgres.sh
	DOCKYARD_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -q -p no:cacheprovider -m "not browser"

## Install everything the tests need (Debian packages included) and run the whole suite,
## on SQLite and again on PostgreSQL.
test: system-deps $(STAMP) lint test-sqlite test-postgres

## Benchmarks (not tests): print figures, side by side with docker-registry for the registry.
bench: system-deps $(STAMP)
	$(BIN)/python bench/registry.py
	$(BIN)/python bench/webhooks.py

clean:
	rm -rf $(VENV) dockyard-data .mypy_cache .ruff_cache
