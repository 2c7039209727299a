"""Backtest assets: every strategy's out-of-sample book, its robustness, and the report.

``backtests`` replays each strategy's orders (``weights``) on the closes with fees and slippage,
checks that every prediction behind them lies in its model version's walk-forward test block,
and stores equity, trades, metrics (against the benchmark), Monte Carlo intervals and cost
sensitivity. ``backtest_report`` renders them side by side into ``data/reports/`` and attaches
the report to the MLflow runs of the models it judges.
"""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.
import base64
from datetime import timedelta
from pathlib import Path

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    Config,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)
from pydantic import Field, field_validator

from quant_assets.assets.factors import ON_UPSTREAM_UPDATE
from quant_assets.assets.portfolio import target_weights
from quant_assets.backtest.lineage import report_inputs
from quant_assets.backtest.report import (
    ReportFiles,
    metrics_markdown,
    render_report,
    training_state_table,
    withhold_unconverged,
)
from quant_assets.backtest.strategies import BacktestSettings, backtest_strategies
from quant_assets.partitions import EXCHANGE_TIMEZONE, REPORT_DEADLINE_CRON
from quant_assets.paths import data_dir
from quant_assets.resources.mlflow import MLflowResource
from quant_assets.resources.warehouse import Warehouse
from quant_assets.warehouse.backtests import (
    latest_backtest_id,
    load_weights,
    out_of_sample_violations,
    write_backtest,
)
from quant_assets.warehouse.ducklake import current_snapshot_id
from quant_assets.warehouse.models import (
    latest_training,
    load_benchmark,
    load_closes,
    load_training_state,
)
from quant_assets.warehouse.reports import load_backtest_record

# The daily schedule (DAILY_UPDATE_CRON) rebuilds the report with the day's bars: a report not
# rebuilt in the 3 hours before REPORT_DEADLINE_CRON is stale (FAIL in the UI).
REPORT_FRESHNESS = FreshnessPolicy.cron(
    deadline_cron=REPORT_DEADLINE_CRON,
    lower_bound_delta=timedelta(hours=3),
    timezone=EXCHANGE_TIMEZONE,
)


class BacktestsConfig(Config):
    """Costs and robustness settings shared by every strategy."""

    fee_bps: float = Field(
        default=2.0, ge=0.0, le=1000.0, description="Fee per trade, in bps of traded notional."
    )
    slippage_bps: float = Field(
        default=1.0,
        ge=0.0,
        le=1000.0,
        description="Slippage per trade (price moved against the order), in bps of notional.",
    )
    cost_grid_bps: list[float] = Field(
        default=[0.0, 2.0, 5.0, 10.0, 20.0],
        description="Fees (bps of notional, each 0..1000) of the cost-sensitivity sweep.",
    )
    bootstrap_samples: int = Field(
        default=500,
        ge=10,
        le=100_000,
        description="Stationary-bootstrap resamples of the daily returns behind the intervals.",
    )
    seed: int = Field(
        default=0, ge=0, description="Seed of the bootstrap's random generator (an integer)."
    )

    @field_validator("cost_grid_bps")
    @classmethod
    def _fees_in_range(cls, fees: list[float]) -> list[float]:
        if not fees or any(not 0.0 <= f <= 1000.0 for f in fees):
            raise ValueError(f"each fee must lie in 0..1000 bps, and one at least: {fees}")
        return fees

    def settings(self) -> BacktestSettings:
        return BacktestSettings(**{**self.model_dump(), "cost_grid_bps": tuple(self.cost_grid_bps)})


@asset(
    deps=[target_weights],
    automation_condition=ON_UPSTREAM_UPDATE,
    group_name="backtest",
    pool="warehouse",
    kinds={"numba", "duckdb"},
)
def backtests(
    context: AssetExecutionContext, config: BacktestsConfig, warehouse: Warehouse
) -> MaterializeResult:
    """Out-of-sample backtests of every strategy, with costs, metrics and robustness tables."""
    with warehouse.reading() as con:
        snapshot_id = current_snapshot_id(con)
        training = latest_training(con)
        if training is None:
            raise Failure("no trained models: materialize trained_models first")
        leaks = out_of_sample_violations(con, training["training_id"])
        orders = load_weights(con)
        closes = load_closes(con)
        benchmark = load_benchmark(con)
    if len(leaks):
        raise Failure(
            "predictions outside their model's out-of-sample block: refusing to backtest",
            metadata={"examples": MetadataValue.md(leaks.to_markdown(index=False))},
        )
    if orders.empty:
        raise Failure("no target weights: materialize target_weights first")
    bench_returns = benchmark.pct_change() if len(benchmark) else None
    result = backtest_strategies(orders, closes, config.settings(), bench_returns)
    run = {
        "training_id": training["training_id"],
        "first_date": result.first_date,
        "last_date": result.last_date,
        "fee_bps": config.fee_bps,
        "slippage_bps": config.slippage_bps,
        "snapshot_id": snapshot_id,
    }
    with warehouse.transaction() as con:
        write_backtest(
            con,
            backtest_id=context.run_id,
            run=run,
            equity=result.equity,
            trades=result.trades,
            metrics=result.metrics,
            robustness=result.robustness,
        )
    wide = result.wide_metrics()
    return MaterializeResult(
        metadata={
            "backtest_id": context.run_id,
            "training_id": training["training_id"],
            "strategies": len(wide),
            "out_of_sample_range": f"{result.first_date}..{result.last_date}",
            "fee_bps": config.fee_bps,
            "slippage_bps": config.slippage_bps,
            "key_metrics": MetadataValue.md(metrics_markdown(wide)),
        }
    )


