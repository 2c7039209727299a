"""Backtest assets: every strategy's out-of-sample book, its robustness, and the report.

``backtests`` replays each strategy's orders (``weights``) on the closes with fees and slippage,
checks that every prediction behind them lies in its model version's walk-forward test block,
and stores equity, trades, metrics (against the benchmark), Monte Carlo intervals and cost
sensitivity. ``backtest_report`` renders them side by side into ``data/reports/`` and attaches
the report to the MLflow runs of the models it judges.
"""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.
import base64
from pathlib import Path

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from quant_assets.assets.portfolio import target_weights
from quant_assets.backtest import run_backtest
from quant_assets.backtest.report import ReportInputs, metrics_markdown, render_report
from quant_assets.backtest.robustness import bootstrap_confidence_intervals, cost_sensitivity
from quant_assets.paths import data_dir
from quant_assets.resources.mlflow import MLflowResource
from quant_assets.resources.warehouse import Warehouse
from quant_assets.warehouse.backtests import latest_backtest_id, write_backtest
from quant_assets.warehouse.models import latest_training, load_benchmark, load_closes

INITIAL_CASH = 1_000_000.0


class BacktestsConfig(Config):
    """Costs and robustness settings shared by every strategy."""

    fee_bps: float = 2.0
    slippage_bps: float = 1.0
    cost_grid_bps: list[float] = [0.0, 2.0, 5.0, 10.0, 20.0]
    bootstrap_samples: int = 500
    seed: int = 0


def _out_of_sample_violations(con, training_id: str) -> pd.DataFrame:
    """Predictions dated outside their model version's test block (must be none)."""
    return con.execute(
        """
        SELECT p.model, p.model_version, p.date FROM predictions p
        LEFT JOIN model_versions v
          ON v.training_id = p.training_id AND v.model = p.model
         AND v.model_version = p.model_version
         AND p.date >= v.test_start AND (v.test_end IS NULL OR p.date <= v.test_end)
        WHERE p.training_id = ? AND v.model IS NULL
        LIMIT 20
        """,
        [training_id],
    ).df()


