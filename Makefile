# Two commands set everything up on a fresh Debian/Ubuntu machine:
#   make run    install what is missing, start PostGIS + the service with the sample data
#   make test   the same set-up, then ruff, mypy and pytest
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE := sample_data/.generated

.PHONY: help run test setup system browser venv sample lint typecheck pytest bench stop clean distclean

help:
	@echo "make run        start the service with the sample data at http://127.0.0.1:8000"
	@echo "make test       ruff, mypy and the whole test suite (against a throwaway PostGIS)"
	@echo "make stop       stop the managed PostgreSQL cluster"
	@echo "make clean      stop and delete the local data (.data, generated sample files)"
	@echo "make distclean  clean, and delete the virtual environment"
	@echo "make bench      run the benchmarks in bench/"

setup: system venv sample

# PostgreSQL + PostGIS and Python venv support from the OS packages, when missing
system:
	@py="$$(test -x $(BIN)/python && $(BIN)/python -c 'import sys; print(sys.executable)' 2>/dev/null || scripts/find-python.sh)" \
	  && scripts/setup-system.sh "$$py"

venv: $(STAMP)

# .venv from the lock file (hashes checked); recreated if its interpreter is gone
$(STAMP): requirements.lock pyproject.toml
	@if ! $(BIN)/python -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then \
	  rm -rf $(VENV); py="$$(scripts/find-python.sh)" || exit 1; \
	  echo "creating $(VENV) with $$py"; "$$py" -m venv $(VENV); fi
	$(BIN)/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

sample: $(SAMPLE)

$(SAMPLE): sample_data/generate.py sample_data/cadastre.py sample_data/flood.py $(STAMP)
	$(BIN)/python sample_data/generate.py
	@touch $(SAMPLE)

run: setup
	$(BIN)/planungsdaten run

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

# a headless Chromium for the browser tests in tests/web, when missing (not needed to run)
browser: venv
	@scripts/setup-system.sh "$$($(BIN)/python -c 'import sys; print(sys.executable)')" --with-browser

pytest: setup browser
	$(BIN)/pytest

test: setup lint typecheck pytest

bench: setup
	@scripts/setup-system.sh "$$($(BIN)/python -c 'import sys; print(sys.executable)')" --with-gdal
	@for b in bench/*_bench.py; do echo "== $$b"; $(BIN)/python "$$b" || exit 1; done

stop:
	@if [ -x $(BIN)/planungsdaten ]; then $(BIN)/planungsdaten -q db stop; fi

clean: stop
	@if [ -x $(BIN)/planungsdaten ]; then $(BIN)/planungsdaten -q db destroy; fi
	rm -rf .data $(SAMPLE) sample_data/*.gpkg sample_data/*.xml sample_data/*.gml sample_data/*.zip sample_data/*.csv sample_data/*.gfs sample_data/*.tif .pytest_cache .mypy_cache .ruff_cache

distclean: clean
	rm -rf $(VENV)
