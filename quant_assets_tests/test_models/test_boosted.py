from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from quant_assets.models import forecast_baseline, forecast_positions, long_only_positions
from quant_assets.models.boosted import (
    BOOSTED_KINDS,
    boosted_device,
    forecast_boosted,
    lightgbm_device,
)
from quant_assets.models.evaluation import positions_sharpe
from quant_assets_tests.test_models.planted_signal import (
    PLANTED_SHARPE_BAR,
    planted_signal_panel,
    planted_split,
)

SMALL = {"n_estimators": 150, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def planted():
    return planted_signal_panel(), planted_split()


@pytest.mark.parametrize("kind", BOOSTED_KINDS)
def test_boosted_trees_find_the_planted_signal_out_of_sample(kind, planted):
    panel, split = planted
    result = forecast_boosted(kind, panel, split, params=SMALL, param_grid={}, n_jobs=1)
    # (a) the bar: sign(planted) itself earns about 10; no skill is 0 +- 1.2 on 190 days
    assert result.test_sharpe > PLANTED_SHARPE_BAR
    test_dates = panel.dates[split.test]
    long_only = long_only_positions(pd.DataFrame(1.0, index=test_dates, columns=panel.tickers))
    assert result.test_sharpe > positions_sharpe(panel, long_only) + PLANTED_SHARPE_BAR
    # (b) training improves: validation error of the kept trees below the constant forecast's
    kept = result.validation_loss[result.best_iteration - 1]
    assert kept < result.init_validation_loss
    assert kept == pytest.approx(-result.cv_results["mean_test_score"].max())
    assert 1 <= result.best_iteration <= SMALL["n_estimators"]


@pytest.mark.parametrize("kind", BOOSTED_KINDS)
def test_boosted_forecasters_share_the_baseline_interface(kind, sp500_panel, sp500_split):
    result = forecast_baseline(
        kind, sp500_panel, sp500_split, param_grid={"learning_rate": [0.05, 0.2]}, n_jobs=1
    )
    test_dates = sp500_panel.dates[sp500_split.test]
    assert result.positions["date"].between(test_dates[0], test_dates[-1]).all()
    assert set(np.unique(result.positions["position"])) <= {-1.0, 0.0, 1.0}
    assert np.isfinite([result.val_sharpe, result.test_sharpe]).all()
    # the table log_forecast_baseline reads
    best = result.cv_results.loc[result.cv_results["rank_test_score"].idxmin()]
    assert best["params"]["learning_rate"] == result.best_params["learning_rate"]
    assert result.best_params["n_estimators"] == result.best_iteration
    assert len(result.cv_results) == 2
    # a fitted estimator scores like every forecaster
    again = forecast_positions(result.estimator, sp500_panel, test_dates)
    pd.testing.assert_frame_equal(again, result.positions)


@pytest.mark.parametrize("kind", BOOSTED_KINDS)
def test_boosted_forecasters_are_deterministic_given_the_seed(kind, planted):
    panel, split = planted
    params = {"n_estimators": 30, "subsample": 0.7, "colsample_bytree": 0.5}
    runs = [
        forecast_boosted(kind, panel, split, params=params, param_grid={}, n_jobs=2)
        for _ in range(2)
    ]
    x = panel.features[split.test[:50], :, 0].astype(np.float64)
    np.testing.assert_array_equal(runs[0].estimator.predict(x), runs[1].estimator.predict(x))
    other = forecast_boosted(kind, panel, split, params=params, param_grid={}, seed=1, n_jobs=1)
    assert not np.array_equal(runs[0].estimator.predict(x), other.estimator.predict(x))


def test_unknown_kind_and_device_are_rejected(planted):
    panel, split = planted
    with pytest.raises(ValueError, match="unknown boosted"):
        forecast_boosted("catboost", panel, split)
    with pytest.raises(ValueError, match="device"):
        boosted_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")
def test_cuda_without_a_gpu_is_a_clear_error_for_xgboost_and_cpu_for_lightgbm(planted):
    with pytest.raises(ValueError, match="CUDA is not available"):
        boosted_device("cuda")
    assert boosted_device("auto") == "cpu"
    with pytest.raises(ValueError, match="CUDA is not available"):
        lightgbm_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kind", BOOSTED_KINDS)
def test_boosted_trees_train_on_the_gpu(kind, planted):
    panel, split = planted
    result = forecast_boosted(
        kind, panel, split, params=SMALL, param_grid={}, device="cuda", n_jobs=1
    )
    assert result.device == ("cuda" if kind == "xgboost" else lightgbm_device("cuda"))
    assert result.test_sharpe > PLANTED_SHARPE_BAR
