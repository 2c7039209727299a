"""Model inputs keep each ticker on its own rows: wide closes, the panel, positions.

``wide_closes`` and ``build_panel`` are checked on real rows (read with ``read_prices``, so the
ticker column is categorical, then filtered) for any ticker dtype, row and column order, and any
filtering: ticker X's column equals the one built from X's rows alone, and wide closes equal a
straightforward per-ticker groupby.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge

from quant_assets.factors import compute_factors
from quant_assets.ingest import read_prices
from quant_assets.models import build_panel, forecast_positions, positions_array, wide_closes
from quant_assets.models.evaluation import positions_frame
from quant_assets_tests.ticker_dtypes import TICKER_KINDS, tickers_as

# Full calendars in the window, except the late listing APTV (from 2017-12-05): its rows are a
# suffix of the calendar, so its panel column alone and among the others agree on its dates.
TICKERS = ["AAPL", "AET", "AFL", "AGN", "APTV", "ARE", "MSFT", "ZTS"]
FACTORS = ("ret_1", "ret_5", "sma_5", "rvol_21")
KINDS = TICKER_KINDS
EXTRA = ["AAA", "ZZZZ", "BHF"]


@pytest.fixture(scope="module")
def rows(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Real rows of ``TICKERS`` plus one more (BHF), read back with ``read_prices``, 2017-09 on."""
    raw = pd.read_csv(shared_data / "sp500_5yr_2013_2018.csv.gz", dtype=str, keep_default_na=False)
    path = tmp_path_factory.mktemp("model_identity") / "sp500_subset.csv"
    raw[raw["ticker"].isin([*TICKERS, "BHF"])].to_csv(path, index=False)
    valid, _ = read_prices(path)
    valid = valid[(valid["date"] >= "2017-09-01") & (valid["ticker"] != "BHF")]
    assert "BHF" in valid["ticker"].cat.categories  # an unused category, as after any filter
    calendar = np.sort(valid["date"].unique())
    for _, dates in valid.groupby("ticker", observed=True)["date"]:
        assert np.array_equal(np.sort(dates.to_numpy()), calendar[-len(dates) :])
    return valid


@pytest.fixture(scope="module")
def features(rows: pd.DataFrame) -> pd.DataFrame:
    return compute_factors(rows, FACTORS)


def _variant(frame: pd.DataFrame, kept, kind, extra, rng) -> pd.DataFrame:
    out = frame[frame["ticker"].isin(kept)]
    out = out.assign(ticker=pd.Series(tickers_as(out["ticker"], kind, extra, rng), index=out.index))
    return out.iloc[rng.permutation(len(out))]


def _groupby_closes(prices: pd.DataFrame) -> pd.DataFrame:
    """The slow reference for ``wide_closes``: one ticker at a time."""
    columns = {}
    for ticker, group in prices.astype({"ticker": str}).groupby("ticker"):
        group = group.sort_values("date")
        has_adjusted = "adj_close" in group and group["adj_close"].notna().any()
        price = group["adj_close"] if has_adjusted else group["close"]
        price = price.where(price > 0)
        columns[ticker] = pd.Series(price.to_numpy(), index=pd.DatetimeIndex(group["date"]))
    wide = pd.DataFrame(columns).sort_index().dropna(how="all")
    return wide.rename_axis(index="date", columns="ticker")


@st.composite
def variants(draw):
    return (
        draw(st.lists(st.sampled_from(TICKERS), min_size=1, max_size=5, unique=True)),
        draw(st.sampled_from(KINDS)),
        draw(st.sampled_from(KINDS)),
        draw(st.lists(st.sampled_from(EXTRA + TICKERS), max_size=3)),
        draw(st.integers(0, 2**32 - 1)),
    )


_SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_SETTINGS
@given(variants())
def test_wide_closes_equal_a_per_ticker_groupby(rows, variant):
    kept, kind, _, extra, seed = variant
    prices = _variant(rows, kept, kind, extra, np.random.default_rng(seed))
    got = wide_closes(prices)
    expected = _groupby_closes(prices)
    pd.testing.assert_frame_equal(got, expected, check_freq=False, check_column_type=False)


def _ticker_slice(panel, ticker: str) -> dict[str, np.ndarray]:
    n = list(panel.tickers).index(ticker)
    return {
        "features": panel.features[:, :, n],
        "next_returns": panel.next_returns[:, n],
        "ex_ante_vol": panel.ex_ante_vol[:, n],
        "feature_mask": panel.feature_mask[:, n],
        "mask": panel.mask[:, n],
    }


