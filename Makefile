# MedHaven: `make demo` runs the whole system on generated hospitals; `make test` passes the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export FLWR_TELEMETRY_ENABLED := 0
export FLWR_DISABLE_UPDATE_CHECK := 1

.PHONY: demo test lint typecheck pytest bench install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
# pycanon (test oracle) pins typer==0.23.2 for its own CLI only, which clashes with flwr; its modules we import need only numpy/pandas.
	$(BIN)/python -m pip install --quiet --no-deps 'pycanon>=1.3'
	@touch $(STAMP)

install: $(STAMP)

# DEMO_ARGS passes options through, e.g. `make demo DEMO_ARGS="--persons 5000"`.
demo: $(STAMP)
	$(BIN)/medhaven demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest exits 5 when it collects no test: treat that as a failure too.
pytest: $(STAMP)
	@$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var demo-data bench-data .pytest_cache .mypy_cache .ruff_cache
