"""Portfolio construction: from a model's signals to the target weights a backtest trades.

* sizing rules (:mod:`~quant_assets.portfolio.sizing`): volatility targeting per asset and per
  book, fixed fractional, fractional Kelly, inverse-volatility risk parity;
* :func:`black_litterman_weights`: the model's predictions as views on an equal-weight or
  minimum-variance prior, optimised with skfolio;
* :func:`apply_constraints`: position, gross and net limits, long-only;
* :func:`rebalance_schedule` and :func:`apply_no_trade_band`: when targets become orders;
* :func:`build_weights`: all of the above, driven by one :class:`PortfolioConfig`.

Weights are fractions of equity taken at the close of their date from information known at
that close; NaN means *no order* (hold), as in :func:`~quant_assets.backtest.run_backtest`.
"""

from __future__ import annotations

from quant_assets.portfolio.black_litterman import BlackLittermanModel, black_litterman_weights
from quant_assets.portfolio.config import METHODS, REBALANCE_FREQUENCIES, PortfolioConfig
from quant_assets.portfolio.constraints import apply_constraints
from quant_assets.portfolio.construction import build_weights, target_weights
from quant_assets.portfolio.rebalancing import (
    apply_no_trade_band,
    rebalance_orders,
    rebalance_schedule,
)
from quant_assets.portfolio.risk import portfolio_ex_ante_volatility
from quant_assets.portfolio.sizing import (
    asset_vol_target_weights,
    daily_variance,
    fixed_fractional_weights,
    kelly_weights,
    portfolio_vol_target_weights,
    risk_parity_weights,
)

__all__ = [
    "METHODS",
    "REBALANCE_FREQUENCIES",
    "BlackLittermanModel",
    "PortfolioConfig",
    "apply_constraints",
    "apply_no_trade_band",
    "asset_vol_target_weights",
    "black_litterman_weights",
    "build_weights",
    "daily_variance",
    "fixed_fractional_weights",
    "kelly_weights",
    "portfolio_ex_ante_volatility",
    "portfolio_vol_target_weights",
    "rebalance_orders",
    "rebalance_schedule",
    "risk_parity_weights",
    "target_weights",
]
