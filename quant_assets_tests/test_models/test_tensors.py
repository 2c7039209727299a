from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.models import build_panel, deep_momentum_features, sequence_windows, window_ends


@pytest.fixture(scope="module")
def gappy_panel(long_history_closes):
    return build_panel(deep_momentum_features(long_history_closes), long_history_closes)


def test_panel_is_time_by_features_by_assets(sp500_panel, sp500_closes):
    t, f, n = sp500_panel.shape
    assert (t, n) == sp500_closes.shape and f == 8
    assert sp500_panel.features.dtype == np.float32
    assert sp500_panel.next_returns.shape == sp500_panel.mask.shape == (t, n)
    assert list(sp500_panel.factors) == sorted(sp500_panel.factors)


def test_feature_values_land_in_their_cell(sp500_panel, sp500_features):
    row = sp500_features.iloc[12345]
    t = sp500_panel.dates.get_loc(row["date"])
    f = sp500_panel.factors.index(row["factor"])
    n = sp500_panel.tickers.get_loc(row["ticker"])
    assert sp500_panel.features[t, f, n] == np.float32(row["value"])


def test_targets_are_next_day_returns_and_last_date_is_unscored(sp500_panel, sp500_closes):
    t = 500
    close = sp500_closes.to_numpy()
    assert np.allclose(sp500_panel.next_returns[t], close[t + 1] / close[t] - 1)
    assert not sp500_panel.mask[-1].any()
    assert sp500_panel.feature_mask[-1].all()  # the latest date can still be traded


def test_vol_scaled_target_uses_ex_ante_vol_of_the_same_date(sp500_panel):
    scaled = sp500_panel.scaled_next_returns(0.15)
    t = 600
    expected = sp500_panel.next_returns[t] * 0.15 / sp500_panel.ex_ante_vol[t]
    assert np.allclose(scaled[t], expected)
    assert np.isnan(scaled[~sp500_panel.mask]).all()


def test_mask_excludes_tickers_before_listing(gappy_panel):
    aet = gappy_panel.tickers.get_loc("AET")
    listed = gappy_panel.dates.get_loc(pd.Timestamp("1977-01-03"))
    assert not gappy_panel.feature_mask[:listed, aet].any()
    assert gappy_panel.mask[:, aet].any()


def test_mask_excludes_missing_days_and_the_day_before(gappy_panel):
    wmt = gappy_panel.tickers.get_loc("WMT")
    missing = gappy_panel.dates.get_loc(pd.Timestamp("1979-03-15"))
    assert gappy_panel.mask[missing - 5, wmt]
    assert not gappy_panel.mask[missing - 1, wmt]  # next close unknown: cannot be scored
    assert gappy_panel.feature_mask[missing - 1, wmt]  # but the position can be computed
    assert not gappy_panel.feature_mask[missing, wmt]
    assert np.isnan(gappy_panel.next_returns[missing - 1, wmt])


def test_vol_is_floored(gappy_panel):
    assert np.nanmin(gappy_panel.ex_ante_vol) >= 0.05


def test_sequence_windows_end_on_their_date_and_read_nothing_later(sp500_panel):
    ends = np.array([3, 100, 101])
    windows = sequence_windows(sp500_panel.features, ends, 10)
    assert windows.shape == (3, 10, *sp500_panel.features.shape[1:])
    np.testing.assert_array_equal(windows[1, -1], sp500_panel.features[100])
    np.testing.assert_array_equal(windows[1], sp500_panel.features[91:101])
    assert np.isnan(windows[0, :6]).all()  # before the panel's first date: unknown
    masks = sequence_windows(sp500_panel.mask, ends, 10, fill=False)
    assert masks.dtype == bool and not masks[0, :6].any()


def test_window_ends_stay_inside_the_block_and_favour_recent_dates():
    block = np.arange(20, 50)
    ends = window_ends(block, 10, stride=7)
    assert ends[-1] == 49 and (ends - 9 >= 20).all()
    assert ends.tolist() == [35, 42, 49]  # 28 would start before the block
    assert len(window_ends(block, 31)) == 0
    with pytest.raises(ValueError, match="contiguous"):
        window_ends(np.array([1, 2, 4]), 2)
