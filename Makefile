# Render Studio: `make dev` runs the whole stack locally, `make test` runs every test.
# Both bootstrap the virtualenv first; nothing else needs to be installed (no Docker, no keys).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: dev test chaos fuzz bench bench-export lint format install clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/studio dev

test: $(STAMP) lint
	$(BIN)/python -m pytest

# Every fault-injection scenario at full size, with a table of figures (several minutes).
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos

# schemathesis against a local stack for FUZZ_MAX_TIME seconds (default 600), with a table of
# figures; FUZZ_MAX_EXAMPLES (cases per operation and round, default 200), FUZZ_SEED to replay.
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz

# The service beside a plain asyncio peer and the physical bound, one table (about 10 minutes at
# the default BENCH_SCALE=0.5; 1 = the issue's sizes; BENCH_ONLY=quota,open picks scenarios).
bench: $(STAMP)
	$(BIN)/python -m tests.bench

# Time and peak worker memory of a ZIP export of 200 4K images (EXPORT_BENCH_IMAGES; ~8 GB under BENCH_TMP=/tmp).
bench-export: $(STAMP)
	$(BIN)/python -m tests.bench.export_zip

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .studio .pytest_cache .mypy_cache .ruff_cache
