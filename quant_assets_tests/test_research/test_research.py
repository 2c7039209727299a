"""Research evaluation: execution conventions, market-neutral view, turnover, costs, tables.

Synthetic panels of two tickers and a few dates with answers worked out by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant_assets.models.evaluation import strategy_daily_returns
from quant_assets.models.tensors import Panel
from quant_assets.research import (
    check_claims,
    daily_turnover,
    execution_panel,
    format_mean_std,
    holding_returns,
    neutral_positions,
    open_quality,
    results_table,
    score_positions,
    seed_summary,
    wide_opens,
)
from quant_assets.research.tables import Claim, ordering

DATES = pd.bdate_range("2020-01-01", periods=4)
TICKERS = pd.Index(["A", "B"], name="ticker")


def make_panel(next_returns: np.ndarray, vol: np.ndarray | None = None) -> Panel:
    t, n = next_returns.shape
    vol = np.full((t, n), 0.15) if vol is None else vol
    features = np.zeros((t, 1, n), dtype=np.float32)
    feature_mask = np.ones((t, n), dtype=bool)
    return Panel(
        dates=DATES[:t],
        tickers=TICKERS[:n],
        factors=("f",),
        features=features,
        next_returns=next_returns,
        ex_ante_vol=vol,
        feature_mask=feature_mask,
        mask=feature_mask & np.isfinite(next_returns),
    )


def long_frame(array: np.ndarray) -> pd.DataFrame:
    t, n = np.nonzero(np.isfinite(array))
    return pd.DataFrame(
        {"date": DATES[t], "ticker": TICKERS[n].astype(str), "position": array[t, n]}
    )


# ----------------------------------------------------------------------------- execution


def test_holding_returns_close_and_next_open():
    closes = pd.DataFrame({"A": [10.0, 11.0, 12.1, 12.1]}, index=DATES)
    opens = pd.DataFrame({"A": [9.0, 10.0, 12.0, 15.0]}, index=DATES)
    close = holding_returns(closes, opens, "close")["A"].to_numpy()
    np.testing.assert_allclose(close[:3], [0.1, 0.1, 0.0])
    assert np.isnan(close[3])
    # a position dated t trades at the open of t+1 and is held to the open of t+2
    nxt = holding_returns(closes, opens, "next_open")["A"].to_numpy()
    np.testing.assert_allclose(nxt[:2], [12.0 / 10.0 - 1, 15.0 / 12.0 - 1])
    assert np.isnan(nxt[2:]).all()


def test_holding_returns_missing_or_bad_open_is_not_scored():
    closes = pd.DataFrame({"A": [10.0, 11.0, 12.0, 13.0]}, index=DATES)
    opens = pd.DataFrame({"A": [9.0, np.nan, 12.0, 0.0]}, index=DATES)
    nxt = holding_returns(closes, opens, "next_open")["A"].to_numpy()
    # t=0 needs opens 1 and 2 (1 missing), t=1 needs 2 and 3 (3 is not positive)
    assert np.isnan(nxt).all()
    with pytest.raises(ValueError, match="execution"):
        holding_returns(closes, opens, "vwap")


def test_wide_opens_share_the_adjusted_basis():
    prices = pd.DataFrame(
        {
            "ticker": ["A", "A", "B"],
            "date": DATES[:2].tolist() + [DATES[0]],
            "open": [9.0, 10.0, 5.0],
            "close": [10.0, 10.0, 6.0],
            "adj_close": [5.0, 5.0, np.nan],
        }
    )
    opens = wide_opens(prices)
    np.testing.assert_allclose(opens["A"].to_numpy(), [4.5, 5.0])  # open * adj_close / close
    assert opens.loc[DATES[0], "B"] == 5.0


def test_execution_panel_masks_unknown_returns():
    panel = make_panel(np.full((4, 2), 0.01))
    returns = pd.DataFrame({"A": [0.1, np.nan, 0.2, 0.3], "B": [0.0] * 4}, index=DATES)
    moved = execution_panel(panel, returns)
    np.testing.assert_array_equal(moved.mask[:, 0], [True, False, True, True])
    assert moved.next_returns[2, 0] == 0.2
    np.testing.assert_array_equal(moved.features, panel.features)


def test_open_quality_shares_per_period():
    prices = pd.DataFrame(
        {
            "date": pd.to_datetime(["2000-01-03", "2000-01-04", "2001-01-02", "2001-01-03"]),
            "open": [10.0, 11.0, 20.0, np.nan],
            "high": [12.0, 11.0, 19.0, 21.0],
            "low": [9.0, 11.0, 18.0, 19.0],
            "close": [11.0, 11.0, 18.5, 20.0],
        }
    )
    table = open_quality(prices, ["2000-01-01", "2001-01-01", "2002-01-01"])
    assert table["rows"].tolist() == [2, 2]
    assert table["open_eq_close"].tolist() == [0.5, 0.0]
    assert table["flat_bar"].tolist() == [0.5, 0.0]
    assert table["open_outside_range"].tolist() == [0.0, 0.5]  # 20 above the high of 19
    assert table["missing"].tolist() == [0.0, 0.5]
    assert table["period"].iloc[0] == "2000-01-01..2000-12-31"


# ----------------------------------------------------------------------------- scoring


def test_neutral_positions_demean_each_date():
    panel = make_panel(np.full((2, 2), 0.01))
    neutral = neutral_positions(panel, np.array([[1.0, 0.5], [1.0, 1.0]]))
    np.testing.assert_allclose(neutral, [[0.25, -0.25], [0.0, 0.0]])


def test_neutral_positions_ignore_unscored_cells():
    returns = np.array([[0.01, np.nan], [0.01, 0.01]])
    panel = make_panel(returns)
    neutral = neutral_positions(panel, np.array([[1.0, -1.0], [np.nan, 0.4]]))
    # date 0: only A is scored, so it holds nothing; date 1: only B has a position
    assert neutral[0, 0] == 0.0 and np.isnan(neutral[0, 1])
    assert np.isnan(neutral[1, 0]) and neutral[1, 1] == 0.0


def test_daily_turnover_by_hand():
    # one ticker, vol at the target: scaled position = position
    panel = make_panel(np.full((4, 1), 0.01))
    turnover = daily_turnover(panel, np.array([[1.0], [-1.0], [-1.0], [0.5]]))
    np.testing.assert_allclose(turnover.to_numpy(), [0.0, 2.0, 0.0, 1.5])
    # two tickers, B at twice the vol (half the scaled size): mean over the names
    panel = make_panel(np.full((2, 2), 0.01), vol=np.array([[0.15, 0.30], [0.15, 0.30]]))
    turnover = daily_turnover(panel, np.array([[1.0, 1.0], [-1.0, -1.0]]))
    np.testing.assert_allclose(turnover.to_numpy(), [0.0, (2.0 + 1.0) / 2])


def test_net_returns_match_the_models_scorer_at_every_cost():
    rng = np.random.default_rng(0)
    returns = rng.normal(0.0, 0.01, size=(4, 2))
    panel = make_panel(returns, vol=rng.uniform(0.1, 0.3, size=(4, 2)))
    positions = long_frame(rng.uniform(-1, 1, size=(4, 2)))
    scores = score_positions(panel, positions, views=["directional"], rescale_vol=None)
    for cost in (0.0, 5.0, 10.0):
        daily = strategy_daily_returns(panel, positions, cost_bps=cost).to_numpy()
        expected = daily.mean() / daily.std(ddof=1) * math.sqrt(252)
        got = scores.loc[scores["cost_bps"] == cost, "sharpe"].iloc[0]
        assert got == pytest.approx(expected, rel=1e-9)


def test_score_positions_by_hand():
    # one ticker long throughout at the target vol: the book earns the returns
    returns = np.array([[0.01], [-0.01], [0.02], [0.0]])
    panel = make_panel(returns)
    positions = long_frame(np.ones((4, 1)))
    row = score_positions(
        panel, positions, costs_bps=[0.0], views=["directional"], rescale_vol=None
    )
    r = returns[:, 0]
    assert row["sharpe"].iloc[0] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    growth = 1.01 * 0.99 * 1.02
    assert row["cagr"].iloc[0] == pytest.approx(growth ** (252 / 4) - 1)
    assert row["max_drawdown"].iloc[0] == pytest.approx(-0.01)
    assert row["turnover"].iloc[0] == 0.0
    assert row["n_days"].iloc[0] == 4


def test_costs_lower_returns_by_turnover():
    # flip from long to short: one day of turnover 2, charged 10 bp each
    returns = np.array([[0.01], [0.01], [-0.01], [0.02]])
    panel = make_panel(returns)
    positions = long_frame(np.array([[1.0], [-1.0], [-1.0], [-1.0]]))
    scores = score_positions(
        panel, positions, costs_bps=[0.0, 10.0], views=["directional"], rescale_vol=None
    )
    gross = np.array([0.01, -0.01, 0.01, -0.02])
    net = gross - np.array([0.0, 2.0 * 10 / 1e4, 0.0, 0.0])
    expected = [(1 + x).prod() ** (252 / 4) - 1 for x in (gross, net)]
    np.testing.assert_allclose(scores["cagr"].to_numpy(), expected)
    np.testing.assert_allclose(scores["turnover"].to_numpy(), [0.5 * 252] * 2)


def test_rescaling_keeps_sharpe_and_sets_the_realised_vol():
    returns = np.array([[0.01], [-0.01], [0.02], [0.0]])
    panel = make_panel(returns)
    half = long_frame(np.full((4, 1), 0.5))
    full = long_frame(np.ones((4, 1)))
    a = score_positions(panel, half, costs_bps=[0.0], views=["directional"])
    b = score_positions(panel, full, costs_bps=[0.0], views=["directional"])
    # a book of half the size scores the same once both are rescaled
    for column in ("sharpe", "cagr", "max_drawdown"):
        assert a[column].iloc[0] == pytest.approx(b[column].iloc[0])
    k = 0.15 / (returns[:, 0].std(ddof=1) * math.sqrt(252))
    assert b["max_drawdown"].iloc[0] == pytest.approx(-0.01 * k)


def test_market_neutral_long_only_is_flat():
    panel = make_panel(np.array([[0.01, 0.02], [0.03, -0.01], [0.0, 0.01], [0.01, 0.0]]))
    scores = score_positions(panel, long_frame(np.ones((4, 2))), costs_bps=[0.0])
    neutral = scores[scores["view"] == "market_neutral"].iloc[0]
    assert np.isnan(neutral["sharpe"])
    assert neutral["turnover"] == 0.0 or np.isnan(neutral["turnover"])
    with pytest.raises(ValueError, match="views"):
        score_positions(panel, long_frame(np.ones((4, 2))), views=["beta"])


# ----------------------------------------------------------------------------- tables


def seed_scores() -> pd.DataFrame:
    rows = []
    for model, sharpes in {"lstm": [1.0, 2.0, 3.0], "ridge": [0.5]}.items():
        for seed, sharpe in enumerate(sharpes):
            rows.append(
                {
                    "model": model,
                    "seed": seed,
                    "execution": "close",
                    "view": "directional",
                    "cost_bps": 0.0,
                    "sharpe": sharpe,
                }
            )
    return pd.DataFrame(rows)


def test_seed_summary_mean_and_sample_std():
    summary = seed_summary(seed_scores()).set_index("model")
    assert summary.loc["lstm", "sharpe_mean"] == 2.0
    assert summary.loc["lstm", "sharpe_std"] == 1.0  # sample std of 1, 2, 3
    assert summary.loc["lstm", "n_seeds"] == 3
    assert np.isnan(summary.loc["ridge", "sharpe_std"])


def test_format_mean_std():
    assert format_mean_std(0.5234, 0.1) == "0.52 ± 0.10"
    assert format_mean_std(0.5, float("nan")) == "0.50 ± —"
    assert format_mean_std(float("nan"), 0.1) == "n/a"


def test_results_table_rows_in_order():
    summary = seed_summary(seed_scores())
    averages = pd.DataFrame(
        {
            "model": ["lstm", "ridge"],
            "execution": "close",
            "view": "directional",
            "cost_bps": 0.0,
            "sharpe": [1.9, 0.5],
            "cagr": [0.1, 0.05],
            "max_drawdown": [-0.2, -0.3],
            "turnover": [12.0, 3.0],
        }
    )
    table = results_table(
        summary,
        averages,
        execution="close",
        view="directional",
        models=["ridge", "tft", "lstm"],
        costs_bps=[0.0],
        headline_cost_bps=0.0,
    ).splitlines()
    assert len(table) == 4  # header, rule, ridge, lstm (no tft scores)
    assert table[2].startswith("| ridge | 0.50 ± — | 1 | 0.50 | 5.0% | -30.0% | 3.0 |")
    assert table[3].startswith("| lstm | 2.00 ± 1.00 | 3 | 1.90 | 10.0% | -20.0% | 12.0 |")


def test_check_claims():
    claims = [Claim("P", "lstm", "macd"), Claim("P", "tft", "lstm"), Claim("Q", "xgb", "ridge")]
    table = check_claims({"lstm": 1.0, "macd": 0.9, "tft": 0.5}, {"lstm": 0.2}, claims)
    assert table["holds"].tolist() == [True, False, None]
    assert table["within_noise"].tolist() == [True, False, False]
    assert ordering({"a": 1.0, "b": float("nan"), "c": 2.0}) == ["c", "a", "b"]
