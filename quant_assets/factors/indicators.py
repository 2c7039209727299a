"""Indicator kernels: ``kernel(panel, **params) -> row x ticker array`` of one factor's values.

Each kernel reads a :class:`~quant_assets.factors.panel.PricePanel` and returns an array of the same
shape, NaN during the factor's warm-up and wherever it is undefined (a zero denominator, a flat
window). Units and conventions are in each factor's registry description; the TA-Lib-compatible ones
follow TA-Lib's seeding (see :func:`~quant_assets.factors.windows.ewma_seeded`).
"""

from __future__ import annotations

import math

import numpy as np

from quant_assets.factors import indicator_kernels as kernels
from quant_assets.factors import windows as w
from quant_assets.factors.panel import PricePanel

TRADING_DAYS_PER_YEAR = 252
EWMA_VOL_SPAN = 60


# -- shared intermediates --------------------------------------------------------------------------


def _sums(panel: PricePanel, column: str = "price") -> w.WindowReducer:
    return panel.cached(f"sums:{column}", lambda: w.WindowReducer(panel[column]))


def _squares(panel: PricePanel, column: str = "price") -> w.WindowReducer:
    return panel.cached(f"squares:{column}", lambda: w.WindowReducer(panel[column] ** 2))


def _daily_returns(panel: PricePanel) -> np.ndarray:
    return panel.cached("returns", lambda: panel.price / w.shift(panel.price, 1) - 1.0)


def _return_sums(panel: PricePanel) -> tuple[w.WindowReducer, w.WindowReducer]:
    returns = _daily_returns(panel)
    return panel.cached(
        "return_sums", lambda: (w.WindowReducer(returns), w.WindowReducer(returns**2))
    )


def _ema(panel: PricePanel, period: int) -> np.ndarray:
    """TA-Lib's EMA (alpha = 2/(period+1), seeded with the first SMA), shared by EMA and MACD."""
    alpha = 2.0 / (period + 1)
    memory = w.seeded_ewma_memory(alpha, period)
    return panel.cached(f"ema:{period}", lambda: w.ewma_seeded(panel.price, alpha, period, memory))


def _wilder_terms(period: int) -> tuple:
    """Wilder's smoothing (alpha = 1/period) seeded like TA-Lib, for the compiled kernels."""
    alpha = 1.0 / period
    return w.seeded_ewma_terms(alpha, period, w.seeded_ewma_memory(alpha, period))


def _by_ticker(panel: PricePanel, column: str = "price") -> np.ndarray:
    return w.by_ticker(panel[column])


def daily_volatility(panel: PricePanel, span: int = EWMA_VOL_SPAN) -> np.ndarray:
    """Ex-ante daily volatility: pandas ``ewm(span, min_periods=span).std()`` of daily returns."""

    def build() -> np.ndarray:
        alpha = 2.0 / (span + 1)
        var = w.apply_from_second_row(
            _daily_returns(panel),
            lambda r: w.ewma_adjusted_var(r, alpha, w.ewma_memory(alpha)),
        )
        var[:span] = np.nan  # fewer than `span` returns so far
        return np.sqrt(var)

    return panel.cached(f"ewma_vol:{span}", build)


# -- returns and momentum --------------------------------------------------------------------------


def simple_return(panel: PricePanel, horizon: int) -> np.ndarray:
    return panel.price / w.shift(panel.price, horizon) - 1.0


def vol_scaled_return(panel: PricePanel, horizon: int, span: int) -> np.ndarray:
    """Lim, Zohren & Roberts (2019): ``r(t-h, t) / (sigma_t * sqrt(h))``."""
    return simple_return(panel, horizon) / daily_volatility(panel, span) / math.sqrt(horizon)


def rate_of_change(panel: PricePanel, window: int) -> np.ndarray:
    """TA-Lib ``ROC``: ``(price / price[t - window] - 1) * 100``."""
    return kernels.rate_of_change(_by_ticker(panel), window).T


def distance_to_high(panel: PricePanel, window: int) -> np.ndarray:
    high = panel.cached(
        f"max:{window}", lambda: w.WindowReducer(panel.price, np.maximum).window(window)
    )
    return panel.price / high - 1.0


def skip_month_momentum(panel: PricePanel, long: int, skip: int) -> np.ndarray:
    """``price[t - skip] / price[t - long] - 1``: 12-1 month momentum for ``long=252, skip=21``."""
    return w.shift(panel.price, skip) / w.shift(panel.price, long) - 1.0


def reversal(panel: PricePanel, horizon: int) -> np.ndarray:
    """Minus the ``horizon``-row return, so recent losers score high."""
    return -simple_return(panel, horizon)


# -- trend -----------------------------------------------------------------------------------------


def sma_ratio(panel: PricePanel, window: int) -> np.ndarray:
    return kernels.sma_ratio(_by_ticker(panel), window).T


def ema_ratio(panel: PricePanel, period: int) -> np.ndarray:
    return kernels.ratio_minus_one(w.by_ticker(_ema(panel, period)), _by_ticker(panel)).T


def macd_line_ratio(panel: PricePanel, fast: int, slow: int) -> np.ndarray:
    fast_ema, slow_ema = (w.by_ticker(_ema(panel, period)) for period in (fast, slow))
    return kernels.spread_over(fast_ema, slow_ema, _by_ticker(panel)).T


