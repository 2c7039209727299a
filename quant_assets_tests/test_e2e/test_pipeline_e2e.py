"""End to end on real data: ``make run``'s flow, a new ticker, the daily update, the lineage.

One pipeline for the whole module, on a real (ephemeral) Dagster instance, a real DuckDB file,
a real MLflow store and a real raw folder, all under one temporary data directory
(``QUANT_ASSETS_DATA_DIR``, so the report lands where ``make run`` puts it). It is built in
three stages, each a module-scoped fixture on top of the previous one, and each stage keeps a
snapshot of what its tests look at, so the tests hold whatever order they run in:

1. ``made``: ``quant_assets.cli.pipeline.run_pipeline``, the code ``make run`` runs, on a slice: five
   real S&P 500 tickers cut at D-1 instead of the default data, trading days 2013-02-08..D-1
   instead of 1990..today, and the tiny training config of ``test_model_pipeline``.
2. ``with_new_ticker``: a sixth ticker's file dropped into the raw folder, picked up by
   ``raw_files_sensor``, its factors, a retraining requested by ``retrain_sensor``, and
   everything downstream again.
3. ``daily``: the daily schedule's run request for D (``evening_run_request``) and the ``daily_update`` job run for
   partition D against the loopback FMP server serving day D's real bars.

D is 2018-02-05, a Monday: the default ``target_weights`` rebalance weekly (on the first
trading day of a week), so D is a day on which orders are expected.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import mlflow
import pandas as pd
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    Definitions,
    RunRequest,
    SkipReason,
    build_sensor_context,
)
from rich.console import Console

from quant_assets.assets.backtest import backtest_report, backtests
from quant_assets.assets.models import predictions
from quant_assets.assets.portfolio import target_weights
from quant_assets.automation.retrain import retrain_job, retrain_sensor
from quant_assets.automation.schedules import daily_update_job, evening_run_request
from quant_assets.automation.sensors import (
    RANGE_END,
    RANGE_START,
    ingest_price_files_job,
    raw_files_sensor,
)
from quant_assets.cli import pipeline
from quant_assets.cli.status import print_warehouse
from quant_assets.definitions import ASSETS, CHECKS
from quant_assets.partitions import ticker_partitions, trading_day_partitions
from quant_assets.resources.raw_files import file_sha256
from quant_assets_tests.dagster_project import QUIET, Project
from quant_assets_tests.fmp_server import FMPServer
from quant_assets_tests.test_assets.test_model_pipeline import TRAIN
from quant_assets_tests.test_assets.test_rl_agents import CONFIG as RL_CONFIG

pytestmark = pytest.mark.slow

TICKERS = ["AAPL", "AOS", "DHR", "JPM", "MSFT"]
NEW = "XOM"
FIRST = "2013-02-08"  # the first day of the real 5-year file
BEFORE = "2018-02-02"  # D-1: the raw files end here (a Friday)
DAY = "2018-02-05"  # D: the daily update's partition (a Monday)
TEST = "2016-01-01"  # TRAIN's first_test_start: predictions start here
TEST_DAY = "2016-01-01"  # a Friday: the first trading-day partition of the test blocks
# The retrain job trains the PPO agent after the models: the RL test's tiny settings, sized to
# TRAIN's windows (its 10-day context fits the 21-day embargo).
TINY_PPO = {"rl_agents": RL_CONFIG["rl_agents"]}
EXCEPTION_TABLES = {"corporate_actions", "price_revisions"}
# Tables of assets make run does not materialize (hyper-parameter search is run on demand).
ON_DEMAND_TABLES = {"hpo_best_params"}
ASSET_NAMES = [
    "price_files",
    "prices",
    "factor_values",
    "trained_models",
    "predictions",
    "target_weights",
    "backtests",
    "backtest_report",
]
TABLES = [
    "backtest_equity",
    "backtest_metrics",
    "backtest_robustness",
    "backtest_runs",
    "backtest_trades",
    "corporate_actions",
    "delivered_prices",
    "factor_definitions",
    "factor_values",
    "hpo_best_params",
    "instruments",
    "model_importance",
    "model_versions",
    "predictions",
    "price_revisions",
    "prices",
    "raw_files",
    "rejected_rows",
    "trainings",
    "weights",
]


# --------------------------------------------------------------------------- helpers


@functools.lru_cache(maxsize=1)
def _source(path: Path) -> pd.DataFrame:
    """The real 5-year S&P 500 file, every value the exact string of the file."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _write_cut(shared_data: Path, raw: Path, ticker: str, last_day: str) -> Path:
    """A real per-ticker CSV (Kaggle's layout, ticker from the file name) ending on last_day."""
    source = _source(shared_data / "sp500_5yr_2013_2018.csv.gz")
    rows = source[(source["ticker"] == ticker) & (source["date"] <= last_day)]
    raw.mkdir(parents=True, exist_ok=True)
    path = raw / f"{ticker}_data.csv"
    rows.drop(columns="ticker").to_csv(path, index=False)
    return path


