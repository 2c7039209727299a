"""Equity parity with vectorbt's cash-sharing target-percent simulation on real S&P 500 data.

The signals are made once and handed unchanged to both engines. Gross exposure stays below
100 %, so neither engine ever runs short of cash and their definitions coincide.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.backtest import run_backtest
from quant_assets_tests.test_backtest.signals import momentum_sign_weights, month_end_only

vbt = pytest.importorskip("vectorbt")

FEE_BPS = 10.0
INITIAL_CASH = 1_000_000.0
RTOL = 1e-9


@pytest.fixture(scope="module")
def closes(sp500_bars) -> pd.DataFrame:
    return sp500_bars["close"].loc["2014":"2015"]


def vectorbt_portfolio(closes: pd.DataFrame, weights: pd.DataFrame, **kwargs):
    return vbt.Portfolio.from_orders(
        closes,
        size=weights,
        size_type="targetpercent",
        group_by=True,
        cash_sharing=True,
        call_seq="auto",
        fees=FEE_BPS / 1e4,
        init_cash=INITIAL_CASH,
        freq="1D",
        **kwargs,
    )


def assert_same_book(result, portfolio) -> None:
    theirs = portfolio.value().to_numpy()
    relative = np.abs(result.equity.to_numpy() / theirs - 1.0)
    assert relative.max() < RTOL
    np.testing.assert_allclose(result.trades["fee"].sum(), portfolio.orders.fees.sum(), rtol=RTOL)
    np.testing.assert_allclose(
        result.positions.to_numpy(), portfolio.assets().to_numpy(), rtol=RTOL, atol=1e-9
    )


@pytest.mark.parametrize(
    "make_weights",
    [
        pytest.param(lambda c: momentum_sign_weights(c, long_only=True), id="long_only_daily"),
        pytest.param(lambda c: momentum_sign_weights(c), id="long_short_daily"),
        pytest.param(lambda c: month_end_only(momentum_sign_weights(c)), id="long_short_monthly"),
        pytest.param(
            lambda c: month_end_only(momentum_sign_weights(c, gross=0.98, long_only=True)),
            id="long_only_monthly",
        ),
    ],
)
def test_close_execution_matches_vectorbt(closes, make_weights):
    weights = make_weights(closes)
    assert weights.abs().sum(axis=1).max() < 1.0
    result = run_backtest(closes, weights, fee_bps=FEE_BPS, initial_cash=INITIAL_CASH)
    assert result.trades["date"].nunique() > 20
    assert_same_book(result, vectorbt_portfolio(closes, weights))


def test_next_open_with_slippage_matches_vectorbt(sp500_bars, closes):
    # vectorbt values a holding whose open is missing at its last *open*, we at its last
    # close; tickers with missing bars are left out so that both books see every open.
    opens = sp500_bars["open"].loc[closes.index]
    complete = closes.columns[closes.notna().all() & opens.notna().all()]
    closes, opens = closes[complete], opens[complete]
    weights = momentum_sign_weights(closes)
    result = run_backtest(
        closes,
        weights,
        fee_bps=FEE_BPS,
        slippage_bps=5.0,
        initial_cash=INITIAL_CASH,
        execution="next_open",
        opens=opens,
    )
    portfolio = vectorbt_portfolio(closes, weights.shift(1), price=opens, slippage=5e-4)
    assert_same_book(result, portfolio)
