# Set-up and everyday commands. `make demo` and `make test` are the two README commands.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HAPI_PORT ?= 8080
HAPI_TEST_PORT ?= 8089

.PHONY: demo test unit lint compiled dist hapi-up hapi-down hapi-build clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

## Code the bundled demo clinic day into ./out/ (FHIR NDJSON, an 837P, DFT^P03 charges, the review page)
demo: $(VENV)/.installed
	$(BIN)/python -m adapter run
	$(BIN)/python -m adapter run --sink x12:out/claims.837 --config docs/examples/demo-billing.toml --state-dir out/.billing-state
	$(BIN)/python -m adapter run --sink hl7v2:out/charges.hl7 --config docs/examples/demo-billing.toml --state-dir out/.billing-state
	$(BIN)/python -m adapter report --source out --out out/report.html
	@echo "review page: $(CURDIR)/out/report.html"

## The whole test suite: lint, types, unit tests, then integration tests against a real HAPI server
test: $(VENV)/.installed
	HAPI_TEST_PORT=$(HAPI_TEST_PORT) BIN=$(BIN) ./scripts/test-all.sh

## Unit tests only (no Java needed)
unit: $(VENV)/.installed
	$(BIN)/python -m pytest -m "not integration"

lint: $(VENV)/.installed
	$(BIN)/ruff check adapter tests bench scripts
	$(BIN)/ruff format --check adapter tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

## The mypyc-compiled build in build/compiled/ (run it with scripts/run-compiled; needs a C compiler)
compiled: $(VENV)/.installed
	$(BIN)/python scripts/build_compiled.py

## The two release wheels in dist/: compiled for this platform, and the pure-Python fallback
dist: $(VENV)/.installed
	$(BIN)/python scripts/build_wheels.py dist

hapi-build:
	tests/hapi-server/hapi.sh build

## Start the HAPI FHIR server on 127.0.0.1:$(HAPI_PORT) (FHIR base http://127.0.0.1:$(HAPI_PORT)/fhir)
hapi-up:
	tests/hapi-server/hapi.sh up $(HAPI_PORT)

## Stop the server that hapi-up started
hapi-down:
	tests/hapi-server/hapi.sh down $(HAPI_PORT)

clean:
	rm -rf out build dist *.egg-info $(VENV) tests/hapi-server/target .pytest_cache .mypy_cache .ruff_cache
