from __future__ import annotations

import numpy as np
import pandas as pd

from quant_assets.models import (
    deep_momentum_features,
    ex_ante_volatility,
    next_day_returns,
    normalised_returns,
    wide_closes,
)
from quant_assets.models.returns import long_from_wide


def test_next_day_return_is_close_t_to_close_t_plus_1(sp500_closes):
    targets = next_day_returns(sp500_closes)
    t = sp500_closes.index[100]
    following = sp500_closes.index[101]
    expected = sp500_closes.at[following, "KO"] / sp500_closes.at[t, "KO"] - 1
    assert targets.at[t, "KO"] == expected
    assert targets.iloc[-1].isna().all()


def test_ex_ante_vol_uses_the_return_into_t_and_nothing_after(sp500_closes):
    vol = ex_ante_volatility(sp500_closes)
    t = 300
    future_changed = sp500_closes.copy()
    future_changed.iloc[t + 1 :] *= 1.5
    pd.testing.assert_frame_equal(
        ex_ante_volatility(future_changed).iloc[: t + 1], vol.iloc[: t + 1]
    )
    today_changed = sp500_closes.copy()
    today_changed.iloc[t, 0] *= 1.1
    assert ex_ante_volatility(today_changed).iat[t, 0] != vol.iat[t, 0]


def test_ex_ante_vol_is_annualised_ewma_std_with_span_60(sp500_closes):
    returns = sp500_closes["KO"].pct_change()
    expected = returns.ewm(span=60, min_periods=20).std().iloc[-1] * np.sqrt(252)
    assert np.isclose(ex_ante_volatility(sp500_closes)["KO"].iloc[-1], expected)


def test_normalised_return_by_hand(sp500_closes):
    h, t = 21, 400
    close = sp500_closes["MSFT"]
    sigma = close.pct_change().ewm(span=60, min_periods=20).std().iloc[t]
    expected = (close.iloc[t] / close.iloc[t - h] - 1) / (sigma * np.sqrt(h))
    assert np.isclose(normalised_returns(sp500_closes, h)["MSFT"].iloc[t], expected)


def test_features_on_a_date_ignore_every_later_close(sp500_closes):
    cut = sp500_closes.index[600]
    full = deep_momentum_features(sp500_closes)
    truncated = deep_momentum_features(sp500_closes.loc[:cut])
    key = ["ticker", "date", "factor"]
    left = full[full["date"] <= cut].sort_values(key).reset_index(drop=True)
    right = truncated.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right)
    assert set(full["factor"]) == {
        "norm_return_1d",
        "norm_return_21d",
        "norm_return_63d",
        "norm_return_126d",
        "norm_return_252d",
        "macd_8_24",
        "macd_16_48",
        "macd_32_96",
    }


def test_wide_closes_uses_adj_close_per_ticker_when_present():
    prices = pd.DataFrame(
        {
            "ticker": ["AAA", "AAA", "BBB", "BBB"],
            "date": ["2020-01-02", "2020-01-03"] * 2,
            "close": [10.0, 11.0, 20.0, 0.0],
            "adj_close": [9.0, 10.0, np.nan, np.nan],
        }
    )
    wide = wide_closes(prices)
    assert wide["AAA"].tolist() == [9.0, 10.0]
    assert wide.at[pd.Timestamp("2020-01-02"), "BBB"] == 20.0
    assert np.isnan(wide.at[pd.Timestamp("2020-01-03"), "BBB"])  # non-positive price


def test_long_from_wide_is_stack_without_the_non_finite_cells():
    index = pd.DatetimeIndex(["2020-01-02", "2020-01-03", "2020-01-06"], name="date")
    wide = pd.DataFrame(
        {"AAPL": [1.0, np.nan, 3.0], "MSFT": [np.inf, 0.5, -2.0], "XOM": [np.nan] * 3},
        index=index,
    ).rename_axis(columns="ticker")

    long = long_from_wide(wide, "position")

    assert long.to_dict("list") == {
        "date": [index[0], index[1], index[2], index[2]],
        "ticker": ["AAPL", "MSFT", "AAPL", "MSFT"],
        "position": [1.0, 0.5, 3.0, -2.0],
    }
    stacked = wide.stack(future_stack=True).rename("position").reset_index()
    stacked = stacked[np.isfinite(stacked["position"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(long, stacked)


def test_wide_closes_keeps_the_last_of_repeated_bars_and_drops_tickers_without_prices():
    prices = pd.DataFrame(
        {
            "ticker": ["B", "A", "A", "C"],
            "date": ["2020-01-03", "2020-01-02", "2020-01-02", "2020-01-02"],
            "close": [2.0, 1.0, 1.5, -1.0],
        }
    )
    wide = wide_closes(prices)
    assert list(wide.columns) == ["A", "B"]  # C has no positive price
    assert wide.loc["2020-01-02", "A"] == 1.5 and np.isnan(wide.loc["2020-01-02", "B"])
    assert wide.index.is_monotonic_increasing and wide.index.name == "date"
