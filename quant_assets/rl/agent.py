"""PPO agents (stable-baselines3) trained on the trading environment, and their positions.

:func:`train_ppo` trains one agent with an evaluation on the validation block after every
``eval_every`` timesteps; the policy of the best evaluation is restored at the end (kept in
memory). :func:`ppo_positions` runs the deterministic policy over a date block for every ticker
at once and returns positions in the supervised models' long form.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback
from stable_baselines3.common.vec_env import VecEnv, VecMonitor

from quant_assets.models.device import resolve_device
from quant_assets.models.evaluation import positions_frame
from quant_assets.rl.books import Books
from quant_assets.rl.callbacks import EpisodeRewards, EvaluationRecorder, KeepBestPolicy
from quant_assets.rl.data import TradingData
from quant_assets.rl.env import BatchedTradingEnv, EnvConfig, target_weights

__all__ = ["PPO_DEFAULTS", "TrainedAgent", "ppo_hyperparams", "ppo_positions", "train_ppo"]

# A small network and short rollouts: daily bars give little data per window. ``n_steps`` is
# per environment, so a rollout holds ``n_steps * n_envs`` transitions.
PPO_DEFAULTS: dict[str, Any] = {
    "learning_rate": 3e-4,
    "n_steps": 128,
    "batch_size": 256,
    "n_epochs": 4,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "clip_range": 0.2,
    "ent_coef": 0.0,
    "vf_coef": 0.5,
    "max_grad_norm": 0.5,
    "net_arch": (64, 64),
}


@dataclass
class TrainedAgent:
    """A trained PPO agent with its reward curves.

    Attributes
    ----------
    model : stable_baselines3.PPO
        The agent, with the policy of its best validation evaluation restored.
    env_config : EnvConfig
        The environment it was trained on (window, action kind): positions need the same.
    seed : int
    hyperparams : dict
        The PPO settings used (:data:`PPO_DEFAULTS` updated by the caller's).
    eval_curve : DataFrame
        One row per validation evaluation: ``timesteps, mean_reward, std_reward, mean_length,
        best_mean_reward`` (rewards are per-episode sums of step rewards).
    train_curve : DataFrame
        One row per finished training episode: ``timesteps, episode_reward, episode_length``.
    best_mean_reward : float
        Validation reward of the restored policy.
    best_timesteps : int
        Timesteps trained when that policy was evaluated.
    timesteps : int
        Timesteps trained in all.
    stopped_early : bool
        A callback stopped training before ``total_timesteps`` (e.g. an Optuna pruner).
    train_seconds : float
    device : str
    """

    model: PPO
    env_config: EnvConfig
    seed: int
    hyperparams: dict[str, Any]
    eval_curve: pd.DataFrame
    train_curve: pd.DataFrame
    best_mean_reward: float
    best_timesteps: int
    timesteps: int
    stopped_early: bool
    train_seconds: float
    device: str = field(default="cpu")


def ppo_hyperparams(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """:data:`PPO_DEFAULTS` updated by ``overrides``; unknown names are an error."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(PPO_DEFAULTS)
    if unknown:
        raise ValueError(
            f"unknown PPO hyper-parameters {sorted(unknown)}; known: {list(PPO_DEFAULTS)}"
        )
    return {**PPO_DEFAULTS, **overrides}


def train_ppo(
    train_env: BatchedTradingEnv,
    eval_env: BatchedTradingEnv,
    *,
    seed: int,
    total_timesteps: int,
    device: str = "auto",
    hyperparams: Mapping[str, Any] | None = None,
    callbacks: Sequence[BaseCallback] = (),
    eval_callbacks: Sequence[BaseCallback] = (),
    on_evaluation: Callable[[dict[str, float]], bool | None] | None = None,
    on_episode: Callable[[dict[str, float]], None] | None = None,
    eval_every: int | None = None,
) -> TrainedAgent:
    """Train a PPO agent on ``train_env``, keeping the policy that scores best on ``eval_env``.

    Parameters
    ----------
    train_env : BatchedTradingEnv
        Training episodes (``episodes="random"`` on the training block).
    eval_env : BatchedTradingEnv
        Validation episodes (``episodes="full_block"`` on the validation block): every ticker
        once per evaluation, deterministic policy.
    seed : int
        Seeds torch, numpy and the episode draws.
    total_timesteps : int
        Environment steps to train (summed over the training envs).
    device : str
        ``"auto"`` (GPU where present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    hyperparams : mapping, optional
        Overrides of :data:`PPO_DEFAULTS`.
    callbacks : sequence of BaseCallback
        Extra SB3 callbacks called at every training step.
    eval_callbacks : sequence of BaseCallback
        SB3 callbacks called after every evaluation (their ``parent`` is the ``EvalCallback``:
        ``parent.last_mean_reward``); one returning ``False`` stops training.
    on_evaluation : callable, optional
        Called with each evaluation row (see :class:`EvaluationRecorder`), e.g. to log the
        validation reward curve to MLflow; returning ``False`` stops training.
    on_episode : callable, optional
        Called with each finished training episode ``timesteps, episode_reward, episode_length``.
    eval_every : int, optional
        Timesteps between evaluations (default: one rollout, ``n_steps * n_envs``).

    Returns
    -------
    TrainedAgent
    """
    if total_timesteps < 1:
        raise ValueError("total_timesteps must be positive")
    params = ppo_hyperparams(hyperparams)
    torch_device = resolve_device(device)
    monitored_train, monitored_eval = VecMonitor(train_env), _monitored(eval_env)
    model = _new_model(monitored_train, params, seed, str(torch_device))
    rollout = params["n_steps"] * train_env.num_envs
    keep_best = KeepBestPolicy()
    recorder = EvaluationRecorder(on_evaluation)
    episodes = EpisodeRewards(on_episode)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ppo_eval_") as log_dir:
        evaluator = EvalCallback(
            monitored_eval,
            callback_on_new_best=keep_best,
            callback_after_eval=CallbackList([recorder, *eval_callbacks]),
            n_eval_episodes=_episodes_per_evaluation(eval_env),
            eval_freq=max((eval_every or rollout) // train_env.num_envs, 1),
            log_path=log_dir,
            deterministic=True,
            verbose=0,
            warn=False,
        )
        model.learn(total_timesteps, callback=CallbackList([episodes, evaluator, *callbacks]))
        stopped_early = model.num_timesteps < total_timesteps
        if not recorder.rows and not stopped_early:
            _evaluate_now(evaluator)
    if keep_best.state is not None:
        model.policy.load_state_dict(keep_best.state)
    return TrainedAgent(
        model=model,
        env_config=train_env.config,
        seed=seed,
        hyperparams=params,
        eval_curve=pd.DataFrame(recorder.rows, columns=_EVAL_COLUMNS),
        train_curve=pd.DataFrame(episodes.rows, columns=_TRAIN_COLUMNS),
        best_mean_reward=float(evaluator.best_mean_reward),
        best_timesteps=int(keep_best.timesteps or 0),
        timesteps=int(model.num_timesteps),
        stopped_early=stopped_early,
        train_seconds=time.perf_counter() - started,
        device=str(torch_device),
    )


_EVAL_COLUMNS = ["timesteps", "mean_reward", "std_reward", "mean_length", "best_mean_reward"]
_TRAIN_COLUMNS = ["timesteps", "episode_reward", "episode_length"]


def _new_model(env: VecEnv, params: dict[str, Any], seed: int, device: str) -> PPO:
    ppo_args = {k: v for k, v in params.items() if k != "net_arch"}
    return PPO(
        "MlpPolicy",
        env,
        seed=seed,
        device=device,
        policy_kwargs={"net_arch": list(params["net_arch"])},
        verbose=0,
        **ppo_args,
    )


def _monitored(env: VecEnv) -> VecEnv:
    return env if isinstance(env, VecMonitor) else VecMonitor(env)


def _episodes_per_evaluation(env: BatchedTradingEnv) -> int:
    """Full blocks: every ticker once; random episodes: one per env."""
    return env.episode_count_per_pass


def _evaluate_now(evaluator: EvalCallback) -> None:
    """Run the evaluation once more at the end (training shorter than ``eval_every``)."""
    evaluator.eval_freq = 1
    evaluator.on_step()


def ppo_positions(
    agent: TrainedAgent,
    data: TradingData,
    dates: pd.DatetimeIndex | None = None,
    *,
    tickers: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Target weights of the agent's deterministic policy on ``dates``, every ticker at once.

    Each ticker's book starts flat on the first date and follows the agent's own orders (filled
    at the next open with the data's costs), so the held weight and cash share it observes are
    those its positions would have produced. The position on ``date`` is decided at its close
    from factors known then; it fills at the next open (replay it through ``run_backtest`` with
    ``execution="next_open"``). Cells where no order can be decided (no factors or no close)
    are left out.

    Parameters
    ----------
    agent : TrainedAgent
    data : TradingData
        Factors and prices (scaled with the agent's training statistics).
    dates : DatetimeIndex, optional
        One contiguous block of the data's dates (default: all).
    tickers : sequence of str, optional
        Default: all of the data's tickers.

    Returns
    -------
    DataFrame
        Columns ``date, ticker, position`` with positions in ``[-1, 1]``, the supervised
        models' long form.
    """
    config = agent.env_config
    block = data.date_positions(dates)
    if len(block) == 0 or not np.array_equal(block, np.arange(block[0], block[-1] + 1)):
        raise ValueError("dates must be one non-empty contiguous block of the data's dates")
    columns = (
        np.arange(len(data.tickers))
        if tickers is None
        else data.tickers.get_indexer(pd.Index([str(t) for t in tickers]))
    )
    if (columns < 0).any():
        raise KeyError("some tickers are not in the data")
    held = _roll_out(agent.model, config, data, block, columns)
    frame = positions_frame(held, _Axes(data.dates, data.tickers[columns]), block)
    return frame


@dataclass(frozen=True)
class _Axes:
    dates: pd.DatetimeIndex
    tickers: pd.Index


def _roll_out(
    model: PPO, config: EnvConfig, data: TradingData, block: np.ndarray, columns: np.ndarray
) -> np.ndarray:
    """``[D, N]`` targets of the policy, NaN where no decision; books stepped date by date."""
    n = len(columns)
    books = Books(data, n, config.reward)
    books.start(np.arange(n), columns, np.full(n, block[0]), np.full(n, block[-1]))
    obs = np.zeros((n, config.window * data.n_factors + 2), dtype=np.float32)
    targets = np.full((len(block), n), np.nan)
    # Sequential in time by nature: each decision depends on the book the last one left.
    for k, t in enumerate(block):
        books.observe(config.window, config.obs_clip, obs)
        actions, _ = model.predict(obs, deterministic=True)
        weights = target_weights(config, actions)
        targets[k] = np.where(data.decision_mask[t, columns], weights, np.nan)
        if k + 1 < len(block):
            books.step(weights)
    return targets
