# The chat site's everyday commands. `make run` and `make test` work on a fresh clone
# with only Python 3.11: they create .venv and install what they need.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
RUFF := $(VENV)/bin/ruff
HOST ?= 127.0.0.1
PORT ?= 8000
N ?= 2
POSTGRES_TEST_URL ?= postgres://postgres@127.0.0.1:5432/test
# Only `make run` is a development command and defaults to DEBUG on; run-cluster
# runs like production (DEBUG off unless asked, so it needs a SECRET_KEY).
RUN_ENV := DEBUG=$${DEBUG:-true}
CLUSTER_ENV := DEBUG=$${DEBUG:-false}

.PHONY: help run run-cluster test test-fast lint fmt bench bench-quick bench-search clean

help:
	@echo "make run          serve the site on http://$(HOST):$(PORT)/ (creates .venv, migrates)"
	@echo "make run-cluster  N=$(N) daphne processes on ports 8001.. sharing REDIS_URL (DEBUG off: set SECRET_KEY)"
	@echo "make test         lint, DB-level tests on PostgreSQL, then the whole suite on SQLite"
	@echo "make test-fast    the suite without slow, browser and child-process tests"
	@echo "make lint | fmt   ruff check and format"
	@echo "make bench        the benchmark suite, then search over 1,000,000 messages (bench-quick: a short run)"
	@echo "make bench-search only the search benchmark (bench/search.py)"
	@echo "make clean        remove caches and leftover test databases"

# --- environment -------------------------------------------------------------------

$(VENV)/.installed: requirements.txt
	@test -n "$(PYTHON)" || { echo "make: Python 3.11 is needed (python3.11 not found)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "make: $(PYTHON) is older than Python 3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# --- serving -----------------------------------------------------------------------

run: $(VENV)/.installed
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	@echo
	@echo "  Chat:   http://$(HOST):$(PORT)/"
	@echo "  Admin:  http://$(HOST):$(PORT)/admin/"
	@echo "  Create an admin user (in another terminal):  DEBUG=true $(PY) manage.py createsuperuser"
	@echo
	$(RUN_ENV) $(PY) -m chatsite.serve --host $(HOST) --port $(PORT)

# N processes on one machine share rooms through Redis (default DB 0 of the local one).
run-cluster: $(VENV)/.installed
	$(CLUSTER_ENV) $(PY) manage.py migrate --noinput
	@export $(CLUSTER_ENV) REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0}; \
	pids=(); \
	trap 'kill $${pids[@]} 2>/dev/null; wait; exit 0' INT TERM; \
	for i in $$(seq 1 $(N)); do \
		port=$$((8000 + i)); \
		$(PY) -m chatsite.serve --host $(HOST) --port $$port & pids+=($$!); \
		echo "  process $$i: http://$(HOST):$$port/  (pid $$!)"; \
	done; \
	echo "  $(N) processes sharing REDIS_URL=$$REDIS_URL; Ctrl-C stops them all"; \
	wait

# --- quality -----------------------------------------------------------------------

lint: $(VENV)/.installed-dev
	$(RUFF) check .
	$(RUFF) format --check .

fmt: $(VENV)/.installed-dev
	$(RUFF) format .
	$(RUFF) check --fix .

# The DB-level tests (marked `postgres`) run on PostgreSQL first; the whole suite on
# SQLite runs last so its summary line closes the output. Without a PostgreSQL
# server they skip with the reason (and fail with CI=true).
# PYTHONWARNINGS=default also prints ResourceWarnings at interpreter exit, after
# pytest's summary: the summary line is repeated so that it closes the output.
# The SQLite part runs in TEST_WORKERS pytest-xdist processes, a test file per worker
# at a time (module fixtures such as the browser stay one per file). Each worker has
# its own SQLite file, Redis database number and ports. Two workers by default: about
# 6 minutes on a 2-core machine instead of 9; TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: lint
	PYTHONWARNINGS=default DATABASE_URL=$(POSTGRES_TEST_URL) env -u REDIS_URL \
		$(PY) -m pytest -q -m postgres -p no:cacheprovider
	@log=$$(mktemp); set -o pipefail; \
	echo "PYTHONWARNINGS=default $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile"; \
	PYTHONWARNINGS=default env -u REDIS_URL -u DATABASE_URL \
		$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile 2>&1 | tee $$log; \
	status=$$?; \
	grep -E '(passed|failed|errors?|skipped|deselected|no tests ran).* in [0-9.]+s' $$log | tail -1; \
	rm -f $$log; exit $$status

test-fast: $(VENV)/.installed-dev
	env -u REDIS_URL -u DATABASE_URL $(PY) -m pytest -q -x -m "not slow and not browser and not processes"

# --- benchmarks (bench/ writes its report under docs/benchmarks/) ----------------------

bench: $(VENV)/.installed-dev
	$(PY) -m bench.run
	$(PY) -m bench.search

bench-search: $(VENV)/.installed-dev
	$(PY) -m bench.search

bench-quick: $(VENV)/.installed-dev
	$(PY) -m bench.run --quick

clean:
	rm -rf .pytest_cache .ruff_cache staticfiles
	rm -f .test-db*
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
