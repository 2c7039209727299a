"""Reproducibility on DuckLake: a backtest records the snapshot it read, and is rebuilt from it.

Real bars of 2014-2015 land, a backtest of an equal-weight book runs on what it reads and
stores its metrics with the snapshot id. Then newer data lands (2016-2017, plus a corrected
2015 close): re-running on the current data gives other numbers, re-running on the recorded
snapshot (``AT (VERSION => id)``) gives the stored ones exactly.
"""

from __future__ import annotations

import pandas as pd
import pytest

from quant_assets.backtest.strategies import BacktestSettings, backtest_strategies
from quant_assets.warehouse.backtests import write_backtest
from quant_assets.warehouse.ducklake import at_snapshot, current_snapshot_id
from quant_assets.warehouse.models import load_closes
from quant_assets.warehouse.prices import upsert_prices
from quant_assets_tests.test_warehouse.conftest import warehouse_on

SETTINGS = BacktestSettings(bootstrap_samples=50)


def _equal_weight_backtest(closes: pd.DataFrame):
    """Each month-end, 1/n of the book in each ticker: orders from the closes' own dates."""
    month_ends = closes.index.to_series().groupby(closes.index.to_period("M")).max()
    orders = pd.DataFrame(
        [(d, t) for d in month_ends for t in closes.columns], columns=["date", "ticker"]
    ).assign(strategy="equal", model="none", model_version="0", weight=1.0 / closes.shape[1])
    return backtest_strategies(orders, closes, SETTINGS)


def _run_backtest(warehouse, backtest_id: str) -> pd.DataFrame:
    with warehouse.reading() as con:
        snapshot_id = current_snapshot_id(con)
        closes = load_closes(con)
    result = _equal_weight_backtest(closes)
    run = {
        "training_id": None,
        "first_date": result.first_date,
        "last_date": result.last_date,
        "fee_bps": SETTINGS.fee_bps,
        "slippage_bps": SETTINGS.slippage_bps,
        "snapshot_id": snapshot_id,
    }
    with warehouse.transaction() as con:
        write_backtest(
            con,
            backtest_id=backtest_id,
            run=run,
            equity=result.equity,
            trades=result.trades,
            metrics=result.metrics,
            robustness=result.robustness,
        )
    return result.metrics


def _stored(warehouse, backtest_id: str) -> tuple[int | None, pd.DataFrame]:
    with warehouse.connect(read_only=True) as con:
        snapshot_id = con.execute(
            "SELECT snapshot_id FROM backtest_runs WHERE backtest_id = ?", [backtest_id]
        ).fetchone()[0]
        metrics = con.execute(
            "SELECT * EXCLUDE (backtest_id) FROM backtest_metrics WHERE backtest_id = ?",
            [backtest_id],
        ).df()
    return snapshot_id, metrics


def _sorted(metrics: pd.DataFrame) -> pd.DataFrame:
    return metrics.sort_values(list(metrics.columns[:2])).reset_index(drop=True)


def test_backtest_is_rebuilt_from_its_snapshot_after_newer_data_landed(tmp_path, real_bars):
    lake = warehouse_on("ducklake", tmp_path)
    years = real_bars["date"].dt.year
    with lake.transaction() as con:
        upsert_prices(con, real_bars[years <= 2015])
    _run_backtest(lake, "past")
    snapshot_id, stored = _stored(lake, "past")
    assert snapshot_id is not None

    corrected = real_bars[(years == 2015) & (real_bars["ticker"] == "AAPL")].head(1)
    corrected = corrected.assign(close=corrected["close"] * 1.1, source="raw/correction.csv")
    with lake.transaction() as con:
        upsert_prices(con, real_bars[years >= 2016])
        upsert_prices(con, corrected)

    with lake.reading() as con:
        assert current_snapshot_id(con) > snapshot_id
        now = _equal_weight_backtest(load_closes(con)).metrics
        at_snapshot(con, snapshot_id, ("prices",))
        rebuilt = _equal_weight_backtest(load_closes(con)).metrics
    assert not _sorted(now)[stored.columns].equals(_sorted(stored))
    pd.testing.assert_frame_equal(
        _sorted(rebuilt)[stored.columns], _sorted(stored), check_dtype=False
    )


@pytest.mark.parametrize("backend", ["duckdb"])
def test_duckdb_backend_records_no_snapshot(tmp_path, real_bars, backend):
    warehouse = warehouse_on(backend, tmp_path)
    with warehouse.transaction() as con:
        upsert_prices(con, real_bars[real_bars["date"].dt.year == 2014])
    _run_backtest(warehouse, "run")
    assert _stored(warehouse, "run")[0] is None
