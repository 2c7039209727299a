"""Sizing rules: from signals to target weights, date by date, vectorised over the panel.

Conventions shared by every function here:

* Frames are wide: a sorted ``DatetimeIndex`` of trading dates by ticker columns, aligned.
* A weight is a fraction of equity, taken at the close of its date and held to the next close.
* Signals are positions in ``[-1, 1]`` (sign = side, size = conviction) unless said otherwise;
  forecasts are expected simple daily returns (close of ``t`` to close of ``t+1``).
* Volatilities are annualised (``daily std * sqrt(252)``) and known at the close of their date.
* NaN in a signal or a volatility gives a NaN weight: no view, no order (the backtest holds).
"""

from __future__ import annotations

import pandas as pd

from quant_assets.models.returns import TRADING_DAYS_PER_YEAR
from quant_assets.portfolio.risk import portfolio_ex_ante_volatility

__all__ = [
    "asset_vol_target_weights",
    "daily_variance",
    "fixed_fractional_weights",
    "kelly_weights",
    "portfolio_vol_target_weights",
    "risk_parity_weights",
]


def asset_vol_target_weights(
    signals: pd.DataFrame, volatility: pd.DataFrame, *, target_vol: float = 0.15
) -> pd.DataFrame:
    """Each position sized to ``target_vol``, equally weighted over the live signals.

    ``w_i = s_i * target_vol / vol_i / n_t`` with ``n_t`` the number of tickers with both a
    signal and a volatility on the date (Moskowitz et al. 2012; Lim et al. 2019).

    Parameters
    ----------
    signals : pandas.DataFrame
        Positions in ``[-1, 1]``.
    volatility : pandas.DataFrame
        Annualised ex-ante volatility per ticker (e.g.
        :func:`~quant_assets.models.returns.ex_ante_volatility`); zero counts as unknown.
    target_vol : float, default 0.15
        Annualised volatility each full-size position is scaled to.
    """
    scaled = signals * (target_vol / volatility.where(volatility > 0))
    live = scaled.notna().sum(axis=1)
    return scaled.div(live.where(live > 0), axis=0)


def portfolio_vol_target_weights(
    weights: pd.DataFrame,
    returns: pd.DataFrame,
    *,
    target_vol: float = 0.15,
    span: int = 60,
    window: int = 180,
    min_periods: int = 20,
) -> pd.DataFrame:
    """Scale each date's book so that its ex-ante volatility is ``target_vol``.

    The factor is ``target_vol / sigma_t`` with ``sigma_t`` from
    :func:`~quant_assets.portfolio.risk.portfolio_ex_ante_volatility` (EWMA covariance of the
    returns up to ``t``). Dates without an estimate, or with a flat book, get NaN weights.

    Parameters
    ----------
    weights : pandas.DataFrame
        The unscaled book, fractions of equity.
    returns : pandas.DataFrame
        Simple daily returns on the dates of ``weights``.
    target_vol : float, default 0.15
        Annualised volatility target of the whole book.
    span, window, min_periods : int
        Covariance settings, see :func:`portfolio_ex_ante_volatility`.
    """
    vol = portfolio_ex_ante_volatility(
        weights, returns, span=span, window=window, min_periods=min_periods
    )
    return weights.mul(target_vol / vol.where(vol > 0), axis=0)


def fixed_fractional_weights(signals: pd.DataFrame, *, fraction: float = 0.1) -> pd.DataFrame:
    """A fixed fraction of equity per unit of signal: ``w_i = fraction * s_i``.

    Parameters
    ----------
    signals : pandas.DataFrame
        Positions in ``[-1, 1]``.
    fraction : float, default 0.1
        Weight of a full-strength (``|s| = 1``) position.
    """
    return signals * fraction


def kelly_weights(
    forecasts: pd.DataFrame, variance: pd.DataFrame, *, kelly_fraction: float = 0.5
) -> pd.DataFrame:
    """Fractional Kelly weights per asset: ``w_i = kelly_fraction * mu_i / sigma_i**2``.

    The growth-optimal weight of a single asset with daily expected excess return ``mu`` and
    daily variance ``sigma**2``; correlations are ignored (the gross and net caps of
    :func:`~quant_assets.portfolio.constraints.apply_constraints` bound the book).

    Parameters
    ----------
    forecasts : pandas.DataFrame
        Expected simple daily returns ``mu`` for the day after each date.
    variance : pandas.DataFrame
        Forecast **daily** variance of those returns, known at the date; zero counts as unknown.
        From annualised volatility: ``vol ** 2 / 252``.
    kelly_fraction : float, default 0.5
        Multiple of full Kelly (0.5 = half Kelly).
    """
    return kelly_fraction * forecasts / variance.where(variance > 0)


def risk_parity_weights(signals: pd.DataFrame, volatility: pd.DataFrame) -> pd.DataFrame:
    """Inverse-volatility weights over the live signals, signed and sized by the signal.

    ``w_i = s_i * (1 / vol_i) / sum_j (1 / vol_j)``, the sum over tickers with both a signal
    and a volatility on the date, so full-strength signals give a gross exposure of 1 and each
    position the same stand-alone volatility (naive risk parity: correlations are ignored).

    Parameters
    ----------
    signals : pandas.DataFrame
        Positions in ``[-1, 1]``.
    volatility : pandas.DataFrame
        Annualised ex-ante volatility per ticker; zero counts as unknown.
    """
    inverse = (1.0 / volatility.where(volatility > 0)).where(signals.notna())
    return signals * inverse.div(inverse.sum(axis=1, min_count=1), axis=0)


def daily_variance(volatility: pd.DataFrame) -> pd.DataFrame:
    """Daily variance from annualised volatility: ``vol ** 2 / 252``."""
    return volatility**2 / TRADING_DAYS_PER_YEAR