def _closes_columns(closes: pd.DataFrame, kind: str, extra: list[str], rng) -> pd.DataFrame:
    closes = closes.iloc[:, rng.permutation(closes.shape[1])]
    out = closes.copy()
    out.columns = pd.Index(tickers_as(closes.columns, kind, extra, rng), name="ticker")
    return out


@pytest.fixture(scope="module")
def alone(rows: pd.DataFrame, features: pd.DataFrame) -> dict:
    """Each ticker's panel built from its own rows only, text tickers."""
    out = {}
    for ticker in TICKERS:
        own = rows[rows["ticker"] == ticker].astype({"ticker": str})
        out[ticker] = build_panel(
            features[features["ticker"] == ticker].astype({"ticker": str}),
            wide_closes(own),
            factors=FACTORS,
            vol_min_periods=5,
        )
    return out


@_SETTINGS
@given(variants())
def test_panel_column_depends_only_on_its_tickers_rows(rows, features, alone, variant):
    kept, features_kind, closes_kind, extra, seed = variant
    rng = np.random.default_rng(seed)
    closes = _closes_columns(wide_closes(rows[rows["ticker"].isin(kept)]), closes_kind, extra, rng)
    # features of every ticker, shuffled: those without closes are ignored
    mixed = _variant(features, TICKERS, features_kind, extra, rng)
    panel = build_panel(mixed, closes, factors=FACTORS, vol_min_periods=5)
    assert sorted(panel.tickers) == sorted(kept)
    for ticker in kept:
        on = panel.dates.get_indexer(alone[ticker].dates)
        assert (on >= 0).all()
        got, expected = _ticker_slice(panel, ticker), _ticker_slice(alone[ticker], ticker)
        for name, values in expected.items():
            np.testing.assert_array_equal(got[name][on], values, err_msg=f"{ticker} {name}")


@pytest.mark.parametrize("kind", KINDS)
def test_positions_land_on_their_tickers(rows, features, kind):
    rng = np.random.default_rng(5)
    panel = build_panel(features, wide_closes(rows), factors=FACTORS)
    grid = np.where(
        rng.random(panel.next_returns.shape) < 0.5,
        rng.uniform(-1, 1, panel.next_returns.shape),
        np.nan,
    )
    frame = positions_frame(grid, panel, np.arange(len(panel.dates)))
    shuffled = frame.assign(
        ticker=pd.Series(tickers_as(frame["ticker"], kind, EXTRA, rng), index=frame.index)
    )
    shuffled = shuffled.iloc[rng.permutation(len(shuffled))]
    np.testing.assert_array_equal(positions_array(panel, shuffled), grid)
    # the slow path: one ticker at a time
    for ticker in TICKERS:
        mine = frame[frame["ticker"] == ticker].set_index("date")["position"]
        n = list(panel.tickers).index(ticker)
        np.testing.assert_array_equal(mine.reindex(panel.dates).to_numpy(), grid[:, n])


@pytest.mark.parametrize("kind", ["object", "categorical"])
def test_wide_closes_ignore_rows_without_a_ticker(rows, kind):
    prices = rows.head(60).astype({"ticker": object})
    prices.loc[prices.index[::7], "ticker"] = None
    if kind == "categorical":
        prices["ticker"] = prices["ticker"].astype("category")
    got = wide_closes(prices)
    assert list(got.columns) == sorted(prices["ticker"].dropna().unique())
    pd.testing.assert_frame_equal(
        got, _groupby_closes(prices.dropna(subset=["ticker"])), check_column_type=False
    )


def test_forecast_positions_keep_dates_in_any_order(rows, features):
    panel = build_panel(features, wide_closes(rows), factors=FACTORS, vol_min_periods=5)
    rng = np.random.default_rng(3)
    estimator = Ridge().fit(rng.normal(size=(40, len(FACTORS))), rng.normal(size=40))
    dates = panel.dates[-25:]
    key = ["date", "ticker"]
    in_order = forecast_positions(estimator, panel, dates).sort_values(key, ignore_index=True)
    shuffled = forecast_positions(estimator, panel, dates[rng.permutation(len(dates))])
    pd.testing.assert_frame_equal(shuffled.sort_values(key, ignore_index=True), in_order)
    # the slow path: one date at a time
    one_by_one = pd.concat(
        [forecast_positions(estimator, panel, dates[i : i + 1]) for i in range(len(dates))]
    )
    pd.testing.assert_frame_equal(one_by_one.sort_values(key, ignore_index=True), in_order)
    assert len(in_order) == int(panel.feature_mask[-25:].sum())
