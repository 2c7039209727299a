"""run_backtest labels every trade, position and weight with the ticker whose column made it.

Whatever the column index (object, string, categorical with unused or unordered categories),
the column order, and extra tickers that never trade, a ticker's trades and positions are those
of the plain, sorted book. The blotter is checked against the slow path too: per ticker, the
shares traded on each date are the change of that ticker's position column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_assets.backtest import run_backtest
from quant_assets_tests.ticker_dtypes import TICKER_KINDS, tickers_as

N_DATES = 120
N_TRADED = 6
KINDS = TICKER_KINDS


@pytest.fixture(scope="module")
def book(sp500_bars: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Real closes (2017-07 ..) of a few tickers and seeded random targets on some of them."""
    closes = sp500_bars["close"].loc["2017-07-03":].iloc[:N_DATES]
    closes = closes.loc[:, closes.notna().all()].iloc[:, : N_TRADED + 3]
    rng = np.random.default_rng(7)
    weights = pd.DataFrame(
        rng.uniform(-0.15, 0.2, (len(closes), N_TRADED)),
        index=closes.index,
        columns=closes.columns[:N_TRADED],
    )
    weights = weights.where(rng.random(weights.shape) < 0.3)
    closes.columns = pd.Index(closes.columns.astype(str), dtype=object, name="ticker")
    weights.columns = pd.Index(weights.columns.astype(str), dtype=object, name="ticker")
    return closes, weights


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


def _trades_by_ticker(trades: pd.DataFrame) -> pd.DataFrame:
    out = trades.astype({"ticker": str, "reason": str})
    return out.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)


@st.composite
def variants(draw):
    return (
        draw(st.sampled_from(KINDS)),
        draw(st.sampled_from(KINDS)),
        draw(st.lists(st.sampled_from(["AAA", "ZZZZ", "MSFT", "A"]), max_size=3)),
        draw(st.integers(0, 2**32 - 1)),
        draw(st.integers(0, 3)),
    )


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(variants())
def test_results_follow_the_ticker_labels(book, variant):
    closes, weights = book
    closes_kind, weights_kind, extra, seed, dropped = variant
    # drop some tickers that never trade: they must change nothing
    closes = closes.iloc[:, : closes.shape[1] - dropped]
    expected = run_backtest(closes, weights, fee_bps=5, slippage_bps=2, initial_cash=1e6)
    got = run_backtest(
        _relabel(closes, closes_kind, extra, seed),
        _relabel(weights, weights_kind, extra, seed + 1),
        fee_bps=5,
        slippage_bps=2,
        initial_cash=1e6,
    )
    pd.testing.assert_series_equal(got.equity, expected.equity, rtol=1e-12)
    for name in ("positions", "weights"):
        pd.testing.assert_frame_equal(
            _plain(getattr(got, name)), _plain(getattr(expected, name)), rtol=1e-12
        )
    pd.testing.assert_frame_equal(
        _trades_by_ticker(got.trades), _trades_by_ticker(expected.trades), rtol=1e-12
    )


@pytest.mark.parametrize("kind", KINDS)
def test_blotter_matches_position_changes_per_ticker(book, kind):
    closes, weights = book
    result = run_backtest(
        _relabel(closes, kind, ["AAA", "ZZZZ"], 3),
        _relabel(weights, kind, ["AAA"], 4),
        fee_bps=5,
        initial_cash=1e6,
    )
    positions = _plain(result.positions)
    changes = positions.diff()
    changes.iloc[0] = positions.iloc[0]
    trades = result.trades.astype({"ticker": str})
    assert set(trades["ticker"]) <= set(weights.columns)
    for ticker in positions.columns:
        mine = trades[trades["ticker"] == ticker].groupby("date")["shares"].sum()
        moved = changes[ticker][changes[ticker] != 0]
        pd.testing.assert_series_equal(mine, moved, check_names=False, check_freq=False, rtol=1e-9)
