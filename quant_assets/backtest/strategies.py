"""Backtest every strategy of an order table: equity, trades, metrics and robustness tables.

Each strategy (its long orders ``strategy, model, model_version, ticker, date, weight``) is
replayed by :func:`~quant_assets.backtest.run_backtest` on the closes from its first order on,
with the same fees and slippage; its daily returns get stationary-bootstrap intervals and its
orders a fee-sensitivity sweep. The results are long tables, one row block per strategy,
ready for the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_assets.backtest.engine import run_backtest
from quant_assets.backtest.robustness import bootstrap_confidence_intervals, cost_sensitivity

__all__ = ["INITIAL_CASH", "BacktestSettings", "StrategyBacktests", "backtest_strategies"]

INITIAL_CASH = 1_000_000.0
TRADE_COLUMNS = ["date", "ticker", "shares", "price", "notional", "fee", "reason"]


@dataclass(frozen=True)
class BacktestSettings:
    """Costs (basis points of traded notional) and robustness settings shared by every strategy."""

    fee_bps: float = 2.0
    slippage_bps: float = 1.0
    cost_grid_bps: tuple[float, ...] = (0.0, 2.0, 5.0, 10.0, 20.0)
    bootstrap_samples: int = 500
    seed: int = 0
    initial_cash: float = INITIAL_CASH


@dataclass(frozen=True)
class StrategyBacktests:
    """Long tables of every strategy's backtest (``strategy`` in each)."""

    equity: pd.DataFrame  # strategy, date, equity, daily_return
    trades: pd.DataFrame  # strategy, date, ticker, shares, price, notional, fee, reason
    metrics: pd.DataFrame  # strategy, model, model_versions, metric, value (None if not finite)
    robustness: pd.DataFrame  # strategy, analysis, metric, param, point, lower, upper

    @property
    def first_date(self):
        return self.equity["date"].min().date()

    @property
    def last_date(self):
        return self.equity["date"].max().date()

    def wide_metrics(self) -> pd.DataFrame:
        """Strategies x metrics."""
        return self.metrics.pivot(index="strategy", columns="metric", values="value")


def backtest_strategies(
    orders: pd.DataFrame,
    closes: pd.DataFrame,
    settings: BacktestSettings,
    benchmark_returns: pd.Series | None = None,
) -> StrategyBacktests:
    """Backtest each strategy of ``orders`` (long) on ``closes`` (wide: dates x tickers)."""
    if orders.empty:
        raise ValueError("no orders to backtest")
    orders = orders.assign(date=pd.to_datetime(orders["date"]).astype("datetime64[ns]"))
    parts = [
        _one_strategy(str(strategy), rows, closes, settings, benchmark_returns)
        for strategy, rows in orders.groupby("strategy", sort=True)
    ]
    return StrategyBacktests(
        *(pd.concat([p[i] for p in parts], ignore_index=True) for i in range(4))
    )


def _one_strategy(
    strategy: str,
    rows: pd.DataFrame,
    closes: pd.DataFrame,
    settings: BacktestSettings,
    benchmark_returns: pd.Series | None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    weights = rows.pivot(index="date", columns="ticker", values="weight")
    prices = closes.loc[closes.index >= weights.index.min(), weights.columns]
    weights = weights.reindex(prices.index)
    result = run_backtest(
        prices,
        weights,
        fee_bps=settings.fee_bps,
        slippage_bps=settings.slippage_bps,
        initial_cash=settings.initial_cash,
        benchmark=benchmark_returns,
    )
    equity = pd.DataFrame(
        {
            "strategy": strategy,
            "date": result.equity.index,
            "equity": result.equity.to_numpy(),
            "daily_return": result.equity.pct_change().to_numpy(),
        }
    )
    metrics = pd.DataFrame(
        {
            "strategy": strategy,
            "model": rows["model"].iloc[0],
            "model_versions": ",".join(sorted(rows["model_version"].unique())),
            "metric": list(result.metrics),
            "value": [_finite_or_none(v) for v in result.metrics.values()],
        }
    )
    trades = result.trades[TRADE_COLUMNS].assign(strategy=strategy)
    returns = result.equity.pct_change().dropna()
    robustness = _robustness(strategy, returns, prices, weights, settings)
    return equity, trades, metrics, robustness


def _robustness(
    strategy: str,
    returns: pd.Series,
    prices: pd.DataFrame,
    weights: pd.DataFrame,
    settings: BacktestSettings,
) -> pd.DataFrame:
    """Bootstrap intervals (``param`` = confidence level) and Sharpe by fee (``param`` = bps)."""
    intervals = bootstrap_confidence_intervals(
        returns, n_samples=settings.bootstrap_samples, seed=settings.seed
    )
    costs = cost_sensitivity(
        prices,
        weights,
        fees_bps=list(settings.cost_grid_bps),
        initial_cash=settings.initial_cash,
        slippage_bps=settings.slippage_bps,
    )
    sweep = pd.DataFrame(
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
    boot = intervals.rename(columns={"level": "param"}).assign(
        strategy=strategy, analysis="bootstrap"
    )
    return pd.concat([boot, sweep], ignore_index=True)


def _finite_or_none(value) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None
