# claw: `make` lists the targets. `make test` and `make demo` set up what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# make test runs the suite on this many processes, each with its own private engine
PYTEST_WORKERS ?= 3
# make bench BENCH_ARGS="--only start-up" runs one row; --record docs/performance.md writes the page
BENCH_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help system venv test unit pythons lint typecheck demo bench clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

system: ## Install missing Debian packages (docker.io, docker-registry, busybox-static, docker-compose)
	@PYTHON=$(PYTHON) scripts/bootstrap.sh

$(STAMP): requirements.txt requirements-test.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(STAMP) ## Create .venv with the pinned Python packages

test: system $(STAMP) lint typecheck ## Lint, type-check, every test (integration on a private engine), and the unit tests on each other Python 3.10-3.13 here
	@mkdir -p .cache
	@trap '' USR1; nice -n 19 $(BIN)/python -m scripts.pythons > .cache/pythons.out 2>&1 & pythons=$$!; trap - USR1; \
	$(BIN)/python -m pytest -v -n $(PYTEST_WORKERS) --dist worksteal --durations=25 $(PYTEST_ARGS); main=$$?; \
	kill -USR1 $$pythons 2> /dev/null; wait $$pythons; other=$$?; cat .cache/pythons.out; \
	test $$main -eq 0 || echo "make test: the main run failed (its failures are above the other Pythons' lines)"; \
	test $$other -eq 0 || echo "make test: the unit tests failed under another Python (its lines are just above)"; \
	test $$main -eq 0 && test $$other -eq 0

unit: $(STAMP) ## Run the tests that need no engine
	$(BIN)/python -m pytest -m "not integration" $(PYTEST_ARGS)

pythons: $(STAMP) ## Run the unit tests under each other Python 3.10-3.13 on this host
	$(BIN)/python -m scripts.pythons

lint: $(STAMP) ## ruff (lint and format check)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy
	$(BIN)/mypy

demo: system $(STAMP) ## The pull -> build -> up -> drift -> down cycle against a local "upstream"
	$(BIN)/python -m scripts.demo

bench: system $(STAMP) ## Measure claw's own cost, side by side with the baselines (BENCH_ARGS)
	$(BIN)/python -m scripts.bench $(BENCH_ARGS)

clean: ## Remove the venv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
