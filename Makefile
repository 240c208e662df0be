# yujing developer commands. Each target creates .venv first if needed.
#   make demo   - replay a real event (KNMI radar 2010) end to end: skill table and report
#   make test   - ruff, mypy and the whole test suite (what CI runs)
#   make replay - replay and verify every bundled event in full
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
# The shared real-data folder: YUJING_DATA_ROOT if set, else the first candidate that exists
# (beside the checkout, then this machine's shared folder), else the configs' data_root.
DATA_CANDIDATES := $(abspath $(CURDIR)/../shared/data) /work/shared/data
export YUJING_DATA_ROOT ?= $(firstword $(foreach d,$(DATA_CANDIDATES),$(if $(wildcard $(d)/SOURCES.md),$(d))))

.PHONY: demo replay test lint typecheck pytest lock clean

$(VENV): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "yujing needs Python 3.11, found " + sys.version'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c requirements.lock -e ".[dev,airflow]"
	touch $(VENV)

demo: $(VENV)
	$(BIN)/yujing replay knmi-2010 --short

replay: $(VENV)
	$(BIN)/yujing replay knmi-2010
	$(BIN)/yujing replay mangkhut-2018
	$(BIN)/yujing replay saola-2023
	$(BIN)/yujing replay shenzhen-2023-09
	$(BIN)/yujing replay hk-2025-07

lint: $(VENV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)
	$(BIN)/mypy

# The tests that talk to servers (PostgreSQL, Mosquitto, SMTP and HTTP receivers) live in
# tests/services and run in their own process: libpq's bundled libldap and the libldap that
# GDAL/netCDF bring crash in their exit destructors when both are loaded (exit 139 after
# every test passed; gdb: _dl_fini -> libldap free). Every test still runs, and here a
# missing server fails instead of skipping (YUJING_REQUIRE_SERVICES=1). The others run on
# every core, a test file per worker (its module and session fixtures built once there); the
# server tests stay in one process (they share databases, topics and ports).
pytest: $(VENV)
	$(BIN)/python -m pytest -n auto --dist loadfile --ignore=tests/services
	YUJING_REQUIRE_SERVICES=1 $(BIN)/python -m pytest tests/services

test: lint typecheck pytest

# Re-resolve the pinned versions (needs the package index).
lock: $(VENV)
	$(BIN)/uv pip compile --quiet --python-version 3.11 --extra dev --extra airflow \
		pyproject.toml -o requirements.lock

clean:
	rm -rf $(VENV) .cache out .mypy_cache .pytest_cache .ruff_cache
