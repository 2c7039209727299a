"""Splits and unit changes in real closes un-adjusted on purpose, and the adjusted series back.

FMP's AAPL history (2016-06..2021-06) is split-adjusted for the 4:1 split of 2020-08-31 and the
Kaggle S&P 500 file for the 7:1 split of 2014-06-09: multiplying the closes before the split
by its factor (and dividing volumes) gives the raw series a vendor without adjustment delivers.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from quant_assets.ingest.corporate_actions import (
    SplitPayloadError,
    adjustment_factors,
    detect_corporate_actions,
    parse_fmp_splits,
    split_adjusted_closes,
    unexplained_jumps,
)
from quant_assets.resources.warehouse import Warehouse
from quant_assets.warehouse.corporate_actions import (
    confirm_with_fmp_splits,
    find_unexplained_jumps,
    load_adjusted_closes,
    refresh_detected_actions,
)
from quant_assets.warehouse.deliveries import apply_delivery

FMP_AAPL = "aapl_historical_price_full_2016-06-02_2021-06-02.json"


@pytest.fixture(scope="module")
def fmp_aapl(shared_data) -> pd.DataFrame:
    """Real split-adjusted AAPL bars from FMP (ticker, date, close, adj_close, volume)."""
    records = json.loads((shared_data / "fmp" / FMP_AAPL).read_text())["historical"]
    frame = pd.DataFrame(records)[["date", "close", "adjClose", "volume"]]
    frame = frame.rename(columns={"adjClose": "adj_close"}).assign(ticker="AAPL")
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.sort_values("date", ignore_index=True)[
        ["ticker", "date", "close", "adj_close", "volume"]
    ]


def unadjust(bars: pd.DataFrame, on: str, factor: float) -> pd.DataFrame:
    """The raw series of ``bars`` had a ``factor`` split on ``on`` not been adjusted for."""
    raw = bars[["ticker", "date", "close", "volume"]].copy()
    before = raw["date"] < pd.Timestamp(on)
    raw.loc[before, "close"] *= factor
    raw.loc[before, "volume"] /= factor
    return raw


def test_fmp_4_for_1_split_is_detected_and_adjusts_back_exactly(fmp_aapl):
    raw = unadjust(fmp_aapl, "2020-08-31", 4.0)
    actions = detect_corporate_actions(raw)
    assert actions.to_dict("records") == [
        {
            "ticker": "AAPL",
            "date": pd.Timestamp("2020-08-31"),
            "kind": "split",
            "factor": 4.0,
            "applied": True,
        }
    ]
    adjusted = split_adjusted_closes(raw, actions)
    np.testing.assert_allclose(adjusted, fmp_aapl["close"], rtol=0, atol=1e-12)
    assert raw["close"].iloc[0] == fmp_aapl["close"].iloc[0] * 4  # raw stays raw


def test_kaggle_7_for_1_split_is_detected(sp500_prices):
    valid, _ = sp500_prices
    aapl = valid[valid["ticker"].astype(str) == "AAPL"]
    raw = unadjust(aapl, "2014-06-09", 7.0)
    actions = detect_corporate_actions(raw)
    assert actions[["date", "kind", "factor"]].to_dict("records") == [
        {"date": pd.Timestamp("2014-06-09"), "kind": "split", "factor": 7.0}
    ]
    adjusted = split_adjusted_closes(raw, actions).to_numpy()
    np.testing.assert_allclose(adjusted, aapl["close"].to_numpy(), rtol=0, atol=1e-12)


def test_unit_change_to_cents_is_detected_with_factor_one_hundredth(fmp_aapl):
    raw = fmp_aapl[["ticker", "date", "close", "volume"]].copy()
    raw.loc[raw["date"] >= "2019-03-01", "close"] *= 100  # dollars -> cents, same shares
    actions = detect_corporate_actions(raw)
    assert actions[["date", "kind", "factor"]].to_dict("records") == [
        {"date": pd.Timestamp("2019-03-01"), "kind": "unit_change", "factor": 0.01}
    ]
    # Back-adjusted into the latest unit: every close in cents.
    adjusted = split_adjusted_closes(raw, actions)
    np.testing.assert_allclose(adjusted, fmp_aapl["close"] * 100, rtol=1e-14, atol=0)


def test_jump_already_in_adj_close_is_not_a_split(fmp_aapl):
    raw = unadjust(fmp_aapl, "2020-08-31", 4.0).assign(adj_close=fmp_aapl["adj_close"])
    assert detect_corporate_actions(raw).empty


def test_one_day_bad_tick_that_reverts_is_not_a_split_but_unexplained(fmp_aapl):
    raw = fmp_aapl[["ticker", "date", "close", "volume"]].copy()
    raw.loc[500, "close"] /= 10  # a misplaced decimal on one day
    actions = detect_corporate_actions(raw)
    assert actions.empty
    jumps = unexplained_jumps(raw, actions)
    assert jumps[["date", "reason"]].to_dict("records") == [
        {"date": raw.loc[500, "date"], "reason": "reverting_tick"}
    ]


def test_real_crash_not_near_a_factor_is_unexplained_not_a_split(sp500_prices):
    valid, _ = sp500_prices
    ebay = valid[valid["ticker"].astype(str) == "EBAY"]  # 2015-07-20: -57 %, PayPal spin-off
    actions = detect_corporate_actions(ebay)
    assert actions.empty
    jumps = unexplained_jumps(ebay, actions)
    assert jumps[["ticker", "date", "reason"]].to_dict("records") == [
        {"ticker": "EBAY", "date": pd.Timestamp("2015-07-20"), "reason": "jump_not_a_split_factor"}
    ]
    assert jumps["ratio"].iloc[0] == pytest.approx(28.57 / 66.3, abs=1e-3)


def test_detection_per_ticker_ignores_neighbours_and_row_order(fmp_aapl):
    split = unadjust(fmp_aapl, "2020-08-31", 4.0)
    other = fmp_aapl[["ticker", "date", "close", "volume"]].assign(ticker="MSFT")
    both = pd.concat([other, split]).sample(frac=1.0, random_state=7)
    both["ticker"] = pd.Categorical(both["ticker"], categories=["ZZZ", "MSFT", "AAPL"])
    actions = detect_corporate_actions(both)
    assert actions[["ticker", "date", "factor"]].to_dict("records") == [
        {"ticker": "AAPL", "date": pd.Timestamp("2020-08-31"), "factor": 4.0}
    ]
    adjustment = adjustment_factors(both, actions)
    is_aapl = both["ticker"].astype(str).eq("AAPL") & (both["date"] < "2020-08-31")
    assert set(adjustment[is_aapl]) == {4.0} and set(adjustment[~is_aapl]) == {1.0}


def test_fmp_split_payloads_v3_and_stable_parse_to_factors():
    v3 = {
        "symbol": "AAPL",
        "historical": [
            {"date": "2020-08-31", "label": "August 31, 20", "numerator": 4, "denominator": 1},
            {"date": "2014-06-09", "label": "June 09, 14", "numerator": 7.0, "denominator": 1.0},
        ],
    }
    stable = [{"symbol": "AAPL", "date": "2020-08-31", "numerator": 4, "denominator": 1}]
    assert parse_fmp_splits("AAPL", v3)["factor"].tolist() == [4.0, 7.0]
    assert parse_fmp_splits("AAPL", stable)["date"].tolist() == [pd.Timestamp("2020-08-31")]
    assert parse_fmp_splits("AAPL", {}).empty and parse_fmp_splits("AAPL", []).empty


@pytest.mark.parametrize(
    "payload",
    [
        {"historical": None},
        {"Error Message": "Invalid API KEY."},
        "<html>502</html>",
        [{"date": "2020-08-31", "numerator": 4, "denominator": 0}],
        [{"date": "someday", "numerator": 4, "denominator": 1}],
    ],
)
def test_bad_fmp_split_payload_raises_naming_the_symbol(payload):
    with pytest.raises(SplitPayloadError, match="^AAPL: "):
        parse_fmp_splits("AAPL", payload)


def test_warehouse_stores_confirms_and_serves_adjusted_closes(tmp_path, fmp_aapl):
    warehouse = Warehouse(path=str(tmp_path / "warehouse.duckdb"))
    raw = unadjust(fmp_aapl, "2020-08-31", 4.0).assign(
        open=np.nan, high=np.nan, low=np.nan, adj_close=np.nan, source="raw/aapl.csv"
    )
    with warehouse.transaction() as con:
        apply_delivery(con, raw, source="raw/aapl.csv", full_delivery=True)
        assert refresh_detected_actions(con, ["AAPL"]) == 1
        assert refresh_detected_actions(con, ["AAPL"]) == 1  # idempotent
        split = {
            "symbol": "AAPL",
            "historical": [{"date": "2020-08-31", "numerator": 4, "denominator": 1}],
        }
        assert confirm_with_fmp_splits(con, "AAPL", split) == 1
        stored = con.execute(
            "SELECT kind, factor, source, status FROM corporate_actions"
        ).fetchall()
        assert stored == [("split", 4.0, "detected", "confirmed")]
        adjusted = load_adjusted_closes(con, ["AAPL"])
        raw_close = con.execute("SELECT close FROM prices ORDER BY date").df()["close"]
        assert find_unexplained_jumps(con).empty
    np.testing.assert_allclose(adjusted["close"], fmp_aapl["close"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(raw_close, raw["close"])  # prices keep the raw values
