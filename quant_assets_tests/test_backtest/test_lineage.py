"""A stored backtest record turned into the report's inputs and lineage (hand-made tables)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from quant_assets.backtest.lineage import BacktestRecord, report_inputs, report_lineage


def _record(benchmark: pd.Series | None = None) -> BacktestRecord:
    days = pd.to_datetime(["2020-01-02", "2020-01-03"])
    return BacktestRecord(
        backtest_id="bt-1",
        run={
            "training_id": "tr-9",
            "first_date": pd.Timestamp("2020-01-02"),
            "last_date": dt.date(2020, 1, 3),
            "fee_bps": 2.0,
            "slippage_bps": 1.0,
        },
        equity=pd.DataFrame(
            {
                "strategy": ["a", "a", "b", "b"],
                "date": [days[0].date(), days[1].date()] * 2,
                "equity": [1.0, 1.1, 1.0, 0.9],
            }
        ),
        metrics=pd.DataFrame(
            {
                "strategy": ["a", "b"],
                "model": ["mlp", "tsmom"],
                "model_versions": ["mlp:3", "rule:tsmom"],
                "metric": ["sharpe", "sharpe"],
                "value": [1.5, -0.2],
            }
        ),
        robustness=pd.DataFrame(
            {
                "strategy": ["a", "a", "b", "a"],
                "analysis": [
                    "cost_sensitivity",
                    "cost_sensitivity",
                    "cost_sensitivity",
                    "bootstrap",
                ],
                "metric": ["sharpe", "sharpe", "sharpe", "sharpe"],
                "param": [0.0, 10.0, 0.0, 0.9],
                "point": [1.6, 1.2, -0.1, 1.5],
                "lower": [np.nan, np.nan, np.nan, 0.4],
                "upper": [np.nan, np.nan, np.nan, 2.5],
            }
        ),
        versions=pd.DataFrame(
            {
                "model": ["mlp", "mlp", "tsmom"],
                "model_version": ["mlp:2", "mlp:3", "rule:tsmom"],
                "mlflow_run_id": ["r2", "r3", None],
                "test_start": pd.to_datetime(["2019-01-02", "2020-01-02", "2019-01-02"]),
            }
        ),
        training={
            "data_start": dt.date(2013, 2, 8),
            "data_end": pd.Timestamp("2019-12-31"),
            "tickers": np.array(["AAPL", "MSFT"]),
        },
        raw_files=4,
        benchmark=pd.Series(dtype=float) if benchmark is None else benchmark,
    )


def test_lineage_names_every_run_range_and_model_version():
    lineage = report_lineage(_record(), report_run_id="rep-5")
    assert lineage["backtest run (Dagster)"] == "bt-1"
    assert lineage["report run (Dagster)"] == "rep-5"
    assert lineage["training run (Dagster)"] == "tr-9"
    assert lineage["training data range"] == "2013-02-08..2019-12-31"
    assert lineage["out-of-sample range"] == "2020-01-02..2020-01-03"
    assert lineage["tickers"] == "AAPL, MSFT"
    assert lineage["fees"] == "2.0 bps + 1.0 bps slippage"
    assert lineage["raw files"].startswith("4 files")
    assert lineage["mlp from 2019-01-02"] == "mlp:2 (MLflow run r2)"
    assert lineage["mlp from 2020-01-02"] == "mlp:3 (MLflow run r3)"
    assert lineage["tsmom from 2019-01-02"] == "rule:tsmom (MLflow run None)"


def test_report_inputs_are_wide_tables_of_the_record():
    record = _record()
    inputs = report_inputs(record, "rep-5")
    assert list(inputs.equity.columns) == ["a", "b"]
    assert inputs.equity.index.dtype == "datetime64[ns]"
    assert inputs.equity.loc[pd.Timestamp("2020-01-03"), "b"] == 0.9
    assert inputs.metrics.loc["a", "sharpe"] == 1.5
    assert inputs.cost_sensitivity.index.name == "fee_bps"
    assert inputs.cost_sensitivity.loc[10.0, "a"] == 1.2
    assert np.isnan(inputs.cost_sensitivity.loc[10.0, "b"])
    monte = inputs.monte_carlo
    assert list(monte.columns) == ["strategy", "metric", "point", "lower", "upper", "level"]
    assert monte["level"].tolist() == [0.9]
    assert inputs.benchmark is None  # no benchmark closes stored
    assert record.mlflow_run_ids() == ["r2", "r3"]
    bench = pd.Series([1.0, 2.0], index=pd.to_datetime(["2020-01-02", "2020-01-03"]))
    assert report_inputs(_record(bench), "rep-5").benchmark is not None