@asset(deps=[target_weights], group_name="backtest", pool="warehouse", kinds={"numba", "duckdb"})
def backtests(
    context: AssetExecutionContext, config: BacktestsConfig, warehouse: Warehouse
) -> MaterializeResult:
    """Out-of-sample backtests of every strategy, with costs, metrics and robustness tables."""
    with warehouse.connect(read_only=True) as con:
        training = latest_training(con)
        if training is None:
            raise Failure("no trained models: materialize trained_models first")
        leaks = _out_of_sample_violations(con, training["training_id"])
        orders = con.execute(
            "SELECT strategy, model, model_version, ticker, date, weight FROM weights"
        ).df()
        closes = load_closes(con)
        benchmark = load_benchmark(con)
    if len(leaks):
        raise Failure(
            "predictions outside their model's out-of-sample block: refusing to backtest",
            metadata={"examples": MetadataValue.md(leaks.to_markdown(index=False))},
        )
    if orders.empty:
        raise Failure("no target weights: materialize target_weights first")
    orders["date"] = pd.to_datetime(orders["date"]).astype("datetime64[ns]")
    bench_returns = benchmark.pct_change() if len(benchmark) else None

    equity_rows, trade_rows, metric_rows, robust_rows = [], [], [], []
    for strategy, rows in orders.groupby("strategy", sort=True):
        weights = rows.pivot(index="date", columns="ticker", values="weight")
        first = weights.index.min()
        prices = closes.loc[closes.index >= first, weights.columns]
        weights = weights.reindex(prices.index)
        result = run_backtest(
            prices,
            weights,
            fee_bps=config.fee_bps,
            slippage_bps=config.slippage_bps,
            initial_cash=INITIAL_CASH,
            benchmark=bench_returns,
        )
        returns = result.equity.pct_change().dropna()
        metrics = result.metrics
        model = rows["model"].iloc[0]
        versions = ",".join(sorted(rows["model_version"].unique()))
        metric_rows += [
            {
                "strategy": strategy,
                "model": model,
                "model_versions": versions,
                "metric": k,
                "value": float(v) if v is not None and np.isfinite(v) else None,
            }
            for k, v in metrics.items()
        ]
        equity_rows.append(
            pd.DataFrame(
                {
                    "strategy": strategy,
                    "date": result.equity.index,
                    "equity": result.equity.to_numpy(),
                    "daily_return": result.equity.pct_change().to_numpy(),
                }
            )
        )
        trades = result.trades[["date", "ticker", "shares", "price", "notional", "fee", "reason"]]
        trade_rows.append(trades.assign(strategy=strategy))
        intervals = bootstrap_confidence_intervals(
            returns, n_samples=config.bootstrap_samples, seed=config.seed
        )
        robust_rows.append(
            intervals.rename(columns={"level": "param"}).assign(
                strategy=strategy, analysis="bootstrap"
            )
        )
        costs = cost_sensitivity(
            prices,
            weights,
            fees_bps=config.cost_grid_bps,
            initial_cash=INITIAL_CASH,
            slippage_bps=config.slippage_bps,
        )
        robust_rows.append(
            pd.DataFrame(
                {
                    "strategy": strategy,
                    "analysis": "cost_sensitivity",
                    "metric": "sharpe",
                    "param": costs.index.astype(float),
                    "point": costs["sharpe"].to_numpy(),
                    "lower": np.nan,
                    "upper": np.nan,
                }
            )
        )

    equity = pd.concat(equity_rows, ignore_index=True)
    metric_table = pd.DataFrame(metric_rows)
    span = (equity["date"].min().date(), equity["date"].max().date())
    with warehouse.transaction() as con:
        write_backtest(
            con,
            backtest_id=context.run_id,
            run={
                "training_id": training["training_id"],
                "first_date": span[0],
                "last_date": span[1],
                "fee_bps": config.fee_bps,
                "slippage_bps": config.slippage_bps,
            },
            equity=equity,
            trades=pd.concat(trade_rows, ignore_index=True),
            metrics=metric_table,
            robustness=pd.concat(robust_rows, ignore_index=True),
        )
    wide = metric_table.pivot(index="strategy", columns="metric", values="value")
    return MaterializeResult(
        metadata={
            "backtest_id": context.run_id,
            "training_id": training["training_id"],
            "strategies": len(wide),
            "out_of_sample_range": f"{span[0]}..{span[1]}",
            "fee_bps": config.fee_bps,
            "slippage_bps": config.slippage_bps,
            "key_metrics": MetadataValue.md(metrics_markdown(wide)),
        }
    )


class ReportConfig(Config):
    """Where reports go (default ``data/reports``) and whether to attach them to MLflow."""

    reports_dir: str = ""
    attach_to_mlflow: bool = True


