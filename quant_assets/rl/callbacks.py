"""SB3 callbacks that PPO training hangs on its loop: best checkpoint, reward curves, hooks.

Training runs SB3's own loop; whoever drives it (an asset logging to MLflow, an Optuna
objective) observes it through these small callbacks instead of copying the loop.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback, EvalCallback

__all__ = ["EpisodeRewards", "EvaluationRecorder", "KeepBestPolicy"]


class KeepBestPolicy(BaseCallback):
    """Keep a copy of the policy's weights each time the evaluation reward reaches a new best.

    Used as ``EvalCallback(callback_on_new_best=...)``; the checkpoint stays in memory.
    """

    def __init__(self) -> None:
        super().__init__()
        self.state: dict[str, Any] | None = None
        self.timesteps: int | None = None

    def _on_step(self) -> bool:
        self.state = copy.deepcopy(self.model.policy.state_dict())
        self.timesteps = int(self.model.num_timesteps)
        return True


class EvaluationRecorder(BaseCallback):
    """Record each evaluation of its parent ``EvalCallback`` and pass it to a hook.

    Used as (part of) ``EvalCallback(callback_after_eval=...)``. Each row holds ``timesteps``,
    ``mean_reward``, ``std_reward`` and ``mean_length`` of the evaluation episodes (the summed
    reward of each validation episode) and ``best_mean_reward`` so far.

    Parameters
    ----------
    on_evaluation : callable, optional
        Called with each row, e.g. to log it to MLflow; returning ``False`` stops training.
    """

    def __init__(self, on_evaluation: Callable[[dict[str, float]], bool | None] | None = None):
        super().__init__()
        self.on_evaluation = on_evaluation
        self.rows: list[dict[str, float]] = []

    def _on_step(self) -> bool:
        evaluator: EvalCallback = self.parent
        rewards = evaluator.evaluations_results[-1]
        lengths = evaluator.evaluations_length[-1]
        row = {
            "timesteps": int(evaluator.num_timesteps),
            "mean_reward": float(sum(rewards) / len(rewards)),
            "std_reward": float(_std(rewards)),
            "mean_length": float(sum(lengths) / len(lengths)),
            "best_mean_reward": float(evaluator.best_mean_reward),
        }
        self.rows.append(row)
        if self.on_evaluation is not None:
            return self.on_evaluation(row) is not False
        return True


class EpisodeRewards(BaseCallback):
    """Collect the training episodes' summed rewards and lengths (from ``VecMonitor`` infos).

    Parameters
    ----------
    on_episode : callable, optional
        Called with each row ``timesteps, episode_reward, episode_length``.
    """

    def __init__(self, on_episode: Callable[[dict[str, float]], None] | None = None) -> None:
        super().__init__()
        self.on_episode = on_episode
        self.rows: list[dict[str, float]] = []

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            episode = info.get("episode")
            if episode is None:
                continue
            row = {
                "timesteps": int(self.num_timesteps),
                "episode_reward": float(episode["r"]),
                "episode_length": int(episode["l"]),
            }
            self.rows.append(row)
            if self.on_episode is not None:
                self.on_episode(row)
        return True


def _std(values) -> float:
    n = len(values)
    mean = sum(values) / n
    return (sum((v - mean) ** 2 for v in values) / n) ** 0.5
