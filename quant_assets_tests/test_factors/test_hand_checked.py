"""Factor values on tiny synthetic series, worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant_assets.factors import compute_factors


def prices(closes: dict[str, list[float]], start: str = "2024-01-01", **extra) -> pd.DataFrame:
    """Long prices on consecutive weekdays from ``start``; ``extra`` columns per ticker."""
    frames = []
    for ticker, values in closes.items():
        frame = pd.DataFrame(
            {
                "ticker": ticker,
                "date": pd.bdate_range(start, periods=len(values)),
                "close": np.asarray(values, dtype=float),
            }
        )
        for column, per_ticker in extra.items():
            frame[column] = np.asarray(per_ticker[ticker], dtype=float)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def values(frame: pd.DataFrame, factor: str, ticker: str = "A") -> pd.Series:
    rows = frame[(frame["factor"] == factor) & (frame["ticker"] == ticker)]
    return rows.set_index("date")["value"].sort_index()


def test_simple_returns():
    out = compute_factors(prices({"A": [100, 125, 100, 150, 75, 120]}), ["ret_1", "ret_5"])
    assert values(out, "ret_1").tolist() == pytest.approx([0.25, -0.2, 0.5, -0.5, 0.6], rel=1e-15)
    assert values(out, "ret_5").tolist() == pytest.approx([0.2], rel=1e-15)


def test_warm_up_rows_are_absent_not_zero():
    out = compute_factors(prices({"A": [100, 125, 100, 150, 75, 120]}), ["sma_5", "ret_5"])
    sma = values(out, "sma_5")
    assert len(sma) == 2  # rows 0-3 have no 5-row window: no value at all, not 0
    assert sma.iloc[0] == pytest.approx(110 / 75 - 1, rel=1e-15)
    assert sma.iloc[1] == pytest.approx(114 / 120 - 1, rel=1e-15)


def test_flat_prices_give_null_not_zero_where_undefined():
    out = compute_factors(prices({"A": [50.0] * 80}), ["rsi_14", "bb_pctb_20", "vol_scaled_ret_1"])
    assert out.empty  # no gains or losses, zero band width, zero volatility: all undefined


def test_rsi_wilder():
    closes = np.cumsum([100] + [1] * 7 + [-1] * 7 + [2]).tolist()
    rsi = values(compute_factors(prices({"A": closes}), ["rsi_14"]), "rsi_14")
    # seed: 7 gains and 7 losses of 1 -> averages 0.5 / 0.5; then a gain of 2 (Wilder, 1/14).
    assert rsi.tolist() == pytest.approx([50.0, 100 * 8.5 / 15], rel=1e-13)


def test_bollinger():
    closes = [10.0] * 19 + [30.0]
    out = compute_factors(prices({"A": closes}), ["bb_pctb_20", "bb_width_20"])
    # mean 11, population variance (19 * 1 + 19**2) / 20 = 19
    sigma = math.sqrt(19)
    assert values(out, "bb_pctb_20").tolist() == pytest.approx([(19 + 2 * sigma) / (4 * sigma)])
    assert values(out, "bb_width_20").tolist() == pytest.approx([4 * sigma / 11], rel=1e-13)


def test_atr_on_constant_range():
    n = 20
    frame = prices(
        {"A": [100.0] * n}, high={"A": [101.0] * n}, low={"A": [99.0] * n}, volume={"A": [1e6] * n}
    )
    atr = values(compute_factors(frame, ["atr_14"]), "atr_14")
    assert len(atr) == n - 14  # first value on row 14, like TA-Lib
    assert atr.tolist() == pytest.approx([0.02] * (n - 14), rel=1e-14)


def test_distance_to_52_week_high():
    closes = [100.0] * 251 + [150.0]
    closes[10] = 200.0
    out = compute_factors(prices({"A": closes}), ["dist_52w_high"])
    assert values(out, "dist_52w_high").tolist() == [-0.25]


def test_deep_momentum_scaling_on_alternating_returns():
    """Returns alternate +x, -x; the unbiased EWMA variance then has a closed form."""
    x, rows = 0.01, 61  # row 60 is the first with 60 returns
    steps = [1 + x if k % 2 == 0 else 1 - x for k in range(rows - 1)]
    closes = 100 * np.cumprod([1.0] + steps)
    out = compute_factors(prices({"A": closes}), ["vol_scaled_ret_1", "ewma_vol_60"])

    beta, m = 1 - 2 / 61, 60  # span 60; weights beta**k on the return k rows back
    s1 = (1 - beta**m) / (1 - beta)
    s2 = (1 - beta ** (2 * m)) / (1 - beta**2)
    # The newest (60th) return is -x; signs alternate going back.
    mean = -x * ((1 - (-beta) ** m) / (1 + beta)) / s1
    sigma = math.sqrt((x * x - mean * mean) * s1 * s1 / (s1 * s1 - s2))

    assert values(out, "ewma_vol_60").tolist() == pytest.approx([sigma * math.sqrt(252)], rel=1e-12)
    assert values(out, "vol_scaled_ret_1").tolist() == pytest.approx([-x / sigma], rel=1e-12)


def test_vol_scaled_return_is_return_over_vol_times_sqrt_horizon(sp500_factors):
    wide = sp500_factors.pivot_table(
        index=["ticker", "date"], columns="factor", values="value", observed=True
    )
    daily_vol = wide["ewma_vol_60"] / math.sqrt(252)
    for h in (1, 21, 63, 126, 252):
        expected = wide[f"ret_{h}"] / (daily_vol * math.sqrt(h))
        got = wide[f"vol_scaled_ret_{h}"]
        pd.testing.assert_series_equal(
            got.dropna(), expected[got.dropna().index], check_names=False
        )


def test_cross_sectional_rank_ties_and_missing():
    flat = [100.0] * 21
    frame = prices(
        {"A": flat + [110.0], "B": flat + [90.0], "C": flat + [110.0], "D": [100.0] * 10}
    )
    out = compute_factors(frame, ["xs_rev_1m_rank"])
    last = out[out["date"] == out["date"].max()].set_index("ticker")["value"]
    # reversal = -ret_21: A and C -0.1 (tied ranks 1 and 2 -> 1.5), B +0.1 (rank 3); D has no value.
    assert last.to_dict() == {"A": 0.25, "B": 1.0, "C": 0.25}


def test_cross_sectional_rank_needs_two_tickers():
    out = compute_factors(prices({"A": [100.0] * 21 + [110.0]}), ["xs_rev_1m_rank"])
    assert out.empty


def test_calendar_and_turn_of_month():
    dates = pd.bdate_range("2024-06-24", "2024-07-10").drop(pd.Timestamp("2024-07-04"))
    frame = pd.DataFrame({"ticker": "A", "date": dates, "close": 100.0})
    wide = compute_factors(frame, ["day_of_week", "month", "turn_of_month"]).pivot(
        index="date", columns="factor", values="value"
    )
    flagged = wide.index[wide["turn_of_month"] == 1].strftime("%m-%d").tolist()
    # last weekday of June (Fri 28th) and first three weekdays of July (1st-3rd); the 5th is the
    # fifth weekday even though the exchange was shut on the 4th.
    assert flagged == ["06-28", "07-01", "07-02", "07-03"]
    assert wide.loc["2024-06-24", "day_of_week"] == 0  # Monday
    assert wide.loc["2024-06-28", "day_of_week"] == 4  # Friday
    assert wide["month"].tolist() == [6.0] * 5 + [7.0] * 7
