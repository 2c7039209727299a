from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.distributions import IntDistribution

from quant_assets.models.boosted import forecast_boosted
from quant_assets.models.hpo import (
    make_objective,
    make_pruner,
    run_study,
    search_space,
    sqlite_url,
    suggest_params,
)

SMALL_TREES = {"n_estimators": IntDistribution(10, 40)}


def _quadratic(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5.0, 5.0)
    for step in range(3):
        trial.report(-((x - 1.0) ** 2), step)
    return -((x - 1.0) ** 2)


def test_a_study_runs_in_memory_and_finds_the_optimum():
    best = run_study(_quadratic, study_name="quadratic", n_trials=30, seed=0, pruner="none")
    assert best.storage_url is None
    assert best.n_trials == best.n_complete == 30
    assert abs(best.params["x"] - 1.0) < 0.5
    again = run_study(_quadratic, study_name="quadratic", n_trials=30, seed=0, pruner="none")
    assert again.params == best.params  # seeded TPE


def test_a_sqlite_study_persists_and_resumes(tmp_path):
    url = sqlite_url(tmp_path / "hpo.db")
    first = run_study(_quadratic, study_name="persisted", storage_url=url, n_trials=5)
    reopened = optuna.load_study(study_name="persisted", storage=url).trials
    assert len(reopened) == 5
    assert max(t.value for t in reopened) == pytest.approx(first.value)
    assert reopened[first.best_trial].params == first.params
    resumed = run_study(_quadratic, study_name="persisted", storage_url=url, n_trials=3)
    assert resumed.n_trials == 8
    kept = optuna.load_study(study_name="persisted", storage=url).trials
    assert [(t.params, t.value) for t in kept[:5]] == [(t.params, t.value) for t in reopened]


@pytest.mark.parametrize("pruner", ["median", "hyperband"])
def test_a_trial_reporting_a_bad_value_is_pruned(pruner):
    def objective(trial: optuna.Trial) -> float:
        bad = trial.number >= 4
        for step in range(4):
            trial.report(-100.0 if bad else 1.0 + 0.01 * trial.number, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return 1.0

    seen = []
    best = run_study(
        objective,
        study_name=f"pruned-{pruner}",
        n_trials=8,
        pruner=pruner,
        max_steps=4,
        callbacks=[lambda study, trial: seen.append((trial.number, trial.state))],
    )
    # the four good trials complete, every bad one is pruned
    assert [state.name for _, state in seen] == ["COMPLETE"] * 4 + ["PRUNED"] * 4
    assert best.n_pruned == 4 and best.n_complete == 4
    assert [number for number, _ in seen] == list(range(8))  # the callback sees every trial


def test_search_spaces_cover_every_kind_and_unknown_kinds_are_rejected():
    for kind in ("ridge", "random_forest", "hist_gradient_boosting", "lightgbm", "xgboost"):
        assert search_space(kind)
    assert {"hidden_size", "learning_rate", "l1", "cost_bps"} <= set(search_space("lstm"))
    assert {"num_leaves", "learning_rate", "n_estimators", "subsample"} <= set(
        search_space("lightgbm")
    )
    with pytest.raises(ValueError, match="no search space"):
        search_space("svm")
    with pytest.raises(ValueError, match="pruner"):
        make_pruner("random")
    with pytest.raises(ValueError, match="budget"):
        run_study(_quadratic, study_name="x", n_trials=None, timeout_s=None)


def test_suggestions_stay_inside_the_space():
    space = search_space("xgboost")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        params = suggest_params(study.ask(), space)
        for name, dist in space.items():
            assert dist.low <= params[name] <= dist.high


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost"])
def test_best_params_of_a_tree_model_on_a_real_panel_feed_the_forecaster(
    kind, sp500_panel, sp500_split
):
    space = search_space(kind) | SMALL_TREES
    objective = make_objective(kind, sp500_panel, sp500_split, n_folds=3, n_jobs=1, space=space)
    trials = []
    best = run_study(
        objective,
        study_name=kind,
        n_trials=4,
        pruner="none",
        callbacks=[lambda study, trial: trials.append(trial)],
    )
    assert set(best.params) == set(space)
    assert np.isfinite(best.value)
    assert best.value == max(t.value for t in trials)
    folds = trials[best.best_trial].user_attrs["fold_scores"]
    assert len(folds) == 3 and best.value == pytest.approx(np.mean(folds))
    assert [sorted(t.intermediate_values) for t in trials] == [[0, 1, 2]] * 4
    result = forecast_boosted(
        kind, sp500_panel, sp500_split, params=best.params, param_grid={}, n_jobs=1
    )
    assert result.best_iteration <= best.params["n_estimators"]
    assert np.isfinite(result.val_sharpe)


def test_the_forecaster_objective_never_reads_validation_or_test(sp500_panel, sp500_split):
    import dataclasses

    objective = make_objective(
        "ridge", sp500_panel, sp500_split, n_folds=3, space=search_space("ridge")
    )
    returns = sp500_panel.next_returns.copy()
    later = np.concatenate([sp500_split.validation, sp500_split.test])
    returns[later] = -returns[later]
    flipped = dataclasses.replace(sp500_panel, next_returns=returns)
    objective_flipped = make_objective(
        "ridge", flipped, sp500_split, n_folds=3, space=search_space("ridge")
    )
    a = run_study(objective, study_name="a", n_trials=3, pruner="none")
    b = run_study(objective_flipped, study_name="b", n_trials=3, pruner="none")
    assert a.params == b.params and a.value == pytest.approx(b.value)


def test_a_network_objective_trains_on_purged_walk_forward_folds(sp500_panel, sp500_split):
    from quant_assets.models import TrainConfig

    base = TrainConfig(
        sequence_length=5, stride=5, max_epochs=1, patience=1, device="cpu", eval_stride=5
    )
    space = {"hidden_size": search_space("mlp")["hidden_size"]}
    objective = make_objective(
        "mlp", sp500_panel, sp500_split, n_folds=2, space=space, train_config=base
    )
    trials = []
    best = run_study(
        objective,
        study_name="mlp",
        n_trials=1,
        pruner="none",
        callbacks=[lambda study, trial: trials.append(trial)],
    )
    assert best.params["hidden_size"] in (8, 16, 32, 64)
    assert np.isfinite(best.value)
    assert sorted(trials[0].intermediate_values) == [0, 1]
