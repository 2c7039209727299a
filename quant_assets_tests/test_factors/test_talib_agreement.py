"""Factors that TA-Lib also computes agree with TA-Lib to 1e-9 on real tickers.

Deliberate differences, each tested or documented here:

* Exponential averages (EMA, MACD line, Wilder's RSI and ATR) keep a finite memory: after
  ``lookback`` rows the recursion restarts at the trailing window, which moves values by less than
  1e-12 of the seed's distance from TA-Lib's value (checked on 12,000-row histories below).
* TA-Lib's ``MACD`` seeds its fast EMA later than ``EMA(12)`` does (so both EMAs start on the same
  row); ``macd_line_12_26`` uses ``EMA(12) - EMA(26)`` exactly as TA-Lib's ``EMA`` computes them,
  and meets TA-Lib's ``MACD`` once that seed difference has decayed (row 200 on).
* Where TA-Lib returns 0 for an undefined value (RSI with no gains and no losses, a Bollinger band
  of zero width), the factor is NULL instead; none occurs on these tickers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib

from quant_assets.factors import FACTOR_REGISTRY, compute_factors
from quant_assets_tests.test_factors.helpers import one_ticker

TICKERS = ["AAPL", "JPM", "XOM", "NVDA", "F"]
RTOL = 1e-9


def _series(prices: pd.DataFrame, factors: pd.DataFrame, ticker: str, factor: str):
    rows = prices[prices["ticker"] == ticker].sort_values("date")
    return rows, one_ticker(factors, ticker, factor, rows["date"])


def _talib_ratios(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    close, high, low = (rows[c].to_numpy() for c in ("close", "high", "low"))
    upper, middle, lower = talib.BBANDS(close, 20, 2.0, 2.0, matype=0)
    return {
        **{f"sma_{n}": talib.SMA(close, n) / close - 1 for n in (5, 20, 50, 200)},
        **{f"ema_{n}": talib.EMA(close, n) / close - 1 for n in (12, 26)},
        "macd_line_12_26": (talib.EMA(close, 12) - talib.EMA(close, 26)) / close,
        "rsi_14": talib.RSI(close, 14),
        "atr_14": talib.ATR(high, low, close, 14) / close,
        "bb_pctb_20": (close - lower) / (upper - lower),
        "bb_width_20": (upper - lower) / middle,
        "roc_10": talib.ROC(close, 10),
    }


@pytest.mark.parametrize("ticker", TICKERS)
@pytest.mark.parametrize(
    "factor",
    ["sma_5", "sma_20", "sma_50", "sma_200", "ema_12", "ema_26", "macd_line_12_26"]
    + ["rsi_14", "atr_14", "bb_pctb_20", "bb_width_20", "roc_10"],
)
def test_matches_talib_from_its_first_value(sp500, sp500_factors, ticker, factor):
    rows, ours = _series(sp500, sp500_factors, ticker, factor)
    expected = _talib_ratios(rows)[factor]
    # Same warm-up as TA-Lib: NaN on exactly the rows where TA-Lib has no value.
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected))
    assert np.isnan(ours).sum() == FACTOR_REGISTRY[factor].warmup
    np.testing.assert_allclose(ours, expected, rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("ticker", TICKERS)
def test_macd_line_meets_talib_macd_after_its_fast_seed_decays(sp500, sp500_factors, ticker):
    rows, ours = _series(sp500, sp500_factors, ticker, "macd_line_12_26")
    close = rows["close"].to_numpy()
    macd, _, _ = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
    np.testing.assert_allclose(ours[200:], (macd / close)[200:], rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("factor", ["ema_12", "ema_26", "rsi_14", "atr_14", "macd_line_12_26"])
def test_finite_memory_stays_within_tolerance_of_talib_over_decades(long_history, factor):
    ibm = long_history[long_history["ticker"] == "IBM"].sort_values("date")
    assert len(ibm) > 10 * FACTOR_REGISTRY[factor].lookback
    ours = one_ticker(compute_factors(ibm, [factor]), "IBM", factor, ibm["date"])
    expected = _talib_ratios(ibm)[factor]
    np.testing.assert_allclose(ours, expected, rtol=RTOL, atol=1e-11)


@pytest.mark.parametrize("ticker", TICKERS)
def test_deep_momentum_volatility_matches_pandas_reference(sp500, sp500_factors, ticker):
    """Lim et al.'s code: ``returns.ewm(span=60, min_periods=60).std()``, annualised here."""
    rows, ours = _series(sp500, sp500_factors, ticker, "ewma_vol_60")
    returns = rows["close"].pct_change()
    expected = returns.ewm(span=60, min_periods=60).std().to_numpy() * np.sqrt(252)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected))
    np.testing.assert_allclose(ours, expected, rtol=RTOL)
    _, scaled = _series(sp500, sp500_factors, ticker, "vol_scaled_ret_21")
    reference = rows["close"].pct_change(21).to_numpy() / (expected / np.sqrt(252)) / np.sqrt(21)
    np.testing.assert_allclose(scaled, reference, rtol=RTOL)


@pytest.mark.parametrize("ticker", TICKERS)
@pytest.mark.parametrize(("short", "long"), [(8, 24), (16, 48), (32, 96)])
def test_baz_macd_matches_pandas_reference(sp500, sp500_factors, ticker, short, long):
    """Lim et al.'s ``MACDStrategy.calc_signal`` without its backward fill (which looks ahead)."""
    rows, ours = _series(sp500, sp500_factors, ticker, f"macd_{short}_{long}")
    price = rows["close"].reset_index(drop=True)

    def halflife(scale: int) -> float:
        return np.log(0.5) / np.log(1 - 1 / scale)

    macd = price.ewm(halflife=halflife(short)).mean() - price.ewm(halflife=halflife(long)).mean()
    q = macd / price.rolling(63).std()
    expected = (q / q.rolling(252).std()).to_numpy()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected))
    # The signal is O(1); near its zero crossings the difference of two price-level EWMAs carries
    # ~1e-12 absolute rounding, so the tolerance is absolute there.
    np.testing.assert_allclose(ours, expected, rtol=RTOL, atol=1e-9)
