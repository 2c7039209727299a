from __future__ import annotations

import functools

import numpy as np
import pytest

from quant_assets.models import forecast_baseline, forecast_positions
from quant_assets.models.evaluation import positions_frame
from quant_assets.models.importance import (
    permutation_importance,
    shap_importance,
    shuffle_within_tickers,
)
from quant_assets_tests.test_models.planted_signal import (
    PLANTED_SHARPE_BAR,
    planted_signal_panel,
    planted_split,
)


@pytest.fixture(scope="module")
def planted():
    return planted_signal_panel(), planted_split()


def _planted_sign_positions(panel, dates):
    """A 'model' that holds sign(planted factor): only that factor can matter."""
    t = panel.date_positions(dates)
    return positions_frame(np.sign(panel.features[t, 0, :].astype(np.float64)), panel, t)


def test_shuffle_permutes_each_ticker_over_its_valid_dates_only():
    values = np.arange(12, dtype=np.float64).reshape(6, 2)
    valid = np.ones((6, 2), dtype=bool)
    valid[[1, 4], 0] = False
    shuffled = shuffle_within_tickers(values, valid, np.random.default_rng(0))
    assert shuffled[1, 0] == values[1, 0] and shuffled[4, 0] == values[4, 0]
    for n in range(2):
        assert sorted(shuffled[valid[:, n], n]) == sorted(values[valid[:, n], n])
    assert not np.array_equal(shuffled, values)
    again = shuffle_within_tickers(values, valid, np.random.default_rng(0))
    np.testing.assert_array_equal(shuffled, again)


def test_only_the_factor_a_model_reads_matters_by_hand(planted):
    panel, split = planted
    table = permutation_importance(panel, _planted_sign_positions, split.test, n_repeats=3)
    by_factor = table.set_index("factor")
    assert table["factor"].iloc[0] == "planted"
    # unused factors leave the positions, hence the Sharpe, exactly unchanged
    assert (by_factor.drop("planted")["importance"] == 0.0).all()
    # shuffling the planted factor takes a Sharpe of about 10 to about 0
    assert by_factor.loc["planted", "baseline_score"] > PLANTED_SHARPE_BAR
    assert by_factor.loc["planted", "importance"] > PLANTED_SHARPE_BAR
    assert table["rank"].tolist() == [1, 2, 3, 4]
    repeat = permutation_importance(panel, _planted_sign_positions, split.test, n_repeats=3)
    assert repeat.equals(table)


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost"])
def test_a_fitted_tree_model_ranks_the_planted_factor_first(kind, planted):
    panel, split = planted
    grid = {"n_estimators": [60], "learning_rate": [0.1]}
    result = forecast_baseline(kind, panel, split, param_grid=grid, n_jobs=1)
    positions_fn = functools.partial(forecast_positions, result.estimator)
    permuted = permutation_importance(panel, positions_fn, split.validation, n_repeats=2)
    assert permuted["factor"].iloc[0] == "planted"
    assert permuted["importance"].iloc[0] > PLANTED_SHARPE_BAR
    shap_table = shap_importance(result.estimator, panel, split.test, max_rows=500)
    assert shap_table["factor"].iloc[0] == "planted"
    top, rest = shap_table["mean_abs_shap"].iloc[0], shap_table["mean_abs_shap"].iloc[1:]
    assert top > 3 * rest.max()


def test_shap_needs_a_tree_model(planted):
    panel, split = planted
    ridge = forecast_baseline("ridge", panel, split).estimator
    with pytest.raises(TypeError, match="TreeExplainer"):
        shap_importance(ridge, panel, split.test)