def _real_bars(shared_data: Path, tickers: list[str], day: str) -> dict[str, list[dict]]:
    """Day ``day``'s real bars of ``tickers``, as FMP records."""
    source = _source(shared_data / "sp500_5yr_2013_2018.csv.gz")
    rows = source[source["ticker"].isin(tickers) & (source["date"] == day)]
    out = {}
    for row in rows.itertuples():
        out[row.ticker] = [
            {
                "date": row.date,
                **{c: float(getattr(row, c)) for c in ("open", "high", "low", "close")},
                "volume": int(row.volume),
            }
        ]
    return out


def _slice_days() -> list[str]:
    return [k for k in trading_day_partitions.get_partition_keys() if FIRST <= k <= BEFORE]


def _definitions(project: Project) -> Definitions:
    """The code location's assets and jobs, with the project's temp resources."""
    return Definitions(
        assets=ASSETS,
        asset_checks=CHECKS,
        jobs=[ingest_price_files_job, daily_update_job, retrain_job],
        resources=project.resources(),
    )


def _scalar(project: Project, sql: str, params: list | None = None):
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchone()
    finally:
        con.close()


def _fingerprint(project: Project, table: str, columns: str, before: str) -> tuple:
    """(rows, order-independent hash) of ``table``'s rows dated before ``before``."""
    return _scalar(
        project,
        f"SELECT count(*), sum(hash({columns}) % 1000000007) FROM {table} WHERE date < ?",
        [before],
    )


def _table_counts(project: Project) -> dict[str, int]:
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


def _meta(materialization) -> dict:
    """The metadata values of an ``AssetMaterialization``."""
    return {k: v.value for k, v in materialization.metadata.items()}


def _lineage_rows(html: str) -> dict[str, str]:
    section = html[html.index('<section id="lineage">') :]
    section = section[: section.index("</section>")]
    return dict(re.findall(r'<tr><th scope="row">(.*?)</th><td>(.*?)</td></tr>', section))


# --------------------------------------------------------------------------- stages


@dataclass
class Made:
    project: Project
    printed: str
    seconds: float
    counts: dict[str, int]
    latest_runs: dict[str, str]
    partitions: dict[str, set[str]]
    features: pd.DataFrame
    factor_names: list[str]
    rejected: pd.DataFrame
    report: Path


@dataclass
class NewTicker:
    project: Project
    skip_before: str
    partitions_before: list[str]
    partitions_after: list[str]
    requests: list[RunRequest]
    ingest_success: bool
    xom_prices: int
    xom_factor_rows: int
    retrain_request: RunRequest | SkipReason
    retrain_run_id: str
    old_training_id: str
    skip_after: str
    lineage: dict[str, str]
    html_lineage: dict[str, str]
    runs: dict[str, bool] = field(default_factory=dict)


