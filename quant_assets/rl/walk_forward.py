"""Walk-forward PPO: per split and seed, a fresh agent; test positions averaged over seeds.

The splits are the supervised models' (:func:`quant_assets.models.walk_forward_splits`): the
feature scaler is fitted on each training block, agents train on random episodes inside it,
are evaluated on the validation block, and trade the test block.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from quant_assets.models.scaling import PanelStandardScaler
from quant_assets.models.splits import Split
from quant_assets.models.tensors import Panel
from quant_assets.rl.agent import TrainedAgent, ppo_positions, train_ppo
from quant_assets.rl.data import TradingCosts, trading_data
from quant_assets.rl.env import BatchedTradingEnv, EnvConfig

__all__ = ["PPORun", "PPOWalkForwardResult", "train_walk_forward_ppo"]


@dataclass
class PPORun:
    """One agent: a split and a seed, with its test-block positions and the feature scaler
    fitted on the split's training block (what rebuilds its observations later)."""

    split_index: int
    split: Split
    seed: int
    agent: TrainedAgent
    positions: pd.DataFrame
    scaler: PanelStandardScaler | None = None


@dataclass
class PPOWalkForwardResult:
    """Every run, and the test positions averaged over seeds, stitched across splits."""

    runs: list[PPORun]
    positions: pd.DataFrame


def train_walk_forward_ppo(
    panel: Panel,
    splits: Sequence[Split],
    *,
    closes: pd.DataFrame,
    opens: pd.DataFrame | None = None,
    volumes: pd.DataFrame | None = None,
    costs: TradingCosts | None = None,
    env_config: EnvConfig | None = None,
    seeds: int | Sequence[int] = 5,
    total_timesteps: int = 100_000,
    n_envs: int = 16,
    hyperparams: Mapping[str, Any] | None = None,
    device: str = "auto",
    on_run_end: Callable[[PPORun], None] | None = None,
    on_evaluation: Callable[[int, int, dict[str, float]], bool | None] | None = None,
) -> PPOWalkForwardResult:
    """Train PPO agents on every walk-forward split and every seed.

    Parameters
    ----------
    panel : Panel
        The factor panel the supervised models use.
    splits : sequence of Split
        Walk-forward splits; each embargo must cover the observation window.
    closes, opens, volumes : DataFrame
        Wide prices on the panel's axes (see :func:`~quant_assets.rl.data.trading_data`).
    costs : TradingCosts, optional
        The backtest's fees, slippage and impact.
    env_config : EnvConfig, optional
    seeds : int or sequence of int
        ``n`` means seeds ``0 .. n-1``.
    total_timesteps, n_envs, hyperparams, device
        Per agent, see :func:`~quant_assets.rl.agent.train_ppo`.
    on_run_end : callable, optional
        Called with each finished :class:`PPORun` (an asset logs one MLflow run per
        window and seed from it: ``run.agent.eval_curve``, ``run.agent.train_curve``).
    on_evaluation : callable, optional
        Called as ``on_evaluation(split_index, seed, row)`` after each validation evaluation.

    Returns
    -------
    PPOWalkForwardResult
        ``positions``: ``date, ticker, position``, the mean over seeds of each test cell.
    """
    config = env_config or EnvConfig()
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise ValueError("at least one seed is needed")
    runs, window_positions = [], []
    for index, split in enumerate(splits):
        if split.embargo < config.window:
            raise ValueError(
                f"embargo ({split.embargo}) must be at least the observation window "
                f"({config.window}) so validation observations share no dates with training"
            )
        data = trading_data(
            panel, closes, opens=opens, volumes=volumes, costs=costs, fit_positions=split.train
        )
        split_runs = []
        for seed in seed_list:
            hook = None
            if on_evaluation is not None:
                hook = _bound_hook(on_evaluation, index, seed)
            agent = train_ppo(
                BatchedTradingEnv(data, split.train, config, n_envs=n_envs, seed=seed),
                BatchedTradingEnv(data, split.validation, config, episodes="full_block"),
                seed=seed,
                total_timesteps=total_timesteps,
                device=device,
                hyperparams=hyperparams,
                on_evaluation=hook,
            )
            positions = (
                ppo_positions(agent, data, data.dates[split.test])
                if len(split.test)
                else _no_positions()
            )
            run = PPORun(index, split, seed, agent, positions, data.scaler)
            split_runs.append(run)
            if on_run_end is not None:
                on_run_end(run)
        runs.extend(split_runs)
        window_positions.append(_mean_over_seeds([r.positions for r in split_runs]))
    positions = (
        pd.concat(window_positions, ignore_index=True) if window_positions else _no_positions()
    )
    return PPOWalkForwardResult(runs=runs, positions=positions)


def _no_positions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.DatetimeIndex([]),
            "ticker": pd.Series([], dtype=object),
            "position": pd.Series([], dtype=float),
        }
    )


def _bound_hook(hook: Callable, index: int, seed: int) -> Callable[[dict[str, float]], Any]:
    return lambda row: hook(index, seed, row)


def _mean_over_seeds(frames: list[pd.DataFrame]) -> pd.DataFrame:
    stacked = pd.concat(frames, ignore_index=True)
    if stacked.empty:
        return stacked
    mean = stacked.groupby(["date", "ticker"], sort=True, observed=True)["position"].mean()
    return mean.reset_index()
