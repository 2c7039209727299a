"""Reinforcement-learning trader: a gymnasium environment over the factor panel, PPO, Optuna.

* :func:`trading_data` aligns a factor :class:`~quant_assets.models.Panel` with its prices and
  the backtest engine's costs;
* :class:`TradingEnv` (gymnasium) and :class:`BatchedTradingEnv` (SB3 ``VecEnv``) trade one
  ticker per episode, filling at the next open with the engine's own cost model;
* :func:`train_ppo` trains a stable-baselines3 PPO agent with an evaluation callback on the
  validation block, :func:`ppo_positions` turns its policy into ``date, ticker, position`` rows
  and :func:`train_walk_forward_ppo` runs both over walk-forward splits and seeds;
* :func:`tune_ppo` searches PPO's hyper-parameters with Optuna (TPE, pruning on evaluations).
"""

from __future__ import annotations

from quant_assets.rl.agent import (
    PPO_DEFAULTS,
    TrainedAgent,
    ppo_hyperparams,
    ppo_positions,
    train_ppo,
)
from quant_assets.rl.books import RewardSettings
from quant_assets.rl.callbacks import EpisodeRewards, EvaluationRecorder, KeepBestPolicy
from quant_assets.rl.data import TradingCosts, TradingData, trading_data
from quant_assets.rl.env import (
    DISCRETE_WEIGHTS,
    BatchedTradingEnv,
    EnvConfig,
    TradingEnv,
    target_weights,
)
from quant_assets.rl.tuning import (
    PruneOnEvaluation,
    TuningResult,
    best_hyperparams,
    default_storage_url,
    sample_ppo_params,
    stored_best_params,
    tune_ppo,
)
from quant_assets.rl.walk_forward import PPORun, PPOWalkForwardResult, train_walk_forward_ppo

__all__ = [
    "DISCRETE_WEIGHTS",
    "PPO_DEFAULTS",
    "BatchedTradingEnv",
    "EnvConfig",
    "EpisodeRewards",
    "EvaluationRecorder",
    "KeepBestPolicy",
    "PPORun",
    "PPOWalkForwardResult",
    "PruneOnEvaluation",
    "RewardSettings",
    "TradingCosts",
    "TradingData",
    "TradingEnv",
    "TrainedAgent",
    "TuningResult",
    "best_hyperparams",
    "default_storage_url",
    "ppo_hyperparams",
    "ppo_positions",
    "sample_ppo_params",
    "stored_best_params",
    "target_weights",
    "train_ppo",
    "train_walk_forward_ppo",
    "trading_data",
    "tune_ppo",
]