@dataclass
class Daily:
    project: Project
    request: RunRequest | SkipReason
    run_id: str
    success: bool
    seconds: float
    before: dict[str, tuple]
    after: dict[str, tuple]
    day_rows: dict[str, pd.DataFrame]
    max_price_date_before: dt.date
    fmp_symbols: list[str]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A temp data directory (raw folder, warehouse, MLflow, reports) and a Dagster instance.

    The instance is ephemeral (in memory) rather than a SQLite ``DAGSTER_HOME``: Dagster writes
    two events per trading-day partition of a single-run backfill, and for this slice's 1,300
    days SQLite storage (even ``dagster_home/dagster.yaml``'s consolidated event log) spends
    half a minute or more per partitioned asset on them, several times the work itself.
    """
    data = tmp_path_factory.mktemp("e2e") / "data"
    (data / "raw").mkdir(parents=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QUANT_ASSETS_DATA_DIR", str(data))
        mp.delenv("FMP_API_KEY", raising=False)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("MLFLOW_REGISTRY_URI", raising=False)
        with DagsterInstance.ephemeral() as instance:
            yield Project(root=data, instance=instance)


@pytest.fixture(scope="module")
def made(env, shared_data) -> Made:
    """Stage 1: make run's own code (what `quant-assets run` calls) on the slice.

    The five real files stand in for the default data (written into the raw folder, then
    ``seed_default_data=False``), the trading days are the slice's, and ``trained_models``
    gets the tiny config, as a user would pass it in the launchpad.
    """
    project = env
    for ticker in TICKERS:
        _write_cut(shared_data, project.root / "raw", ticker, BEFORE)
    options = pipeline.RunOptions(
        start=FIRST,
        end=BEFORE,
        seed_default_data=False,
        trained_models_config=TRAIN["trained_models"]["config"],
    )
    printed = io.StringIO()
    console = Console(file=printed, width=200, highlight=False, markup=False)
    resources = project.resources()
    started = time.perf_counter()
    clock = pipeline.StageClock(pipeline.new_progress(console))
    with clock.progress:
        summary = pipeline.run_pipeline(project.instance, resources, options, clock)
    console.print(clock.table())
    print_warehouse(console, resources["warehouse"])
    console.print(f"The backtest report: {summary.report}")
    seconds = time.perf_counter() - started

    instance = project.instance
    latest = {}
    for name in ASSET_NAMES:
        event = instance.get_latest_materialization_event(AssetKey(name))
        latest[name] = event.run_id if event is not None else None
    partitions = {
        name: set(instance.get_materialized_partitions(AssetKey(name)))
        for name in ("price_files", "factor_values", "predictions", "target_weights")
    }
    return Made(
        project=project,
        printed=printed.getvalue(),
        seconds=seconds,
        counts=_table_counts(project),
        latest_runs=latest,
        partitions=partitions,
        features=project.query("SELECT * FROM features WHERE date = ? ORDER BY ticker", [BEFORE]),
        factor_names=project.query("SELECT name FROM factor_definitions ORDER BY position")[
            "name"
        ].tolist(),
        rejected=project.query("SELECT * FROM rejected_rows"),
        report=project.root / "reports" / "latest" / "report.html",
    )


def _retrain_tick(project: Project):
    with build_sensor_context(instance=project.instance, resources=project.resources()) as ctx:
        return retrain_sensor(ctx)


@pytest.fixture(scope="module")
def with_new_ticker(made, shared_data) -> NewTicker:
    """Stage 2: a new ticker's file dropped in; the sensors carry it through to the report."""
    project = made.project
    instance = project.instance
    defs = _definitions(project)
    skip_before = _retrain_tick(project)
    old_training = project.query("SELECT training_id FROM trainings")["training_id"].item()
    partitions_before = instance.get_dynamic_partitions(ticker_partitions.name)

    _write_cut(shared_data, project.raw, NEW, BEFORE)
    # As the daemon does: evaluate the sensor, apply its partition requests, launch its runs.
    with build_sensor_context(instance=instance, resources=project.resources()) as ctx:
        result = raw_files_sensor(ctx)
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    ingest = [
        defs.resolve_job_def(ingest_price_files_job.name).execute_in_process(
            instance=instance,
            run_config={**QUIET, **request.run_config},
            tags=dict(request.tags),
        )
        for request in result.run_requests
    ]
    runs = {"ingest": all(r.success for r in ingest)}
    runs["factors"] = project.compute_factors(FIRST, BEFORE).success

    retrain = _retrain_tick(project)
    train = defs.resolve_job_def(retrain_job.name).execute_in_process(
        instance=instance,
        run_config={**QUIET, "ops": {**TRAIN, **TINY_PPO}},
        tags=dict(retrain.tags) if isinstance(retrain, RunRequest) else {},
    )
    runs["train"] = train.success
    skip_after = _retrain_tick(project)
    # every prediction is out of sample, so none is dated before the first test block
    runs["predictions"] = project.materialize([predictions], start=TEST_DAY, end=BEFORE).success
    runs["weights"] = project.materialize([target_weights], start=TEST_DAY, end=BEFORE).success
    runs["backtests"] = project.materialize([backtests]).success
    report_run = project.materialize([backtest_report])
    runs["report"] = report_run.success
    report = made.report.read_text()
    return NewTicker(
        project=project,
        skip_before=getattr(skip_before, "skip_message", repr(skip_before)),
        partitions_before=partitions_before,
        partitions_after=instance.get_dynamic_partitions(ticker_partitions.name),
        requests=list(result.run_requests),
        ingest_success=runs["ingest"],
        xom_prices=_scalar(project, "SELECT count(*) FROM prices WHERE ticker = ?", [NEW])[0],
        xom_factor_rows=_scalar(
            project, "SELECT count(*) FROM factor_values WHERE ticker = ?", [NEW]
        )[0],
        retrain_request=retrain,
        retrain_run_id=train.run_id,
        old_training_id=old_training,
        skip_after=getattr(skip_after, "skip_message", repr(skip_after)),
        lineage=_meta(report_run.get_asset_materialization_events()[-1].materialization)["lineage"],
        html_lineage=_lineage_rows(report),
        runs=runs,
    )


@pytest.fixture(scope="module")
def daily(with_new_ticker, shared_data) -> Daily:
    """Stage 3: the schedule's request for D, run as the daily_update job against FMP."""
    project = with_new_ticker.project
    tickers = sorted([*TICKERS, NEW])
    keyed = {
        "prices": "ticker, date, open, high, low, close, adj_close, volume, source, ingested_at",
        "factor_values": "ticker, date, factor, value",
        "predictions": "model, model_version, training_id, ticker, date, position",
        "weights": "strategy, model, model_version, ticker, date, weight",
    }
    with FMPServer() as server, pytest.MonkeyPatch.context() as mp:
        for ticker, records in _real_bars(shared_data, tickers, DAY).items():
            server.add_bars(ticker, records)
        mp.setenv("FMP_API_KEY", server.api_key)
        project.fmp_base_url = server.base_url
        before = {t: _fingerprint(project, t, c, DAY) for t, c in keyed.items()}
        max_before = _scalar(project, "SELECT max(date) FROM prices")[0]

        # The schedule's own body: a schedule context cannot be handed this in-memory
        # instance (test_faults/test_fmp_outage.py evaluates the schedule itself).
        request = evening_run_request(project.instance, dt.date.fromisoformat(DAY))
        job = _definitions(project).resolve_job_def(daily_update_job.name)
        started = time.perf_counter()
        result = job.execute_in_process(
            instance=project.instance,
            partition_key=request.partition_key,
            run_config=QUIET,
            tags=dict(request.tags),
            raise_on_error=False,
        )
        seconds = time.perf_counter() - started
        symbols = [r.query.get("symbol") for r in server.requests]
        project.fmp_base_url = "http://127.0.0.1:9"

    return Daily(
        project=project,
        request=request,
        run_id=result.run_id,
        success=result.success,
        seconds=seconds,
        before=before,
        after={t: _fingerprint(project, t, c, DAY) for t, c in keyed.items()},
        day_rows={t: project.query(f"SELECT * FROM {t} WHERE date >= ?", [DAY]) for t in keyed},
        max_price_date_before=max_before,
        fmp_symbols=symbols,
    )


# --------------------------------------------------------------------------- 1. make run


def test_make_run_materializes_every_asset_and_fills_every_table(made):
    # every asset has a materialization, partitioned ones over the whole slice
    assert all(made.latest_runs[name] for name in ASSET_NAMES), made.latest_runs
    days = set(_slice_days())
    assert made.partitions["price_files"] == set(TICKERS)
    for name in ("factor_values", "predictions", "target_weights"):
        assert made.partitions[name] == days, name
    # the warehouse has exactly its tables, and every one holds rows but the two that record
    # exceptions: splits and revisions (none in these five clean files)
    assert sorted(made.counts) == TABLES
    empty = {t for t, n in made.counts.items() if n == 0}
    assert empty <= EXCEPTION_TABLES | ON_DEMAND_TABLES, empty
    # rejected_rows would legitimately be empty on clean files; this slice has one real bad
    # row: AOS 2014-05-19 with high 23.595 below low 23.85
    assert made.counts["rejected_rows"] == len(made.rejected) >= 1
    aos = made.rejected[made.rejected["ticker"] == "AOS"]
    assert aos["date"].astype(str).str[:10].tolist() == ["2014-05-19"]
    assert made.counts["raw_files"] == len(TICKERS)
    assert made.counts["instruments"] == len(TICKERS)
    assert made.counts["trainings"] == 1 and made.counts["backtest_runs"] == 1
    # the features view: one row per ticker and date, a column per registered factor
    assert list(made.features.columns) == ["ticker", "date", *made.factor_names]
    assert made.features["ticker"].tolist() == TICKERS
    assert made.features["vol_scaled_ret_21"].notna().all()
    # what make run prints and writes
    assert "ticker partitions: 5; ingesting 5" in made.printed
    assert "fmp_daily_bars skipped: FMP_API_KEY is not set" in made.printed
    for table in TABLES:
        assert re.search(rf"^\s*{table}\s+│?\s*[\d,]+\s*$", made.printed, re.M), table
    for stage in ("price_files, prices", "factor_values", "trained_models", "backtest_report"):
        assert re.search(rf"^\s*{re.escape(stage)}\s+│?\s*[\d.]+\s*$", made.printed, re.M), stage
    assert made.report.exists() and str(made.report) in made.printed
    print(f"\nmake run's flow on the slice: {made.seconds:.1f} s")


# --------------------------------------------------------------------------- 2. new ticker


def test_a_new_ticker_flows_from_the_raw_folder_to_the_report(with_new_ticker, made):
    stage = with_new_ticker
    project = stage.project
    # before the file: nothing new, no retraining
    assert "no new tickers" in stage.skip_before
    # the raw-file sensor adds the partition and requests one run, for that file only
    assert NEW not in stage.partitions_before
    assert stage.partitions_after == [*stage.partitions_before, NEW]
    [request] = stage.requests
    assert request.tags[RANGE_START] == request.tags[RANGE_END] == NEW
    assert request.run_config["ops"]["price_files"]["config"]["paths"] == [f"{NEW}_data.csv"]
    assert stage.ingest_success and all(stage.runs.values()), stage.runs
    expected_rows = _scalar(
        project, "SELECT rows_valid FROM raw_files WHERE path = ?", [f"raw/{NEW}_data.csv"]
    )[0]
    assert stage.xom_prices == expected_rows > 1200
    assert stage.xom_factor_rows > 0
    # the retrain sensor asks for a training because of the new ticker, once
    assert isinstance(stage.retrain_request, RunRequest)
    assert f"new tickers {NEW}" in stage.retrain_request.tags["quant_assets/retrain_reason"]
    assert "no new tickers" in stage.skip_after
    training = project.query("SELECT * FROM trainings ORDER BY created_at").iloc[-1]
    assert training["training_id"] == stage.retrain_run_id != stage.old_training_id
    assert NEW in list(training["tickers"])
    # predictions now include the new ticker, for every model, all from the new training
    preds = project.query("SELECT * FROM predictions WHERE date <= ?", [BEFORE])
    assert set(preds["training_id"]) == {stage.retrain_run_id}
    per_model = preds.groupby("model")["ticker"].apply(set)
    assert all(NEW in tickers for tickers in per_model), per_model
    weights = project.query("SELECT DISTINCT ticker FROM weights WHERE date <= ?", [BEFORE])
    assert NEW in set(weights["ticker"])
    # the report names the ticker in its lineage, in the metadata and in the HTML
    assert NEW in stage.lineage["tickers"].split(", ")
    assert NEW in stage.html_lineage["tickers"].split(", ")
    assert stage.html_lineage["training run (Dagster)"] == stage.retrain_run_id


# --------------------------------------------------------------------------- 3. daily update


def test_the_daily_update_adds_exactly_day_d(daily):
    stage = daily
    project = stage.project
    print(f"\ndaily_update for {DAY}: {stage.seconds:.2f} s wall (run {stage.run_id})")
    # the schedule asks for D's partition, keyed by the day
    assert isinstance(stage.request, RunRequest)
    assert stage.request.partition_key == stage.request.run_key == DAY
    assert stage.success
    tickers = sorted([*TICKERS, NEW])
    assert sorted(stage.fmp_symbols) == tickers  # one request per ticker of the universe
    # prices: exactly one new day, D, from FMP; every earlier row untouched
    assert str(stage.max_price_date_before) == BEFORE
    new_prices = stage.day_rows["prices"]
    assert new_prices["date"].astype(str).str[:10].unique().tolist() == [DAY]
    assert sorted(new_prices["ticker"]) == tickers
    assert new_prices["source"].str.startswith("fmp/stable/").all()
    for table in ("prices", "factor_values", "predictions", "weights"):
        assert stage.after[table] == stage.before[table], f"{table} rows before {DAY} changed"
    # factor values, predictions and weights only added for D
    for table in ("factor_values", "predictions", "weights"):
        rows = stage.day_rows[table]
        assert len(rows) > 0, table
        assert rows["date"].astype(str).str[:10].unique().tolist() == [DAY], table
    assert set(stage.day_rows["factor_values"]["ticker"]) == set(tickers)
    models = set(project.query("SELECT DISTINCT model FROM model_versions")["model"])
    assert set(stage.day_rows["predictions"]["model"]) == models
    assert set(stage.day_rows["predictions"]["ticker"]) == set(tickers)
    # the backtest now ends at D, for every strategy
    last = project.query(
        "SELECT strategy, max(date) AS last FROM backtest_equity WHERE backtest_id = "
        "(SELECT backtest_id FROM backtest_runs ORDER BY created_at DESC LIMIT 1) "
        "GROUP BY strategy"
    )
    assert last["last"].astype(str).str[:10].unique().tolist() == [DAY]
    run = project.query("SELECT * FROM backtest_runs ORDER BY created_at DESC LIMIT 1")
    assert run["backtest_id"].item() == stage.run_id
    assert str(run["last_date"].item())[:10] == DAY


# --------------------------------------------------------------------------- 4. lineage


def test_the_report_lineage_walks_back_to_the_raw_files(daily):
    project = daily.project
    instance = project.instance
    event = instance.get_latest_materialization_event(AssetKey("backtest_report"))
    assert event.run_id == daily.run_id
    meta = _meta(event.asset_materialization)
    lineage = meta["lineage"]
    training_id = meta["training_id"]

    # the report names the training, its model versions and MLflow runs, dates and partitions
    training = project.query("SELECT * FROM trainings WHERE training_id = ?", [training_id])
    assert len(training) == 1
    versions = project.query("SELECT * FROM model_versions WHERE training_id = ?", [training_id])
    assert len(versions) > 0
    shown = " ".join(lineage.values())
    fitted = versions[versions["family"] != "rule"]
    assert all(v in meta["model_versions"] for v in versions["model_version"])
    assert all(r in shown for r in fitted["mlflow_run_id"])
    data_start, data_end = training["data_start"].item(), training["data_end"].item()
    assert lineage["training data range"] == f"{data_start.date()}..{data_end.date()}"
    first, last = lineage["partitions (trading days)"].split("..")
    assert last == DAY and first >= TEST
    assert lineage["backtest run (Dagster)"] == meta["backtest_id"]
    materialized = {
        name: set(instance.get_materialized_partitions(AssetKey(name)))
        for name in ("factor_values", "predictions", "target_weights")
    }
    assert all({first, last} <= keys for keys in materialized.values())

    # training -> its Dagster run -> MLflow runs tagged with it
    train_run = instance.get_run_by_id(training_id)
    assert train_run is not None and train_run.is_success
    assert training["dagster_run_id"].item() == training_id
    client = mlflow.MlflowClient(tracking_uri=project.mlflow_uri, registry_uri=project.mlflow_uri)
    for row in versions.dropna(subset=["mlflow_run_id"]).itertuples():
        assert client.get_run(row.mlflow_run_id).data.tags["dagster_run_id"] == training_id

    # the prices it trained on -> their sources -> raw files that exist, unchanged
    sources = project.query(
        "SELECT DISTINCT source FROM prices WHERE list_contains(?, ticker) "
        "AND date BETWEEN ? AND ?",
        [list(training["tickers"].item()), data_start, data_end],
    )["source"]
    files = project.query("SELECT path, sha256 FROM raw_files").set_index("path")["sha256"]
    assert len(sources) == len(training["tickers"].item())
    for source in sources:
        assert source in files.index, f"{source} is not a recorded raw file"
        path = project.raw / source.removeprefix("raw/")
        assert path.is_file() and file_sha256(path) == files[source]

    # every upstream asset of the report has a materialization on the instance, and the
    # report's backtest and training are the latest of their assets
    graph = _definitions(project).resolve_asset_graph()
    upstream, frontier = set(), [AssetKey("backtest_report")]
    while frontier:
        for parent in graph.get(frontier.pop()).parent_keys:
            if parent not in upstream:
                upstream.add(parent)
                frontier.append(parent)
    assert {k.to_user_string() for k in upstream} >= set(ASSET_NAMES) - {"backtest_report"}
    latest = {k: instance.get_latest_materialization_event(k) for k in upstream}
    assert all(e is not None for e in latest.values()), [k for k, e in latest.items() if not e]
    assert latest[AssetKey("backtests")].run_id == meta["backtest_id"]
    assert latest[AssetKey("trained_models")].run_id == training_id


def test_the_report_lineage_names_trading_days_as_partition_keys(daily):
    event = daily.project.instance.get_latest_materialization_event(AssetKey("backtest_report"))
    meta = _meta(event.asset_materialization)
    keys = set(trading_day_partitions.get_partition_keys())
    spans = [meta["out_of_sample_range"]] + [
        meta["lineage"][item]
        for item in ("training data range", "out-of-sample range", "partitions (trading days)")
    ]
    for span in spans:
        first, last = span.split("..")
        assert first in keys and last in keys, span
    starts = [k.split(" from ", 1)[1] for k in meta["lineage"] if " from " in k]
    assert starts and all(start in keys for start in starts), starts
