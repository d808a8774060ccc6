# The README's commands. `make run` starts the embedded demo; `make test` runs the whole test suite.
PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: run admin test fuzz test-unit test-integration lint format check-python

run: $(VENV)/.run-deps ## set up and start the embedded demo site
	$(PY) manage.py demo --host $(HOST) --port $(PORT)

admin: $(VENV)/.run-deps ## create an admin (staff) account for the embedded demo; asks for name and password
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createsuperuser

test: $(VENV)/.dev-deps ## the full suite: unit + integration, real PostgreSQL and Redis
	$(PY) -m pytest $(PYTEST_ARGS)

fuzz: $(VENV)/.dev-deps ## schemathesis with 500 generated cases per operation and mode (minutes)
	SCHEMATHESIS_EXAMPLES=500 $(PY) -m pytest tradingsite/tests/test_api_fuzz.py -s --timeout 3600 $(PYTEST_ARGS)

test-unit: $(VENV)/.dev-deps ## fast tests only, no servers
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

test-integration: $(VENV)/.dev-deps
	$(PY) -m pytest -m integration $(PYTEST_ARGS)

lint: $(VENV)/.dev-deps ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: $(VENV)/.dev-deps
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tradingsite needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'

$(VENV)/bin/python: | check-python
	$(PYTHON) -m venv $(VENV)

$(VENV)/.run-deps: requirements.txt portfolio/live_native.c | $(VENV)/bin/python
	$(PIP) -r requirements.txt
	$(PY) -m portfolio.native
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt portfolio/live_native.c | $(VENV)/bin/python
	$(PIP) -r requirements-dev.txt
	$(PY) -m portfolio.native
	touch $@ $(VENV)/.run-deps