class ReportConfig(Config):
    """Where reports go and whether to attach them to MLflow."""

    reports_dir: str = Field(
        default="",
        description="Folder the report is written to (its 'latest' subfolder); "
        "empty = data/reports under the data directory.",
    )
    attach_to_mlflow: bool = Field(
        default=True,
        description="Log report.html and equity.png to the MLflow run of every model version "
        "the report judges (artifact path backtest_report).",
    )


@asset(
    deps=[backtests],
    automation_condition=ON_UPSTREAM_UPDATE,
    freshness_policy=REPORT_FRESHNESS,
    group_name="backtest",
    kinds={"html", "mlflow"},
)
def backtest_report(
    context: AssetExecutionContext,
    config: ReportConfig,
    warehouse: Warehouse,
    mlflow: MLflowResource,
) -> MaterializeResult:
    """The HTML report comparing every model and baseline out of sample, with its lineage.

    Each model is labelled with its training state (``model_versions``: seeds, epochs,
    converged, beating the untrained network); a network that did not converge is not a result
    and is shown apart, flagged, never in the headline tables or figures.
    """
    with warehouse.connect(read_only=True) as con:
        backtest_id = latest_backtest_id(con)
        if backtest_id is None:
            raise Failure("no backtest yet: materialize backtests first")
        record = load_backtest_record(con, backtest_id)
        state = training_state_table(load_training_state(con, record.training_id))
    models = dict(zip(record.metrics["strategy"], record.metrics["model"], strict=True))
    inputs = withhold_unconverged(report_inputs(record, context.run_id), state, models)
    out_dir = Path(config.reports_dir) if config.reports_dir else data_dir() / "reports"
    files = render_report(inputs, out_dir / "latest")
    run_ids = record.mlflow_run_ids() if config.attach_to_mlflow else []
    _attach_to_mlflow(mlflow, run_ids, files)
    png = base64.b64encode(files.equity_png.read_bytes()).decode()
    return MaterializeResult(
        metadata={
            "report": MetadataValue.path(str(files.html)),
            "report_url": MetadataValue.url(files.html.resolve().as_uri()),
            "key_metrics": MetadataValue.md(metrics_markdown(inputs.metrics)),
            "equity_curves": MetadataValue.md(f"![equity curves](data:image/png;base64,{png})"),
            "strategies": len(inputs.metrics),
            "backtest_id": backtest_id,
            "training_id": record.training_id,
            "out_of_sample_range": record.out_of_sample_range,
            "model_versions": MetadataValue.md(record.versions.to_markdown(index=False)),
            "mlflow_runs_with_report": len(run_ids),
            "training_state": MetadataValue.md(state.to_markdown(index=False, floatfmt=".1f")),
            "not_results": MetadataValue.json(
                [] if inputs.withheld is None else list(map(str, inputs.withheld.index))
            ),
            "lineage": MetadataValue.json({k: str(v) for k, v in inputs.lineage.items()}),
        }
    )


def _attach_to_mlflow(mlflow: MLflowResource, run_ids: list[str], files: ReportFiles) -> None:
    if not run_ids:
        return
    client = mlflow.tracker().client
    for run_id in run_ids:
        client.log_artifact(run_id, str(files.html), artifact_path="backtest_report")
        client.log_artifact(run_id, str(files.equity_png), artifact_path="backtest_report")


@asset_check(
    asset=backtests,
    name="out_of_sample_only",
    description="Every prediction behind the backtest lies in its model version's test block.",
    blocking=True,
)
def out_of_sample_only(warehouse: Warehouse) -> AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        training = latest_training(con)
        leaks = (
            out_of_sample_violations(con, training["training_id"])
            if training is not None
            else pd.DataFrame()
        )
    metadata = {"violations": len(leaks)}
    if len(leaks):
        metadata["examples"] = MetadataValue.md(leaks.to_markdown(index=False))
    return AssetCheckResult(
        passed=leaks.empty, severity=AssetCheckSeverity.ERROR, metadata=metadata
    )


backtest_checks = [out_of_sample_only]
