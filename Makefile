# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test typecheck lint format bench bench-refresh bench-scale bench-pressure clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m trialsync_async demo

test: $(STAMP)
	$(BIN)/python -m pytest -q
	$(BIN)/mypy

typecheck: $(STAMP)
	$(BIN)/mypy

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python bench/bench_loader.py

bench-refresh: $(STAMP)
	$(BIN)/python bench/bench_refresh.py

bench-scale: $(STAMP)
	$(BIN)/python bench/bench_scale.py

bench-pressure: $(STAMP)
	$(BIN)/python bench/bench_pressure.py

clean:
	rm -rf $(VENV) .trialsync .pytest_cache .ruff_cache
