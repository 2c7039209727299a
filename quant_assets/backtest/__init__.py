"""Backtests of target-weight portfolios and the statistics that judge them.

* :func:`run_backtest` simulates one cash-sharing book from wide prices and target weights;
* :class:`SquareRootImpact` and :class:`RiskOverlays` add market impact and risk rules to it;
* :func:`compute_metrics` summarises any daily return series.
"""

from __future__ import annotations

from quant_assets.backtest.costs import SquareRootImpact
from quant_assets.backtest.engine import BacktestResult, run_backtest
from quant_assets.backtest.metrics import compute_metrics, monthly_returns_table, rolling_sharpe
from quant_assets.backtest.overlays import RiskOverlays

__all__ = [
    "BacktestResult",
    "RiskOverlays",
    "SquareRootImpact",
    "compute_metrics",
    "monthly_returns_table",
    "rolling_sharpe",
    "run_backtest",
]
