"""Optuna tuning of PPO: TPE sampling, pruning on the validation reward during training.

The objective trains one agent per trial with :func:`~quant_assets.rl.agent.train_ppo`; a
:class:`PruneOnEvaluation` callback reports each validation evaluation to the trial
(``trial.report``) and stops training when the pruner says so. Storage, sampler and pruner are
passed in, so the same objective runs in memory in a test and on a shared database in production.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from stable_baselines3.common.callbacks import BaseCallback

from quant_assets.paths import data_dir
from quant_assets.rl.agent import train_ppo
from quant_assets.rl.env import BatchedTradingEnv

__all__ = [
    "PruneOnEvaluation",
    "TuningResult",
    "best_hyperparams",
    "default_storage_url",
    "sample_ppo_params",
    "tune_ppo",
]


class PruneOnEvaluation(BaseCallback):
    """Report each evaluation reward to an Optuna trial; stop training when it should be pruned.

    Used as an ``eval_callbacks`` entry of :func:`train_ppo` (its ``parent`` is the
    ``EvalCallback``). The step of a report is the evaluation's number (0, 1, ...).
    """

    def __init__(self, trial: optuna.Trial) -> None:
        super().__init__()
        self.trial = trial
        self.evaluations = 0
        self.pruned = False

    def _on_step(self) -> bool:
        self.trial.report(float(self.parent.last_mean_reward), self.evaluations)
        self.evaluations += 1
        if self.trial.should_prune():
            self.pruned = True
            return False
        return True


def sample_ppo_params(trial: optuna.Trial) -> dict[str, Any]:
    """The default search space: learning rate, rollout, discount, clipping, entropy, width."""
    width = trial.suggest_categorical("net_width", [32, 64, 128])
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 3e-3, log=True),
        "n_steps": trial.suggest_categorical("n_steps", [64, 128, 256]),
        "gamma": trial.suggest_float("gamma", 0.9, 0.999),
        "gae_lambda": trial.suggest_float("gae_lambda", 0.8, 1.0),
        "clip_range": trial.suggest_float("clip_range", 0.1, 0.3),
        "ent_coef": trial.suggest_float("ent_coef", 1e-8, 1e-2, log=True),
        "n_epochs": trial.suggest_int("n_epochs", 2, 10),
        "net_arch": (width, width),
    }


def default_storage_url() -> str:
    """``sqlite:///<data>/optuna/optuna.db`` (the directory is created)."""
    folder = data_dir() / "optuna"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'optuna.db').resolve()}"


@dataclass
class TuningResult:
    """The study and its best trial's PPO hyper-parameters (ready for ``train_ppo``)."""

    study: optuna.Study
    best_params: dict[str, Any]
    best_value: float
    pruned_trials: int


def tune_ppo(
    make_envs: Callable[[int], tuple[BatchedTradingEnv, BatchedTradingEnv]],
    *,
    n_trials: int,
    total_timesteps: int,
    storage: str | optuna.storages.BaseStorage | None = None,
    study_name: str = "ppo",
    seed: int = 0,
    device: str = "auto",
    search_space: Callable[[optuna.Trial], dict[str, Any]] = sample_ppo_params,
    fixed_params: Mapping[str, Any] | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    eval_every: int | None = None,
    timeout: float | None = None,
) -> TuningResult:
    """Tune PPO hyper-parameters by the best validation reward of each trial's agent.

    Parameters
    ----------
    make_envs : callable
        ``make_envs(seed) -> (train_env, eval_env)``: fresh environments for one trial.
    n_trials : int
    total_timesteps : int
        Per trial (pruned trials stop earlier).
    storage : str or optuna storage, optional
        A database URL (default :func:`default_storage_url`, SQLite under the data directory),
        or a storage object such as ``optuna.storages.InMemoryStorage()``.
    study_name : str
        Re-running with the same storage and name resumes the study.
    seed : int
        Seeds the TPE sampler and every trial's agent.
    device : str
    search_space : callable
        ``trial -> hyperparams`` (default :func:`sample_ppo_params`).
    fixed_params : mapping, optional
        Hyper-parameters held fixed, under those sampled.
    pruner : optuna pruner, optional
        Default ``MedianPruner(n_startup_trials=2, n_warmup_steps=1)``.
    eval_every : int, optional
        Timesteps between evaluations (each is a pruning report).
    timeout : float, optional
        Seconds for the whole study.

    Returns
    -------
    TuningResult
    """
    study = optuna.create_study(
        study_name=study_name,
        storage=storage if storage is not None else default_storage_url(),
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruner or optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
        direction="maximize",
        load_if_exists=True,
    )

    def objective(trial: optuna.Trial) -> float:
        params = {**(fixed_params or {}), **search_space(trial)}
        train_env, eval_env = make_envs(seed)
        pruning = PruneOnEvaluation(trial)
        agent = train_ppo(
            train_env,
            eval_env,
            seed=seed,
            total_timesteps=total_timesteps,
            device=device,
            hyperparams=params,
            eval_callbacks=[pruning],
            eval_every=eval_every,
        )
        if pruning.pruned:
            raise optuna.TrialPruned(f"pruned after {pruning.evaluations} evaluations")
        return agent.best_mean_reward

    study.optimize(objective, n_trials=n_trials, timeout=timeout)
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not finished:
        raise RuntimeError("no trial completed: every trial was pruned or failed")
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    return TuningResult(
        study=study,
        best_params={**(fixed_params or {}), **best_hyperparams(study.best_trial.params)},
        best_value=float(study.best_value),
        pruned_trials=int(pruned),
    )


def best_hyperparams(params: Mapping[str, Any]) -> dict[str, Any]:
    """Trial parameters as PPO hyper-parameters (``net_width`` becomes ``net_arch``)."""
    result = dict(params)
    width = result.pop("net_width", None)
    if width is not None:
        result["net_arch"] = (width, width)
    return result


def stored_best_params(storage: str, study_name: str = "ppo") -> dict[str, Any] | None:
    """The best completed trial's PPO hyper-parameters of a stored study; None without one.

    What :func:`tune_ppo` left in ``storage`` (a database URL) under ``study_name``, ready for
    ``train_ppo`` (see :func:`best_hyperparams`); None when the study or a completed trial is
    missing, so a training falls back to :data:`~quant_assets.rl.agent.PPO_DEFAULTS`.
    """
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return None
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not finished:
        return None
    return best_hyperparams(study.best_trial.params)
