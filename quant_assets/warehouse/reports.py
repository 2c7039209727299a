"""Reads behind the backtest report: one stored backtest run and the provenance of its numbers."""

from __future__ import annotations

import duckdb

from quant_assets.backtest.lineage import BacktestRecord
from quant_assets.warehouse.models import load_benchmark, load_model_importance


def load_backtest_record(con: duckdb.DuckDBPyConnection, backtest_id: str) -> BacktestRecord:
    """``backtest_id``'s run, equity, metrics and robustness, with its training's model versions
    (in window order), the training row, the count of raw files and the benchmark closes."""
    run = _one_row(con, "SELECT * FROM backtest_runs WHERE backtest_id = ?", backtest_id)
    training_id = run["training_id"]

    def rows(sql: str, key: str):
        return con.execute(sql, [key]).df()

    return BacktestRecord(
        backtest_id=backtest_id,
        run=run,
        equity=rows(
            "SELECT strategy, date, equity FROM backtest_equity WHERE backtest_id = ?", backtest_id
        ),
        metrics=rows(
            "SELECT strategy, model, model_versions, metric, value FROM backtest_metrics "
            "WHERE backtest_id = ?",
            backtest_id,
        ),
        robustness=rows(
            "SELECT strategy, analysis, metric, param, point, lower, upper "
            "FROM backtest_robustness WHERE backtest_id = ?",
            backtest_id,
        ),
        versions=rows(
            "SELECT model, model_version, mlflow_run_id, test_start FROM model_versions "
            'WHERE training_id = ? ORDER BY model, "window"',
            training_id,
        ),
        training=_one_row(con, "SELECT * FROM trainings WHERE training_id = ?", training_id),
        raw_files=int(con.execute("SELECT count(*) FROM raw_files").fetchone()[0]),
        benchmark=load_benchmark(con),
        importance=load_model_importance(con, training_id),
    )


def _one_row(con: duckdb.DuckDBPyConnection, sql: str, key: str) -> dict:
    frame = con.execute(sql, [key]).df()
    if frame.empty:
        raise LookupError(f"no row for {key!r}: {sql}")
    return frame.iloc[0].to_dict()
