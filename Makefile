# Two entry points a newcomer needs (see README):
#   make lab   - install everything, then JupyterLab on notebooks/ with the embedded engine
#   make test  - install everything, then the whole test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8888

.PHONY: setup lab test lint bench screenshots clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 --port=$(PORT) --no-browser --allow-root

test: setup
	$(BIN)/ruff check realtime_nb tests benchmarks scripts
	$(BIN)/python -m pytest -q -rs $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check realtime_nb tests benchmarks scripts

bench: setup
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

screenshots: setup
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) build *.egg-info
