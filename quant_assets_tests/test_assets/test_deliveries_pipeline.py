"""Sources reconciled, corrections, retractions and corporate actions through the real assets.

Real AAPL rows of the Kaggle S&P 500 file (2014, around its 7:1 split of 2014-06-09), written
as vendors' files under data/raw, ingested by price_files + prices (and their checks) on an
ephemeral instance and a temp warehouse.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from dagster import DagsterRun, DagsterRunStatus, materialize
from dagster._core.utils import make_new_run_id

from quant_assets.assets.ingest import price_files, prices
from quant_assets.automation.checks import price_checks
from quant_assets.automation.schedules import daily_update_job, revision_run_request
from quant_assets.partitions import RANGE_END, RANGE_START
from quant_assets.resources.fmp import FMPClient
from quant_assets.resources.warehouse import Warehouse
from quant_assets_tests.dagster_project import QUIET

SPLIT_DAY = "2014-06-09"
THREE_FOR_TWO_DAY = "2014-07-01"


@pytest.fixture(scope="module")
def aapl(shared_data) -> pd.DataFrame:
    """AAPL's real 2014 bars (split-adjusted by Kaggle), date as text."""
    frame = pd.read_csv(shared_data / "sp500_5yr_2013_2018.csv.gz")
    frame = frame[(frame["ticker"] == "AAPL") & frame["date"].between("2014-03-01", "2014-09-30")]
    return frame.drop(columns="ticker").reset_index(drop=True)


def _write(project, relative: str, rows: pd.DataFrame) -> None:
    path = project.raw / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(path, index=False)


def _ingest(project, source_priority=(), paths=None, fmp=None):
    project.add_tickers(["AAPL"])
    resources = {**project.resources(), **({"fmp": fmp} if fmp else {})}
    resources["warehouse"] = Warehouse(
        path=str(project.warehouse_path), lock_timeout_s=30, source_priority=list(source_priority)
    )
    return materialize(
        [price_files, prices, *price_checks],
        instance=project.instance,
        resources=resources,
        partition_key="AAPL",
        run_config={**QUIET, "ops": {"price_files": {"config": {"paths": paths or []}}}},
    )


def _close(project, day: str) -> float | None:
    rows = project.query("SELECT close FROM prices WHERE ticker = 'AAPL' AND date = ?", [day])
    return None if rows.empty else float(rows["close"].iloc[0])


def _meta(result, key: str) -> dict:
    events = [
        e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key
    ]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def test_two_files_with_identical_overlapping_rows_merge(project, aapl):
    _write(project, "vendor_a/AAPL.csv", aapl.iloc[:80])
    _write(project, "vendor_b/AAPL.csv", aapl.iloc[40:])

    _ingest(project)

    assert project.query("SELECT count(*) AS n FROM prices")["n"][0] == len(aapl)
    assert project.query("SELECT * FROM rejected_rows").empty


def test_conflicting_files_quarantine_both_rows_naming_both_sources(project, aapl):
    other = aapl.copy()
    other.loc[10, "close"] = other.loc[10, "low"]  # another vendor's print, inside the bar
    day = other.loc[10, "date"]
    _write(project, "vendor_a/AAPL.csv", aapl)
    _write(project, "vendor_b/AAPL.csv", other)

    _ingest(project)

    assert _close(project, day) is None  # no price kept for that day
    rejected = project.query("SELECT * FROM rejected_rows ORDER BY source")
    assert list(rejected["rule"]) == ["source_conflict", "source_conflict"]
    assert list(rejected["source"]) == ["raw/vendor_a/AAPL.csv", "raw/vendor_b/AAPL.csv"]
    assert all(
        "raw/vendor_a/AAPL.csv" in r and "raw/vendor_b/AAPL.csv" in r for r in rejected["reason"]
    )
    assert project.query("SELECT count(*) AS n FROM prices")["n"][0] == len(aapl) - 1


