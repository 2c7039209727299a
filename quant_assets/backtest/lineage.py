"""From a stored backtest and the training behind it to the report's inputs and lineage.

:class:`BacktestRecord` is what the warehouse holds about one backtest run (read by
:func:`quant_assets.warehouse.reports.load_backtest_record`); :func:`report_inputs` turns it
into the :class:`~quant_assets.backtest.report.ReportInputs` that
:func:`~quant_assets.backtest.report.render_report` draws, lineage included: which Dagster runs,
which data range, which model versions (and their MLflow runs) produced every number.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from quant_assets.backtest.report import ReportInputs

__all__ = ["REPORT_NOTES", "REPORT_TITLE", "BacktestRecord", "report_inputs", "report_lineage"]

REPORT_TITLE = "quant_assets: out-of-sample backtest of every model and baseline"
REPORT_NOTES = (
    "Every position comes from a model version that had not seen its date "
    "(walk-forward test blocks); in-sample dates are never shown.",
)


@dataclass(frozen=True)
class BacktestRecord:
    """One stored backtest run and its provenance, as read from the warehouse."""

    backtest_id: str
    run: dict  # backtest_runs row: training_id, first_date, last_date, fee_bps, slippage_bps
    equity: pd.DataFrame  # strategy, date, equity
    metrics: pd.DataFrame  # strategy, model, model_versions, metric, value
    robustness: pd.DataFrame  # strategy, analysis, metric, param, point, lower, upper
    versions: pd.DataFrame  # model, model_version, mlflow_run_id, test_start (window order)
    training: dict  # trainings row: data_start, data_end, tickers, ...
    raw_files: int  # files recorded in raw_files
    benchmark: pd.Series  # benchmark closes, empty if absent
    importance: pd.DataFrame | None = None  # model, method, factor, importance, windows

    @property
    def training_id(self) -> str:
        return str(self.run["training_id"])

    @property
    def out_of_sample_range(self) -> str:
        return f"{_day(self.run['first_date'])}..{_day(self.run['last_date'])}"

    def mlflow_run_ids(self) -> list[str]:
        """The MLflow runs of the model versions the backtest judged (rules have none)."""
        return [str(r) for r in self.versions["mlflow_run_id"].dropna().unique()]


def report_inputs(record: BacktestRecord, report_run_id: str) -> ReportInputs:
    """Everything the report draws: wide equity and metrics, the fee sweep, the intervals."""
    equity = record.equity.assign(
        date=pd.to_datetime(record.equity["date"]).astype("datetime64[ns]")
    )
    robust = record.robustness
    costs = robust[robust["analysis"] == "cost_sensitivity"].pivot(
        index="param", columns="strategy", values="point"
    )
    costs.index = costs.index.rename("fee_bps")
    monte = robust[robust["analysis"] == "bootstrap"].rename(columns={"param": "level"})
    return ReportInputs(
        title=REPORT_TITLE,
        equity=equity.pivot(index="date", columns="strategy", values="equity"),
        benchmark=record.benchmark if len(record.benchmark) else None,
        metrics=record.metrics.pivot(index="strategy", columns="metric", values="value"),
        cost_sensitivity=costs,
        monte_carlo=monte[["strategy", "metric", "point", "lower", "upper", "level"]],
        lineage=report_lineage(record, report_run_id),
        notes=list(REPORT_NOTES),
        importance=record.importance,
    )


def report_lineage(record: BacktestRecord, report_run_id: str) -> dict[str, str]:
    """Where every number of the report comes from, as ``{what: which}``."""
    run, training = record.run, record.training
    lineage = {
        "backtest run (Dagster)": record.backtest_id,
        "report run (Dagster)": report_run_id,
        "training run (Dagster)": record.training_id,
        "training data range": f"{_day(training['data_start'])}..{_day(training['data_end'])}",
        "out-of-sample range": record.out_of_sample_range,
        "partitions (trading days)": record.out_of_sample_range,
        "tickers": ", ".join(training["tickers"]),
        "fees": f"{run['fee_bps']} bps + {run['slippage_bps']} bps slippage",
        "raw files": f"{record.raw_files} files in data/raw (see the raw_files table)",
    }
    for row in record.versions.itertuples():
        lineage[f"{row.model} from {_day(row.test_start)}"] = (
            f"{row.model_version} (MLflow run {row.mlflow_run_id})"
        )
    return lineage


def _day(value) -> str:  # DuckDB dates come back as pandas Timestamps or datetime.date
    return pd.Timestamp(value).date().isoformat()
