"""Portfolio asset: target weights per strategy, ticker and trading day (``weights`` table).

A strategy is a model's out-of-sample positions turned into orders by one sizing method:
volatility targeting for every model and baseline, and Black-Litterman (the model's positions as
views on an equal-weight prior, through skfolio) for the networks. Weights for a day use
predictions and closes up to that day only; the no-trade band makes each order depend on the
previous ones, so a run recomputes the path from the first prediction (cheap: a few thousand
dates) and writes only its own days.
"""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.

import pandas as pd
from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from quant_assets.assets.models import predictions
from quant_assets.models.returns import long_from_wide
from quant_assets.partitions import trading_day_partitions, trading_day_window
from quant_assets.portfolio import PortfolioConfig, build_weights
from quant_assets.resources.warehouse import Warehouse
from quant_assets.warehouse.backtests import replace_weights
from quant_assets.warehouse.models import load_closes, load_predictions


class TargetWeightsConfig(Config):
    """Sizing of every strategy; see :class:`quant_assets.portfolio.PortfolioConfig`."""

    methods: list[str] = ["vol_target"]
    black_litterman_models: list[str] = ["mlp", "lstm", "tft"]
    target_vol: float = 0.15
    max_weight: float = 0.25
    max_gross: float = 1.5
    max_net: float = 1.0
    long_only: bool = False
    rebalance: str = "weekly"
    no_trade_band: float = 0.01


def strategy_configs(config: TargetWeightsConfig, models: list[str]) -> dict[str, tuple]:
    """``{strategy: (model, PortfolioConfig)}`` for the models that have predictions."""
    limits = dict(
        target_vol=config.target_vol,
        max_weight=config.max_weight,
        max_gross=config.max_gross,
        max_net=config.max_net,
        long_only=config.long_only,
        rebalance=config.rebalance,
        no_trade_band=config.no_trade_band,
    )
    out = {}
    for model in models:
        for method in config.methods:
            out[f"{model}:{method}"] = (model, PortfolioConfig(method=method, **limits))
        if model in config.black_litterman_models:
            bl = {**limits, "rebalance": "monthly"}
            out[f"{model}:black_litterman"] = (
                model,
                PortfolioConfig(method="black_litterman", **bl),
            )
    return out


@asset(
    deps=[predictions],
    partitions_def=trading_day_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="portfolio",
    pool="warehouse",
    kinds={"duckdb", "skfolio"},
)
def target_weights(
    context: AssetExecutionContext, config: TargetWeightsConfig, warehouse: Warehouse
) -> MaterializeResult:
    """Orders as target fractions of equity per strategy (``weights``); a missing row = hold."""
    start, end = trading_day_window(context)
    with warehouse.connect(read_only=True) as con:
        preds = load_predictions(con, None, end)
        closes = load_closes(con, end)
    if preds.empty:
        raise Failure("no predictions: materialize trained_models and predictions first")

    frames, summary = [], []
    for strategy, (model, portfolio) in strategy_configs(
        config, sorted(preds["model"].unique())
    ).items():
        rows = preds[preds["model"] == model]
        signals = rows.pivot(index="date", columns="ticker", values="position")
        signals = signals.reindex(columns=[t for t in signals.columns if t in closes.columns])
        prices = closes.loc[:, signals.columns]
        orders = build_weights(signals, prices, portfolio)
        window = orders.loc[
            (orders.index >= pd.Timestamp(start)) & (orders.index <= pd.Timestamp(end))
        ]
        long = long_from_wide(window, "weight")
        versions = rows[["date", "ticker", "model_version"]]
        long = long.merge(versions, on=["date", "ticker"], how="left")
        long["model_version"] = long["model_version"].fillna(f"{model}:unversioned")
        frames.append(long.assign(strategy=strategy, model=model))
        gross = window.abs().sum(axis=1)
        summary.append(
            {
                "strategy": strategy,
                "method": portfolio.method,
                "orders": len(long),
                "order_dates": int(window.notna().any(axis=1).sum()),
                "max_gross": float(gross.max()) if len(gross) else 0.0,
            }
        )
    weights = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    with warehouse.transaction() as con:
        deleted, inserted = replace_weights(con, weights, start, end)
    table = pd.DataFrame(summary)
    return MaterializeResult(
        metadata={
            "window": f"{start}..{end}",
            "strategies": len(summary),
            "rows_written": inserted,
            "rows_replaced": deleted,
            "strategy_summary": MetadataValue.md(table.to_markdown(index=False, floatfmt=".3f")),
        }
    )
