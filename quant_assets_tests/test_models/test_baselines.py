from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

from quant_assets.models import (
    FORECASTERS,
    forecast_baseline,
    long_only_positions,
    macd_positions,
    tsmom_positions,
)
from quant_assets.models.baselines import time_series_folds

SMALL_ESTIMATORS = {
    "ridge": (None, None),
    "random_forest": (
        RandomForestRegressor(n_estimators=10, min_samples_leaf=50, n_jobs=1, random_state=0),
        {"max_depth": [2, 3]},
    ),
    "hist_gradient_boosting": (
        HistGradientBoostingRegressor(max_iter=20, early_stopping=False, random_state=0),
        {"max_depth": [2, 3]},
    ),
}


def test_long_only_holds_every_listed_asset(long_history_closes):
    positions = long_only_positions(long_history_closes)
    assert list(positions.columns) == ["date", "ticker", "position"]
    assert (positions["position"] == 1.0).all()
    assert len(positions) == long_history_closes.notna().sum().sum()
    assert positions[positions["ticker"] == "AET"]["date"].min() == pd.Timestamp("1977-01-03")


def test_tsmom_is_the_sign_of_the_twelve_month_return(sp500_closes):
    positions = tsmom_positions(sp500_closes).set_index(["date", "ticker"])["position"]
    t = 700
    expected = np.sign(sp500_closes["BAC"].iloc[t] / sp500_closes["BAC"].iloc[t - 252] - 1)
    assert positions[(sp500_closes.index[t], "BAC")] == expected
    assert positions.index.get_level_values("date").min() == sp500_closes.index[252]


def test_macd_positions_are_bounded_and_causal(sp500_closes):
    full = macd_positions(sp500_closes)
    assert full["position"].abs().max() <= 1.0
    cut = sp500_closes.index[700]
    truncated = macd_positions(sp500_closes.loc[:cut])
    left = full[full["date"] <= cut].reset_index(drop=True)
    pd.testing.assert_frame_equal(left, truncated)


def test_baselines_can_be_restricted_to_dates(sp500_closes):
    dates = sp500_closes.index[-5:]
    assert set(tsmom_positions(sp500_closes, dates)["date"]) == set(dates)


def test_time_series_folds_keep_days_whole_and_leave_a_gap():
    row_dates = np.repeat(np.arange(100), 3)  # three assets a day
    folds = time_series_folds(row_dates, n_splits=3, gap=5)
    assert len(folds) == 3
    for fit_rows, check_rows in folds:
        fit_days, check_days = set(row_dates[fit_rows]), set(row_dates[check_rows])
        assert min(check_days) - max(fit_days) == 6
        assert all((row_dates == d).sum() == 3 for d in check_days)


@pytest.mark.parametrize("kind", FORECASTERS)
def test_forecast_baselines_hold_the_forecast_sign_out_of_sample(kind, sp500_panel, sp500_split):
    estimator, grid = SMALL_ESTIMATORS[kind]
    result = forecast_baseline(kind, sp500_panel, sp500_split, estimator=estimator, param_grid=grid)
    test_dates = sp500_panel.dates[sp500_split.test]
    assert result.positions["date"].between(test_dates[0], test_dates[-1]).all()
    assert set(np.unique(result.positions["position"])) <= {-1.0, 0.0, 1.0}
    assert np.isfinite([result.val_sharpe, result.test_sharpe]).all()
    ((name, values),) = (grid or {"ridge__alpha": [1.0, 100.0, 10_000.0]}).items()
    assert result.best_params[name] in values
    assert len(result.cv_results) == len(values)


def test_unknown_forecaster_is_rejected(sp500_panel, sp500_split):
    with pytest.raises(ValueError, match="unknown forecaster"):
        forecast_baseline("svm", sp500_panel, sp500_split)
