"""Strategies: each model's out-of-sample positions sized by one method, as long order tables.

A strategy is named ``"<model>:<method>"``. Every model gets each of the chosen sizing methods;
the models named for Black-Litterman also get ``"<model>:black_litterman"`` (rebalanced
monthly: the optimisation is the slow part and its views move slowly).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import pandas as pd

from quant_assets.models.returns import long_from_wide
from quant_assets.portfolio.config import PortfolioConfig
from quant_assets.portfolio.construction import build_weights

__all__ = ["strategy_configs", "strategy_weights"]

WEIGHT_COLUMNS = ["strategy", "model", "model_version", "ticker", "date", "weight"]


def strategy_configs(
    models: Iterable[str],
    methods: Iterable[str],
    black_litterman_models: Iterable[str],
    limits: Mapping[str, object],
) -> dict[str, tuple[str, PortfolioConfig]]:
    """``{strategy: (model, PortfolioConfig)}``; ``limits`` are PortfolioConfig fields shared
    by every strategy (caps, target volatility, rebalancing, no-trade band)."""
    methods, bl_models = list(methods), set(black_litterman_models)
    out: dict[str, tuple[str, PortfolioConfig]] = {}
    for model in models:
        for method in methods:
            out[f"{model}:{method}"] = (model, PortfolioConfig(method=method, **limits))
        if model in bl_models:
            bl = {**limits, "rebalance": "monthly"}
            out[f"{model}:black_litterman"] = (
                model,
                PortfolioConfig(method="black_litterman", **bl),
            )
    return out


def strategy_weights(
    predictions: pd.DataFrame,
    closes: pd.DataFrame,
    strategies: Mapping[str, tuple[str, PortfolioConfig]],
    start: dt.date,
    end: dt.date,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Orders dated ``start..end`` of every strategy, and a per-strategy summary.

    ``predictions`` is long (``model, ticker, date, position, model_version``) and may start
    long before ``start``: the no-trade band makes each order depend on the earlier ones, so the
    path is computed from the first prediction and only the window is returned. ``closes`` is
    wide (dates x tickers), up to ``end``. Orders are long: ``strategy, model, model_version,
    ticker, date, weight`` (a missing row means hold); a ticker without closes is left out.
    """
    frames, summary = [], []
    for strategy, (model, portfolio) in strategies.items():
        rows = predictions[predictions["model"] == model]
        signals = rows.pivot(index="date", columns="ticker", values="position")
        signals = signals.reindex(columns=[t for t in signals.columns if t in closes.columns])
        orders = build_weights(signals, closes.loc[:, signals.columns], portfolio)
        window = orders.loc[
            (orders.index >= pd.Timestamp(start)) & (orders.index <= pd.Timestamp(end))
        ]
        long = long_from_wide(window, "weight").merge(
            rows[["date", "ticker", "model_version"]], on=["date", "ticker"], how="left"
        )
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
    weights = (
        pd.concat(frames, ignore_index=True)[WEIGHT_COLUMNS]
        if frames
        else pd.DataFrame(columns=WEIGHT_COLUMNS)
    )
    return weights, pd.DataFrame(summary)
