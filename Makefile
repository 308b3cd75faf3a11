# Every target sets up what it needs: a fresh clone needs nothing but python3 and make
# (`make test` also installs, with apt, the system packages its tests need: .ci/test-deps).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= var/data
SAMPLE ?= data/sample/ds1.csv
PYTEST_ARGS ?=
# The share of src/recsys the whole suite must run in-process; a subset (PYTEST_ARGS) has none.
COVERAGE_FLOOR ?= 75

.PHONY: run demo test lint format bench clean

$(BIN)/python:
	@echo "make: creating $(VENV), then installing recsys into it (a minute or two, once)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps record which extras are installed; editing pyproject.toml reinstalls.
# pip names each package as it goes, so a first install shows its progress.
$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --progress-bar off -e '.[serve,train]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --progress-bar off -e '.[dev]'
	touch $@ $(VENV)/.run-installed

$(VENV)/.bench-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --progress-bar off -e '.[bench]'
	touch $@ $(VENV)/.dev-installed $(VENV)/.run-installed

## run: set up .venv, train the bundled sample into $(DATA_DIR) (if it changed), serve it
run: $(VENV)/.run-installed
	$(BIN)/recsys train --data-dir $(DATA_DIR) --dataset-url $(SAMPLE)
	$(BIN)/recsys serve --data-dir $(DATA_DIR)

## demo: the whole story with real processes (train, serve, refresh, probe, rollback)
demo: $(VENV)/.dev-installed
	$(BIN)/recsys demo --out var/demo

## test: set up .venv with the dev extra (no benchmark baseline), lint, type-check, run the whole suite
test: $(VENV)/.dev-installed
	.ci/test-deps
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest $(if $(PYTEST_ARGS),,--cov --cov-fail-under=$(COVERAGE_FLOOR)) $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

format: $(VENV)/.dev-installed
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

## bench: install the baselines (the bench extra), run the benchmarks, write bench/RESULTS.md
bench: $(VENV)/.bench-installed
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache

.PHONY: test-images
## test-images: build both images with podman on a local Debian base and run them for real (root)
test-images:
	bash images/test-images.sh

.PHONY: e2e
## e2e: install ArgoCD on the cluster of KUBECONFIG, deploy the dev overlay, measure three changes
## (deploy/e2e/run.sh; E2E_ARGS='--repo URL [--revision REV] ...', see its --help)
e2e:
	bash deploy/e2e/run.sh $(if $(KUBECONFIG),--kubeconfig "$(KUBECONFIG)") $(E2E_ARGS)
