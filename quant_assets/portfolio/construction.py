"""One entry point from a model's signals to the orders a backtest trades."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_assets.models.returns import daily_returns, ex_ante_volatility
from quant_assets.portfolio.black_litterman import BlackLittermanModel, black_litterman_weights
from quant_assets.portfolio.config import PortfolioConfig
from quant_assets.portfolio.constraints import apply_constraints
from quant_assets.portfolio.rebalancing import apply_no_trade_band, rebalance_schedule
from quant_assets.portfolio.sizing import (
    asset_vol_target_weights,
    daily_variance,
    fixed_fractional_weights,
    kelly_weights,
    portfolio_vol_target_weights,
    risk_parity_weights,
)

__all__ = ["build_weights", "target_weights"]


def build_weights(
    signals: pd.DataFrame, prices: pd.DataFrame, config: PortfolioConfig | None = None
) -> pd.DataFrame:
    """Orders for :func:`~quant_assets.backtest.run_backtest` from a model's signals.

    Sizing (:func:`target_weights`), then :func:`~quant_assets.portfolio.apply_constraints`,
    then the rebalance calendar and the no-trade band
    (:func:`~quant_assets.portfolio.apply_no_trade_band`). The weight dated ``t`` uses signals
    and closes up to the close of ``t`` only and is meant to be traded at that close.

    Parameters
    ----------
    signals : pandas.DataFrame
        Wide (DatetimeIndex x tickers): positions in ``[-1, 1]``, or forecast simple daily
        returns for ``kelly`` and ``black_litterman`` with ``view_kind="forecast"``. NaN = no
        signal. Its dates and tickers must be among those of ``prices``.
    prices : pandas.DataFrame
        Wide closes (adjusted where available), NaN where a ticker has no bar; the history
        before the first signal date warms up the volatility and covariance estimates.
    config : PortfolioConfig, optional
        Method, limits and calendar; defaults to ``PortfolioConfig()``.

    Returns
    -------
    pandas.DataFrame
        Target fractions of equity on the axes of ``signals``; NaN = no order (hold), on
        non-rebalance dates, inside the no-trade band and where a signal or estimate is
        missing.
    """
    config = config or PortfolioConfig()
    targets = target_weights(signals, prices, config)
    constrained = apply_constraints(
        targets,
        max_weight=config.max_weight,
        max_gross=config.max_gross,
        max_net=config.max_net,
        long_only=config.long_only,
    )
    schedule = rebalance_schedule(signals.index, config.rebalance)
    return apply_no_trade_band(constrained, config.no_trade_band, rebalance=schedule)


def target_weights(
    signals: pd.DataFrame, prices: pd.DataFrame, config: PortfolioConfig
) -> pd.DataFrame:
    """Unconstrained targets of ``config.method`` on the axes of ``signals``, every date.

    Black-Litterman optimises on the rebalance dates only (NaN elsewhere), with its limits
    inside the optimisation; the other methods size every date, vectorised.
    """
    closes = _aligned_closes(signals, prices)
    on_prices = signals.reindex(closes.index).astype(np.float64)
    returns = daily_returns(closes)
    method = config.method
    if method == "black_litterman":
        return black_litterman_weights(
            signals.astype(np.float64),
            returns,
            _black_litterman_model(config),
            rebalance=rebalance_schedule(signals.index, config.rebalance),
        )
    if method == "fixed_fractional":
        weights = fixed_fractional_weights(on_prices, fraction=config.fraction)
    else:
        vol = ex_ante_volatility(closes, span=config.vol_span, min_periods=config.vol_min_periods)
        if method == "kelly":
            weights = kelly_weights(
                on_prices, daily_variance(vol), kelly_fraction=config.kelly_fraction
            )
        elif method == "risk_parity":
            weights = risk_parity_weights(on_prices, vol)
        else:
            weights = _vol_target(on_prices, vol, returns, config)
    return weights.reindex(signals.index)


def _vol_target(
    signals: pd.DataFrame, vol: pd.DataFrame, returns: pd.DataFrame, config: PortfolioConfig
) -> pd.DataFrame:
    if config.vol_target_level == "portfolio":
        live = signals.notna().sum(axis=1)
        book = signals.div(live.where(live > 0), axis=0)
    else:
        book = asset_vol_target_weights(signals, vol, target_vol=config.target_vol)
    if config.vol_target_level == "asset":
        return book
    return portfolio_vol_target_weights(
        book,
        returns,
        target_vol=config.target_vol,
        span=config.vol_span,
        window=config.cov_window,
        min_periods=config.vol_min_periods,
    )


def _black_litterman_model(config: PortfolioConfig) -> BlackLittermanModel:
    return BlackLittermanModel(
        prior=config.bl_prior,
        lookback=config.bl_lookback,
        tau=config.bl_tau,
        risk_aversion=config.bl_risk_aversion,
        view_kind=config.view_kind,
        view_sharpe=config.view_sharpe,
        max_weight=config.max_weight,
        max_gross=config.max_gross,
        max_net=config.max_net,
        long_only=config.long_only,
    )


def _aligned_closes(signals: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    for name, frame in (("signals", signals), ("prices", prices)):
        if not isinstance(frame, pd.DataFrame) or not isinstance(frame.index, pd.DatetimeIndex):
            raise TypeError(f"{name} must be a DataFrame with a DatetimeIndex")
        if not frame.index.is_monotonic_increasing or frame.index.has_duplicates:
            raise ValueError(f"{name} index must be sorted and unique")
    missing_tickers = signals.columns.difference(prices.columns)
    if len(missing_tickers):
        raise ValueError(f"signals name tickers without prices: {list(missing_tickers[:5])}")
    missing_dates = signals.index.difference(prices.index)
    if len(missing_dates):
        raise ValueError(f"signals have dates without prices: {list(missing_dates[:5])}")
    return prices[signals.columns].astype(np.float64)
