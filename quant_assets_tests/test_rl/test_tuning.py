"""Optuna tuning of PPO: TPE trials in memory, pruning of a trial whose reward lags."""

from __future__ import annotations

import optuna
import pytest

from quant_assets.rl import BatchedTradingEnv, EnvConfig, best_hyperparams, tune_ppo
from quant_assets_tests.test_rl.planted import TRAIN, VALIDATION, planted_data

CONFIG = EnvConfig(window=1, episode_length=64)
FIXED = {"net_arch": (16, 16), "n_steps": 64, "batch_size": 128, "n_epochs": 4}


def _search_space(trial: optuna.Trial) -> dict:
    return {"learning_rate": trial.suggest_float("learning_rate", 1e-7, 1e-2, log=True)}


@pytest.fixture(scope="module")
def make_envs():
    _, _, data = planted_data()

    def envs(seed: int):
        return (
            BatchedTradingEnv(data, TRAIN, CONFIG, n_envs=8, seed=seed),
            BatchedTradingEnv(data, VALIDATION, CONFIG, episodes="full_block"),
        )

    return envs


def test_a_trial_whose_reward_lags_is_pruned_and_the_best_params_come_back(make_envs):
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name="ppo_test", storage=storage, direction="maximize")
    # two learning trials, then one that barely moves its weights: its evaluation rewards stay
    # at the untrained policy's while the others' rise, so the median pruner stops it
    for rate in (3e-3, 2e-3, 1e-7):
        study.enqueue_trial({"learning_rate": rate})
    result = tune_ppo(
        make_envs,
        n_trials=3,
        total_timesteps=3072,
        storage=storage,
        study_name="ppo_test",
        device="cpu",
        search_space=_search_space,
        fixed_params=FIXED,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2),
    )
    states = [t.state for t in result.study.trials]
    assert states == [
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
    ]
    pruned = result.study.trials[2]
    assert max(pruned.intermediate_values) < 5  # stopped before its last evaluation (step 5)
    assert all(max(t.intermediate_values) == 5 for t in result.study.trials[:2])
    assert result.pruned_trials == 1
    assert result.best_value == max(t.value for t in result.study.trials[:2])
    assert result.best_params == {
        **FIXED,
        "learning_rate": result.study.best_params["learning_rate"],
    }
    assert isinstance(result.study.sampler, optuna.samplers.TPESampler)


def test_a_sampled_width_becomes_the_network_architecture():
    assert best_hyperparams({"net_width": 32, "gamma": 0.95}) == {
        "gamma": 0.95,
        "net_arch": (32, 32),
    }


def test_a_study_on_a_sqlite_url_resumes(make_envs, tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    kwargs = {
        "n_trials": 1,
        "total_timesteps": 512,
        "storage": url,
        "device": "cpu",
        "search_space": _search_space,
        "fixed_params": FIXED,
    }
    tune_ppo(make_envs, **kwargs)
    result = tune_ppo(make_envs, **kwargs)
    assert len(result.study.trials) == 2