@asset(deps=[backtests], group_name="backtest", kinds={"html", "mlflow"})
def backtest_report(
    context: AssetExecutionContext,
    config: ReportConfig,
    warehouse: Warehouse,
    mlflow: MLflowResource,
) -> MaterializeResult:
    """The HTML report comparing every model and baseline out of sample, with its lineage."""
    with warehouse.connect(read_only=True) as con:
        backtest_id = latest_backtest_id(con)
        if backtest_id is None:
            raise Failure("no backtest yet: materialize backtests first")
        run = con.execute("SELECT * FROM backtest_runs WHERE backtest_id = ?", [backtest_id]).df()
        equity = con.execute(
            "SELECT strategy, date, equity FROM backtest_equity WHERE backtest_id = ?",
            [backtest_id],
        ).df()
        metrics = con.execute(
            "SELECT strategy, model, model_versions, metric, value FROM backtest_metrics "
            "WHERE backtest_id = ?",
            [backtest_id],
        ).df()
        robust = con.execute(
            "SELECT * FROM backtest_robustness WHERE backtest_id = ?", [backtest_id]
        ).df()
        versions = con.execute(
            "SELECT model, model_version, mlflow_run_id, test_start FROM model_versions "
            'WHERE training_id = ? ORDER BY model, "window"',
            [run["training_id"].iloc[0]],
        ).df()
        training = con.execute(
            "SELECT * FROM trainings WHERE training_id = ?", [run["training_id"].iloc[0]]
        ).df()
        sources = con.execute("SELECT path, sha256 FROM raw_files ORDER BY path").df()
        benchmark = load_benchmark(con)
    equity["date"] = pd.to_datetime(equity["date"]).astype("datetime64[ns]")
    wide_equity = equity.pivot(index="date", columns="strategy", values="equity")
    wide_metrics = metrics.pivot(index="strategy", columns="metric", values="value")
    costs = robust[robust["analysis"] == "cost_sensitivity"].pivot(
        index="param", columns="strategy", values="point"
    )
    costs.index = costs.index.rename("fee_bps")
    monte = robust[robust["analysis"] == "bootstrap"].rename(columns={"param": "level"})
    monte = monte[["strategy", "metric", "point", "lower", "upper", "level"]]

    def day(value) -> str:  # DuckDB dates come back as pandas Timestamps
        return pd.Timestamp(value).date().isoformat()

    first, last = day(run["first_date"].iloc[0]), day(run["last_date"].iloc[0])
    lineage = {
        "backtest run (Dagster)": backtest_id,
        "report run (Dagster)": context.run_id,
        "training run (Dagster)": str(run["training_id"].iloc[0]),
        "training data range": (
            f"{day(training['data_start'].iloc[0])}..{day(training['data_end'].iloc[0])}"
        ),
        "out-of-sample range": f"{first}..{last}",
        "partitions (trading days)": f"{first}..{last}",
        "tickers": ", ".join(training["tickers"].iloc[0]),
        "fees": f"{run['fee_bps'].iloc[0]} bps + {run['slippage_bps'].iloc[0]} bps slippage",
        "raw files": f"{len(sources)} files in data/raw (see the raw_files table)",
    }
    for row in versions.itertuples():
        lineage[f"{row.model} from {day(row.test_start)}"] = (
            f"{row.model_version} (MLflow run {row.mlflow_run_id})"
        )
    out_dir = Path(config.reports_dir) if config.reports_dir else data_dir() / "reports"
    files = render_report(
        ReportInputs(
            title="quant_assets: out-of-sample backtest of every model and baseline",
            equity=wide_equity,
            benchmark=benchmark if len(benchmark) else None,
            metrics=wide_metrics,
            cost_sensitivity=costs,
            monte_carlo=monte,
            lineage=lineage,
            notes=[
                "Every position comes from a model version that had not seen its date "
                "(walk-forward test blocks); in-sample dates are never shown.",
            ],
        ),
        out_dir / "latest",
    )
    attached = 0
    if config.attach_to_mlflow:
        client = mlflow.tracker().client
        for run_id in versions["mlflow_run_id"].dropna().unique():
            client.log_artifact(run_id, str(files.html), artifact_path="backtest_report")
            client.log_artifact(run_id, str(files.equity_png), artifact_path="backtest_report")
            attached += 1
    png = base64.b64encode(files.equity_png.read_bytes()).decode()
    return MaterializeResult(
        metadata={
            "report": MetadataValue.path(str(files.html)),
            "report_url": MetadataValue.url(files.html.resolve().as_uri()),
            "key_metrics": MetadataValue.md(metrics_markdown(wide_metrics)),
            "equity_curves": MetadataValue.md(f"![equity curves](data:image/png;base64,{png})"),
            "strategies": len(wide_metrics),
            "backtest_id": backtest_id,
            "training_id": str(run["training_id"].iloc[0]),
            "out_of_sample_range": f"{first}..{last}",
            "model_versions": MetadataValue.md(versions.to_markdown(index=False)),
            "mlflow_runs_with_report": attached,
            "lineage": MetadataValue.json({k: str(v) for k, v in lineage.items()}),
        }
    )


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
            _out_of_sample_violations(con, training["training_id"])
            if training is not None
            else pd.DataFrame()
        )
    metadata = {"violations": len(leaks)}
    if len(leaks):
        metadata["examples"] = MetadataValue.md(leaks.to_markdown(index=False))
    return AssetCheckResult(passed=leaks.empty, metadata=metadata)


backtest_checks = [out_of_sample_only]