def test_source_priority_resolves_a_conflict_and_logs_the_losing_row(project, aapl):
    other = aapl.copy()
    other.loc[10, "close"] = other.loc[10, "low"]
    day = other.loc[10, "date"]
    _write(project, "vendor_a/AAPL.csv", aapl)
    _write(project, "vendor_b/AAPL.csv", other)

    _ingest(project, source_priority=["raw/vendor_b/"])

    assert _close(project, day) == pytest.approx(other.loc[10, "close"])
    assert project.query("SELECT * FROM rejected_rows").empty
    revisions = project.query("SELECT * FROM price_revisions")
    assert list(revisions["kind"]) == ["source_priority"]
    assert revisions.loc[0, "old_close"] == pytest.approx(aapl.loc[10, "close"])


def test_a_redelivered_file_replaces_a_changed_row_and_retracts_a_dropped_one(project, aapl):
    _write(project, "AAPL.csv", aapl)
    _ingest(project)
    corrected = aapl.drop(index=20).copy()
    corrected.loc[5, "close"] = corrected.loc[5, "high"]
    _write(project, "AAPL.csv", corrected)

    result = _ingest(project)

    meta = _meta(result, "price_files")
    assert (meta["rows_updated"], meta["rows_retracted"]) == (1, 1)
    assert meta["first_affected_date"] == aapl.loc[5, "date"]
    assert _close(project, aapl.loc[5, "date"]) == pytest.approx(corrected.loc[5, "close"])
    assert _close(project, aapl.loc[20, "date"]) is None
    revisions = project.query("SELECT kind, date, old_close, new_close FROM price_revisions")
    by_kind = revisions.set_index("kind")
    assert by_kind.loc["correction", "old_close"] == pytest.approx(aapl.loc[5, "close"])
    assert str(by_kind.loc["retraction", "date"])[:10] == aapl.loc[20, "date"]
    assert pd.isna(by_kind.loc["retraction", "new_close"])


def test_an_unadjusted_split_is_detected_and_factors_read_the_adjusted_series(project, aapl):
    raw = aapl.copy()
    before = raw["date"] < SPLIT_DAY
    raw.loc[before, ["open", "high", "low", "close"]] *= 7  # as a vendor without adjustment
    raw.loc[before, "volume"] = (raw.loc[before, "volume"] / 7).round()
    _write(project, "AAPL.csv", raw)

    result = _ingest(project)

    actions = project.query(
        "SELECT ticker, date, kind, factor, status, applied FROM corporate_actions"
    )
    assert actions.assign(date=actions["date"].astype(str)).to_dict("records") == [
        {
            "ticker": "AAPL",
            "date": SPLIT_DAY,
            "kind": "split",
            "factor": 7.0,
            "status": "detected",
            "applied": True,
        }
    ]
    stored = project.query("SELECT date, close FROM prices ORDER BY date")
    assert stored["close"].tolist() == pytest.approx(raw["close"].tolist())  # raw as delivered
    assert _meta(result, "prices")["first_affected_date"] == aapl.loc[0, "date"]

    project.compute_factors("2014-06-02", "2014-06-13", factors=["ret_1"])
    ret = project.query(
        "SELECT date, value FROM factor_values WHERE factor = 'ret_1' ORDER BY date"
    )
    ret = ret.set_index(ret["date"].astype(str))["value"]
    closes = aapl.set_index("date")["close"]
    real = closes[SPLIT_DAY] / closes.shift(1)[SPLIT_DAY] - 1  # the day's real return
    assert ret[SPLIT_DAY] == pytest.approx(real, abs=1e-9)
    assert abs(ret[SPLIT_DAY]) < 0.05


