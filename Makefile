# Two commands matter: `make run` and `make test`. Everything else is a convenience.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/dagster_home
# A single-run backfill records one "planned" event per asset instead of one per trading day
# (30 years of days made Dagster's SQLite event log the slowest stage of `make run`). The cost:
# a failed run does not mark its partitions failed; they stay missing.
export DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS := 1

.PHONY: run test install ui ui-test mlflow lint bench clean-data

run: $(STAMP) ## set up, seed the default data, materialize every asset (quant-assets run)
	$(VENV)/bin/quant-assets run

test: $(STAMP) ## the whole test suite
	$(PY) -m pytest

install: $(STAMP)

# torch first, pinned to the CPU wheel (a looser pin pulls GBs of CUDA packages), then us.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

ui: $(STAMP) ## the Dagster UI and daemon (sensors, schedules) on http://127.0.0.1:3000
	$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

ui-test: $(STAMP) ## the UI test: dagster-webserver + GraphQL + headless Chromium; PNGs in data/screenshots
	@test -x /usr/bin/chromium || { SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get install -y chromium || { $$SUDO apt-get update && $$SUDO apt-get install -y chromium; }; }
	QUANT_ASSETS_SCREENSHOT_DIR=$(CURDIR)/data/screenshots $(PY) -m pytest quant_assets_tests/test_ui -v

mlflow: $(STAMP) ## the MLflow UI on http://127.0.0.1:5000 (runs and registered models of make run)
	mkdir -p data/mlflow/artifacts
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/data/mlflow/mlflow.db \
		--default-artifact-root $(CURDIR)/data/mlflow/artifacts --host 127.0.0.1 --port 5000

lint: $(STAMP)
	$(VENV)/bin/ruff check quant_assets quant_assets_tests benchmarks

bench: $(STAMP) ## performance figures against peers, on ../shared/data
	$(PY) benchmarks/ingest.py --fuzz 2000
	$(PY) benchmarks/factors.py
	$(PY) benchmarks/backtest.py
	$(PY) benchmarks/training.py
	$(PY) benchmarks/pipeline.py
	$(PY) benchmarks/event_log.py
	$(PY) benchmarks/rl.py
	$(PY) benchmarks/warehouse.py
	$(PY) benchmarks/validation.py
	$(PY) benchmarks/research.py

clean-data: ## remove generated data (never data/raw)
	rm -rf data/warehouse.duckdb data/warehouse.duckdb.wal data/mlflow data/reports \
		data/warehouse.ducklake data/warehouse_files data/hpo
