"""Baseline runs: rule strategies log params and scores; fitted forecasters are registered."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor

from quant_assets.models import forecast_baseline, positions_sharpe, tsmom_positions
from quant_assets.tracking import (
    forecast_input_example,
    load_registered_model,
    log_baseline,
    log_forecast_baseline,
)


def test_forecaster_is_registered_and_reloads_to_the_same_forecasts(tracker, panel, split):
    result = forecast_baseline("ridge", panel, split)
    logged = log_forecast_baseline(
        tracker, result, panel, split, window=2017, compute={"device": "cpu"}
    )
    assert (logged.registered_name, logged.version) == ("quant_assets-ridge", 1)
    run = tracker.client.get_run(logged.run_id)
    assert run.data.params["ridge__alpha"] == str(result.best_params["ridge__alpha"])
    assert run.data.params["test_start"] == "2017-07-03"
    assert run.data.metrics["val_sharpe"] == pytest.approx(result.val_sharpe)
    assert run.data.tags["data_end"] == "2018-02-07" and run.data.tags["compute.device"] == "cpu"
    rows = forecast_input_example(panel, split, rows=50)
    reloaded = load_registered_model(tracker, "quant_assets-ridge", 1)
    np.testing.assert_array_equal(reloaded.predict(rows), result.estimator.predict(rows))


def test_tree_forecaster_is_logged_in_the_safe_format(tracker, panel, split):
    forest = RandomForestRegressor(n_estimators=5, min_samples_leaf=200, random_state=0)
    result = forecast_baseline(
        "random_forest", panel, split, estimator=forest, param_grid={"max_depth": [2]}
    )
    logged = log_forecast_baseline(tracker, result, panel, split)
    rows = forecast_input_example(panel, split, rows=20)
    reloaded = load_registered_model(tracker, logged.registered_name, logged.version)
    np.testing.assert_array_equal(reloaded.predict(rows), result.estimator.predict(rows))


def test_rule_baseline_logs_params_and_scores_but_no_model(tracker, real_closes, panel, split):
    test_dates = panel.dates[split.test]
    positions = tsmom_positions(real_closes, test_dates, lookback=252)
    sharpe = positions_sharpe(panel, positions)
    logged = log_baseline(
        tracker,
        kind="tsmom",
        params={"lookback": 252},
        metrics={"test_sharpe": sharpe},
        panel=panel,
        split=split,
        window=2017,
    )
    assert logged.version is None and logged.model_uri is None
    run = tracker.client.get_run(logged.run_id)
    assert run.data.params["lookback"] == "252" and run.data.params["kind"] == "tsmom"
    assert run.data.metrics["test_sharpe"] == pytest.approx(sharpe)
    assert tracker.client.search_registered_models() == []