def test_a_bad_tick_is_quarantined_as_unexplained_jump_and_the_checks_pass(project, aapl):
    raw = aapl.copy()
    raw.loc[30, ["open", "high", "low", "close"]] *= 10  # a misplaced decimal for one day
    _write(project, "AAPL.csv", raw)

    result = _ingest(project)

    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["unexplained_jumps"].passed
    assert checks["large_daily_moves"].passed  # the stored series holds no jump
    assert _close(project, raw.loc[30, "date"]) is None
    rejected = project.query("SELECT * FROM rejected_rows")
    assert list(rejected["rule"]) == ["unexplained_jump"]
    assert rejected.loc[0, "source"] == "raw/AAPL.csv"
    assert list(project.query("SELECT kind FROM price_revisions")["kind"]) == ["unexplained_jump"]
    assert project.query("SELECT * FROM corporate_actions").empty


def test_a_corrected_past_bar_reaches_the_factors_of_that_day_in_the_next_daily_run(project, aapl):
    _write(project, "AAPL.csv", aapl)
    _ingest(project)
    last = aapl["date"].iloc[-1]
    project.compute_factors("2014-08-01", last, factors=["ret_1"])
    project.instance.add_run(
        DagsterRun(
            job_name=daily_update_job.name,
            run_id=make_new_run_id(),
            status=DagsterRunStatus.SUCCESS,
        )
    )
    evening = dt.date.fromisoformat(last)
    assert revision_run_request(project.instance, evening) is None  # nothing changed since

    corrected = aapl.copy()
    row = corrected.index[corrected["date"] == "2014-08-12"][0]
    corrected.loc[row, "close"] = corrected.loc[row, "low"]
    _write(project, "AAPL.csv", corrected)
    _ingest(project)

    request = revision_run_request(project.instance, evening)
    assert request.tags[RANGE_START] == "2014-08-12" and request.tags[RANGE_END] == last
    assert {k.to_user_string() for k in request.asset_selection} >= {
        "factor_values",
        "predictions",
        "backtests",
    }
    project.compute_factors(request.tags[RANGE_START], request.tags[RANGE_END], ["ret_1"])
    value = project.query(
        "SELECT value FROM factor_values WHERE factor = 'ret_1' AND date = '2014-08-12'"
    )["value"][0]
    previous = corrected.loc[row - 1, "close"]
    assert value == pytest.approx(corrected.loc[row, "close"] / previous - 1, abs=1e-12)


@pytest.mark.parametrize("api_version", ["stable", "v3"])
def test_fmp_split_history_confirms_a_three_for_two_split_which_then_applies(
    project, aapl, fmp_server, api_version
):
    # An unadjusted 3:2 split on a day whose real volumes let the volume rule see it.
    raw = aapl.copy()
    before = raw["date"] < THREE_FOR_TWO_DAY
    raw.loc[before, ["open", "high", "low", "close"]] *= 1.5
    raw.loc[before, "volume"] = (raw.loc[before, "volume"] / 1.5).round()
    _write(project, "AAPL.csv", raw)
    fmp = FMPClient(base_url=fmp_server.base_url, api_version=api_version, backoff_base_s=0.001)

    _ingest(project, fmp=fmp)  # FMP knows no split of AAPL on that day: stays detected, not applied
    first = project.query("SELECT factor, status, applied FROM corporate_actions")
    assert first.to_dict("records") == [{"factor": 1.5, "status": "detected", "applied": False}]

    fmp_server.add_splits("AAPL", {THREE_FOR_TWO_DAY: (3, 2), "2005-02-28": (2, 1)})
    result = _ingest(project, fmp=fmp)

    stored = project.query("SELECT factor, status, applied FROM corporate_actions")
    assert stored.to_dict("records") == [{"factor": 1.5, "status": "confirmed", "applied": True}]
    assert _meta(result, "prices")["first_affected_date"] == aapl.loc[0, "date"]
    adjusted = project.query("SELECT close FROM adjusted_prices ORDER BY date")["close"]
    assert adjusted.tolist() == pytest.approx(aapl["close"].tolist(), rel=1e-12)
    paths = {r.path for r in fmp_server.requests}
    assert paths == (
        {"/stable/splits"}
        if api_version == "stable"
        else {"/api/v3/historical-price-full/stock_split/AAPL"}
    )