def baz_macd(
    panel: PricePanel, short: int, long: int, price_window: int, signal_window: int
) -> np.ndarray:
    """Baz et al. (2015) MACD signal, as in Lim, Zohren & Roberts' reference code.

    ``m(S) - m(L)`` with ``m(S)`` the adjusted EWMA of price with ``alpha = 1/S``, divided by the
    ``price_window``-row std of price, then by the ``signal_window``-row std of that ratio (ddof=1).
    """
    price = panel.price

    def ewma(scale: int) -> np.ndarray:
        alpha = 1.0 / scale
        return w.ewma_adjusted(price, alpha, w.ewma_memory(alpha))

    _, price_var = w.rolling_mean_var(_sums(panel), _squares(panel), price_window, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = (ewma(short) - ewma(long)) / np.sqrt(price_var)
    q[~np.isfinite(q)] = np.nan
    _, q_var = w.rolling_mean_var(w.WindowReducer(q), w.WindowReducer(q * q), signal_window, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return q / np.sqrt(q_var)


# -- oscillators and volatility --------------------------------------------------------------------


def rsi(panel: PricePanel, period: int) -> np.ndarray:
    """TA-Lib ``RSI``: Wilder-smoothed gains / (gains + losses), 0-100; NaN when both are zero."""
    return kernels.rsi(_by_ticker(panel), _wilder_terms(period)).T


def _bollinger(panel: PricePanel, window: int, width: float) -> tuple[np.ndarray, np.ndarray]:
    """``%b`` and bandwidth of the bands ``mean +- width`` population std over ``window`` rows."""

    def build() -> tuple[np.ndarray, np.ndarray]:
        percent_b, bandwidth = kernels.bollinger(_by_ticker(panel), window, width)
        return percent_b.T, bandwidth.T

    return panel.cached(f"bbands:{window}:{width}", build)


def bollinger_percent_b(panel: PricePanel, window: int, width: float) -> np.ndarray:
    """``(price - lower) / (upper - lower)``; NaN where the bands have no width."""
    return _bollinger(panel, window, width)[0]


def bollinger_bandwidth(panel: PricePanel, window: int, width: float) -> np.ndarray:
    """``(upper - lower) / middle``."""
    return _bollinger(panel, window, width)[1]


def atr_ratio(panel: PricePanel, period: int) -> np.ndarray:
    """TA-Lib ``ATR`` (Wilder-smoothed true range, first value at row ``period``) over the close."""
    high, low = _by_ticker(panel, "high"), _by_ticker(panel, "low")
    return kernels.atr_ratio(high, low, _by_ticker(panel), _wilder_terms(period)).T


def realised_volatility(panel: PricePanel, window: int) -> np.ndarray:
    """Sample std (ddof=1) of the last ``window`` daily simple returns, times sqrt(252)."""
    sums, squares = _return_sums(panel)
    _, var = w.rolling_mean_var(sums, squares, window, ddof=1)
    return np.sqrt(var) * math.sqrt(TRADING_DAYS_PER_YEAR)


def ewma_volatility(panel: PricePanel, span: int) -> np.ndarray:
    return daily_volatility(panel, span) * math.sqrt(TRADING_DAYS_PER_YEAR)


# -- volume ----------------------------------------------------------------------------------------


def volume_zscore(panel: PricePanel, window: int) -> np.ndarray:
    mean, var = w.rolling_mean_var(
        _sums(panel, "volume"), _squares(panel, "volume"), window, ddof=1
    )
    std = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0, (panel["volume"] - mean) / std, np.nan)


def dollar_volume(panel: PricePanel) -> np.ndarray:
    """Traded close times volume: the unadjusted close, as the shares changed hands at it."""
    return panel["close"] * panel["volume"]


# -- calendar --------------------------------------------------------------------------------------


def _per_date(panel: PricePanel, values: np.ndarray) -> np.ndarray:
    """Spread one value per distinct date onto the panel's cells."""
    out = values.astype("float64")[panel.date_code]
    out[panel.date_code < 0] = np.nan
    return out


def day_of_week(panel: PricePanel) -> np.ndarray:
    days = panel.dates.astype("datetime64[D]").view("int64")
    return _per_date(panel, (days + 3) % 7)  # 1970-01-01 was a Thursday


def month_of_year(panel: PricePanel) -> np.ndarray:
    months = panel.dates.astype("datetime64[M]").view("int64")
    return _per_date(panel, months % 12 + 1)


def turn_of_month(panel: PricePanel, last_days: int, first_days: int) -> np.ndarray:
    """1 on the last ``last_days`` and first ``first_days`` weekdays of a month, else 0.

    Weekdays (Monday-Friday) rather than exchange sessions, so the flag needs no future rows; an
    exchange holiday at the turn of the month is not moved over.
    """
    days = panel.dates.astype("datetime64[D]")
    month_start = days.astype("datetime64[M]").astype("datetime64[D]")
    next_month = (days.astype("datetime64[M]") + 1).astype("datetime64[D]")
    weekdays_so_far = np.busday_count(month_start, days + 1)
    weekdays_left = np.busday_count(days, next_month)
    flag = (weekdays_so_far <= first_days) | (weekdays_left <= last_days)
    return _per_date(panel, flag)
