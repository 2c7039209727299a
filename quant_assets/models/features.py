"""Deep-momentum input features from closes (Lim, Zohren & Roberts 2019).

A small, self-contained feature set for the momentum networks and their tests. The project's
factor registry (:mod:`quant_assets.factors`) is the place for a full factor library; these
functions exist so the models can be trained and benchmarked from closes alone.

Every value dated ``t`` uses closes up to and including the close of ``t``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_assets.models.returns import TRADING_DAYS_PER_YEAR, ex_ante_volatility, long_from_wide

RETURN_HORIZONS = (1, 21, 63, 126, 252)
MACD_PAIRS = ((8, 24), (16, 48), (32, 96))
# The same inputs as registered factors (``factor_values``): volatility-normalised returns over
# the five horizons and the three MACD signals.
DEEP_MOMENTUM_FACTORS = (
    *(f"vol_scaled_ret_{h}" for h in RETURN_HORIZONS),
    *(f"macd_{short}_{long}" for short, long in MACD_PAIRS),
)


def normalised_returns(closes: pd.DataFrame, horizon: int, *, vol_span: int = 60) -> pd.DataFrame:
    """Return over ``horizon`` trading days divided by ex-ante daily vol times ``sqrt(horizon)``.

    ``(close_t / close_{t-h} - 1) / (sigma_t * sqrt(h))`` with ``sigma_t`` the daily EWMA volatility
    (span ``vol_span``) known at the close of ``t``; dimensionless, roughly unit variance.
    """
    daily_vol = ex_ante_volatility(closes, span=vol_span) / np.sqrt(TRADING_DAYS_PER_YEAR)
    change = closes / closes.shift(horizon) - 1.0
    return change / (daily_vol * np.sqrt(horizon))


def macd_signal(
    closes: pd.DataFrame,
    short: int,
    long: int,
    *,
    price_window: int = 63,
    signal_window: int = 252,
) -> pd.DataFrame:
    """Normalised MACD of Baz et al. (2015): ``q / std_252(q)`` with ``q = MACD / std_63(price)``.

    The MACD is the difference of exponentially weighted price averages with time scales
    ``short`` and ``long`` (``alpha = 1 / S``, i.e. half-life ``log(0.5) / log(1 - 1/S)``).
    Dimensionless; NaN until both rolling windows are full.
    """
    fast = closes.ewm(alpha=1.0 / short, ignore_na=True).mean()
    slow = closes.ewm(alpha=1.0 / long, ignore_na=True).mean()
    # Half-full windows keep a ticker's signal alive across the odd missing bar.
    price_std = closes.rolling(price_window, min_periods=price_window // 2).std()
    q = (fast - slow) / price_std
    q_std = q.rolling(signal_window, min_periods=signal_window // 2).std()
    return (q / q_std).where(closes.notna())


def deep_momentum_features(
    closes: pd.DataFrame,
    *,
    horizons: tuple[int, ...] = RETURN_HORIZONS,
    macd_pairs: tuple[tuple[int, int], ...] = MACD_PAIRS,
    vol_span: int = 60,
) -> pd.DataFrame:
    """Vol-normalised returns and normalised MACD signals, long form.

    Parameters
    ----------
    closes : DataFrame
        Wide closes (dates by tickers), ideally split- and dividend-adjusted.
    horizons : tuple of int
        Return horizons in trading days, giving factors ``norm_return_{h}d``.
    macd_pairs : tuple of (int, int)
        (short, long) time scales, giving factors ``macd_{short}_{long}``.
    vol_span : int
        EWMA span of the ex-ante volatility used to normalise returns.

    Returns
    -------
    DataFrame
        Columns ``ticker, date, factor, value``; rows with NaN values are dropped.
    """
    frames = {
        f"norm_return_{h}d": normalised_returns(closes, h, vol_span=vol_span) for h in horizons
    }
    frames |= {f"macd_{s}_{ln}": macd_signal(closes, s, ln) for s, ln in macd_pairs}
    parts = []
    for name, wide in frames.items():
        long = long_from_wide(wide, "value")
        long.insert(2, "factor", name)
        parts.append(long)
    features = pd.concat(parts, ignore_index=True)
    return features[["ticker", "date", "factor", "value"]]
