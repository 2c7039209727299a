"""Portfolio weights follow the ticker labels, whatever the column index and order.

``build_weights`` (and so every sizing rule) on real closes: signals and prices with object,
string or categorical column indexes (unused or unordered categories), columns in any order and
price columns of tickers without signals give, ticker by ticker, the weights of the plain sorted
book. The rules that size a ticker on its own (fixed fractional, Kelly) are also checked against
the slow path, one ticker at a time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_assets.models.returns import ex_ante_volatility
from quant_assets.portfolio import (
    PortfolioConfig,
    build_weights,
    daily_variance,
    fixed_fractional_weights,
    kelly_weights,
)
from quant_assets_tests.ticker_dtypes import TICKER_KINDS, tickers_as

KINDS = TICKER_KINDS
FAST_METHODS = ["vol_target", "fixed_fractional", "kelly", "risk_parity"]
SIGNAL_DATES = 150
N_SIGNALLED = 6


@pytest.fixture(scope="module")
def book(sp500_closes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Real closes (the year before the signals warms up the estimates) and seeded signals."""
    closes = sp500_closes.iloc[-(SIGNAL_DATES + 260) :]
    rng = np.random.default_rng(11)
    dates = closes.index[-SIGNAL_DATES:]
    signals = pd.DataFrame(
        rng.uniform(-1, 1, (len(dates), N_SIGNALLED)),
        index=dates,
        columns=closes.columns[:N_SIGNALLED],
    ).where(rng.random((len(dates), N_SIGNALLED)) > 0.1)
    return signals, closes


def _relabel(frame: pd.DataFrame, kind: str, extra: list[str], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = frame.iloc[:, rng.permutation(frame.shape[1])]
    out = frame.copy()
    out.columns = pd.Index(tickers_as(frame.columns, kind, extra, rng), name="ticker")
    return out


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.columns = pd.Index([str(c) for c in frame.columns], dtype=object, name="ticker")
    return out.sort_index(axis=1)


@st.composite
def variants(draw):
    return (
        draw(st.sampled_from(FAST_METHODS)),
        draw(st.sampled_from(KINDS)),
        draw(st.sampled_from(KINDS)),
        draw(st.lists(st.sampled_from(["AAA", "ZZZZ", "AAPL", "NVDA"]), max_size=3)),
        draw(st.integers(0, 2**32 - 1)),
    )


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(variants())
def test_weights_follow_the_ticker_labels(book, variant):
    signals, closes = book
    method, signals_kind, prices_kind, extra, seed = variant
    config = PortfolioConfig(method=method, rebalance="weekly", no_trade_band=0.01)
    expected = build_weights(_plain(signals), _plain(closes[signals.columns]), config)
    got = build_weights(
        _relabel(signals, signals_kind, extra, seed),
        _relabel(closes, prices_kind, extra, seed + 1),  # with tickers that have no signal
        config,
    )
    pd.testing.assert_frame_equal(_plain(got), expected, rtol=1e-12, check_freq=False)


@pytest.mark.parametrize("kind", ["categorical_shuffled", "string"])
def test_black_litterman_weights_follow_the_ticker_labels(book, kind):
    signals, closes = book
    config = PortfolioConfig(method="black_litterman", rebalance="monthly", bl_lookback=120)
    signals = signals.iloc[-40:]
    expected = build_weights(_plain(signals), _plain(closes[signals.columns]), config)
    # the optimiser stops within its tolerance, which depends on the column order
    got = build_weights(
        _relabel(signals, kind, ["AAA"], 1), _relabel(closes, kind, ["ZZZZ"], 2), config
    )
    pd.testing.assert_frame_equal(_plain(got), expected, rtol=1e-4, atol=1e-6, check_freq=False)


@pytest.mark.parametrize("kind", KINDS)
def test_own_ticker_sizing_equals_one_ticker_at_a_time(book, kind):
    signals, closes = book
    vol = ex_ante_volatility(closes).reindex(signals.index)
    variance = daily_variance(vol)
    forecasts = signals * 0.001
    fixed = _plain(fixed_fractional_weights(_relabel(signals, kind, ["AAA"], 3), fraction=0.2))
    kelly = _plain(
        kelly_weights(_relabel(forecasts, kind, ["AAA"], 4), _relabel(variance, kind, ["ZZZZ"], 5))
    )
    for ticker in signals.columns:
        one = signals[[ticker]]
        pd.testing.assert_series_equal(
            fixed[ticker], fixed_fractional_weights(one, fraction=0.2)[ticker], check_names=False
        )
        alone = kelly_weights(forecasts[[ticker]], variance[[ticker]])[ticker]
        pd.testing.assert_series_equal(kelly[ticker], alone, check_names=False)
