# Two commands do all the set-up: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-fast lint eval bench browser clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[model,dev]'
	touch $(STAMP)

# Debian's Chromium for the browser tests (no browser download at run time).
browser:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; }

run: install
	$(BIN)/assistant ingest --if-empty data/sample
	$(BIN)/assistant serve --host $(HOST) --port $(PORT)

test: install browser
	$(BIN)/python -m pytest -q
	$(BIN)/assistant eval --suite ci --backend extractive --report var/eval-ci

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check assistant ingest prompts ui evals tests benchmarks
	$(BIN)/mypy assistant ingest prompts ui evals

eval: install
	$(BIN)/assistant eval --suite full --backend local --report var/eval-full

bench: install
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_query.py
	$(BIN)/python benchmarks/bench_load.py
	$(BIN)/python benchmarks/bench_bm25.py
	$(BIN)/python benchmarks/bench_scale.py

clean:
	rm -rf $(VENV) var .pytest_cache
