from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from quant_assets.models.ensemble import (
    build_ensemble,
    choose_members,
    combine_positions,
    forecaster_members,
)
from quant_assets.models.evaluation import positions_frame
from quant_assets_tests.test_models.planted_signal import (
    PLANTED_SHARPE_BAR,
    planted_signal_panel,
    planted_split,
)

TREES = {"param_grid": {"n_estimators": [100], "learning_rate": [0.1]}}
KINDS = ("ridge", "lightgbm", "xgboost")


@pytest.fixture(scope="module")
def planted():
    return planted_signal_panel(), planted_split()


def _with_test_returns_scrambled(panel, split, seed=1):
    rng = np.random.default_rng(seed)
    next_returns = panel.next_returns.copy()
    rows = split.test[:-1]  # the last date has no next close
    next_returns[rows] = rng.permutation(next_returns[rows].ravel()).reshape(-1, len(panel.tickers))
    return dataclasses.replace(panel, next_returns=next_returns)


def test_members_are_ranked_by_validation_sharpe_only():
    sharpes = {"a": 1.0, "b": 2.0, "c": float("nan"), "d": 2.0, "e": -1.0}
    assert choose_members(sharpes, 2) == ["b", "d"]
    assert choose_members(sharpes, 10) == ["b", "d", "a", "e"]
    with pytest.raises(ValueError):
        choose_members({"c": float("nan")}, 1)


def test_weighted_positions_renormalise_over_the_members_present(planted):
    panel, _ = planted
    dates = np.array([0, 1])
    a = positions_frame(np.array([[1.0, 1.0], [1.0, np.nan]]), panel, dates)
    b = positions_frame(np.array([[-1.0, np.nan], [0.0, np.nan]]), panel, dates)
    combined = combine_positions(panel, {"a": a, "b": b}, {"a": 0.75, "b": 0.25})
    got = combined.set_index(["date", "ticker"])["position"]
    d0, d1 = panel.dates[:2]
    assert got[(d0, "T0")] == pytest.approx(0.75 - 0.25)
    assert got[(d0, "T1")] == 1.0  # only a holds it
    assert got[(d1, "T0")] == pytest.approx(0.75)
    assert len(got) == 3  # no member holds (d1, T1)


def test_a_member_perfect_on_test_but_poor_on_validation_is_never_chosen(planted):
    panel, split = planted
    rng = np.random.default_rng(0)
    every = np.arange(len(panel.dates))
    planted_sign = np.sign(panel.features[:, 0, :].astype(np.float64))
    oracle = rng.choice([-1.0, 1.0], size=planted_sign.shape)  # noise on validation...
    oracle[split.test] = np.sign(panel.next_returns[split.test])  # ...clairvoyant on test
    members = {
        "oracle": positions_frame(np.nan_to_num(oracle), panel, every),
        "planted": positions_frame(planted_sign, panel, every),
        "noise": positions_frame(rng.choice([-1.0, 1.0], size=planted_sign.shape), panel, every),
    }
    result = build_ensemble(panel, split, members, k=1)
    assert result.members == ["planted"]
    assert result.member_val_sharpes["planted"] > PLANTED_SHARPE_BAR


@pytest.mark.parametrize("method", ["average", "stacked"])
def test_ensemble_of_forecasters_on_the_planted_panel(method, planted):
    panel, split = planted
    settings = {"lightgbm": TREES, "xgboost": TREES}
    members = forecaster_members(panel, split, KINDS, settings=settings, n_jobs=1)
    result = build_ensemble(panel, split, members, k=2, method=method)
    # (a) planted signal: far above zero out of sample (no skill: 0 +- 1.2)
    assert result.test_sharpe > PLANTED_SHARPE_BAR
    assert len(result.members) == 2 and set(result.members) <= set(KINDS)
    assert sum(result.weights.values()) == pytest.approx(1.0)
    assert result.positions["position"].abs().max() <= 1.0
    test_dates = panel.dates[split.test]
    assert result.positions["date"].between(test_dates[0], test_dates[-1]).all()
    if method == "stacked":
        # (b) fitting the stack improves on holding nothing, on validation
        assert result.stack_loss < result.init_loss
        assert all(w >= 0 for w in result.weights.values())

    # the choice ignores test data: scramble test-period returns, retrain, same choice
    scrambled = _with_test_returns_scrambled(panel, split)
    members_again = forecaster_members(scrambled, split, KINDS, settings=settings, n_jobs=1)
    again = build_ensemble(scrambled, split, members_again, k=2, method=method)
    assert again.members == result.members
    assert again.weights == pytest.approx(result.weights)
    pd.testing.assert_frame_equal(again.positions, result.positions)
    assert again.test_sharpe != pytest.approx(result.test_sharpe)  # the scramble did bite


def test_unknown_method_is_rejected(planted):
    panel, split = planted
    with pytest.raises(ValueError, match="method"):
        build_ensemble(panel, split, {}, method="vote")
