# The two commands a new user runs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: `make run` installs what running needs; the test tools (pytest, mypy, playwright,
# ...) come only with the targets that use them.
RUN_STAMP := $(VENV)/.run-stamp
TEST_STAMP := $(VENV)/.test-stamp
PG_TEST_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
# Extra flags for `dockyard serve`, e.g. `make run ARGS="--port 5001"`.
ARGS ?=
# pytest processes (pytest-xdist). More than the 2 cores CI has: most of a test's time is spent
# waiting on the servers, clients and browsers it starts, not on its own CPU. Each module's tests
# stay in one process (--dist loadscope), so a module's shared server starts once.
TEST_JOBS ?= 4
PYTEST := $(BIN)/pytest -q -p no:cacheprovider -n $(TEST_JOBS) --dist loadscope

.PHONY: run test test-sqlite test-postgres lint system-deps install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(TEST_STAMP) $(RUN_STAMP)

install: $(RUN_STAMP)

## Install and start the registry with its embedded defaults (SQLite + ./dockyard-data).
run: $(RUN_STAMP)
	$(BIN)/dockyard serve $(ARGS)

system-deps:
	./scripts/install-system-deps.sh

lint: $(TEST_STAMP)
	$(BIN)/ruff check dockyard tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test-sqlite: $(TEST_STAMP)
	$(PYTEST)

test-postgres: $(TEST_STAMP)
	./scripts/ensure-postgres.sh
	DOCKYARD_TEST_DATABASE_URL=$(PG_TEST_URL) $(PYTEST) -m "not browser"

## Install everything the tests need (Debian packages included) and run the whole suite,
## on SQLite and again on PostgreSQL.
test: system-deps $(TEST_STAMP) lint test-sqlite test-postgres

## Benchmarks (not tests): print figures, side by side with docker-registry for the registry.
bench: system-deps $(TEST_STAMP)
	$(BIN)/python bench/registry.py
	$(BIN)/python bench/webhooks.py
	$(BIN)/python bench/scan.py

clean:
	rm -rf $(VENV) dockyard-data .mypy_cache .ruff_cache
