"""Gymnasium and SB3-vectorised trading environments over a factor panel.

An episode trades one ticker of a :class:`~quant_assets.rl.data.TradingData` on a contiguous
block of dates (a split's train, validation or test block), starting flat with
``costs.initial_cash``. At each step the agent sees, at the close of ``t``:

* ``window`` vectors of standardised factors, dates ``t - window + 1 .. t`` (zeros before the
  first date of the data), flattened date-major;
* its held weight (position value over equity at the last close) and its cash share (cash over
  equity), clipped to ``+-obs_clip``.

Its action is a target weight (discrete: 0 short, 1 flat, 2 long; continuous: a weight in
``[-1, 1]``), filled at the open of ``t + 1`` with the backtest engine's cost model (see
:mod:`quant_assets.rl.books` for the fill and the reward). On dates without factors or a close
no order is placed, as a NaN weight means in the engine. Episodes are either ``"random"``
(a random ticker and start, ``episode_length`` steps, for training) or ``"full_block"`` (each
ticker over the whole block in turn, for evaluation and positions).

:class:`TradingEnv` is the single ``gymnasium.Env``; :class:`BatchedTradingEnv` implements SB3's
``VecEnv`` over ``n`` books stepped together in one compiled loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import gymnasium
import numpy as np
import pandas as pd
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv

from quant_assets.rl.books import Books, RewardSettings, StepOutcome
from quant_assets.rl.data import TradingData

__all__ = [
    "DISCRETE_WEIGHTS",
    "BatchedTradingEnv",
    "EnvConfig",
    "TradingEnv",
    "target_weights",
]

# Discrete actions 0, 1, 2 are these target weights: short, flat, long.
DISCRETE_WEIGHTS = np.array([-1.0, 0.0, 1.0])
EpisodeMode = Literal["random", "full_block"]


@dataclass(frozen=True)
class EnvConfig:
    """What the agent sees and does, and how it is rewarded.

    Parameters
    ----------
    window : int
        Dates of factor history in an observation.
    episode_length : int
        Steps of a ``"random"`` episode (cut to the block's length).
    action : {"discrete", "continuous"}
        Short/flat/long, or a target weight in ``[-1, 1]``.
    reward : RewardSettings
        Drawdown and turnover penalties and the reward clip.
    obs_clip : float
        Bound on the held weight and cash share in observations.
    """

    window: int = 20
    episode_length: int = 252
    action: Literal["discrete", "continuous"] = "discrete"
    reward: RewardSettings = field(default_factory=RewardSettings)
    obs_clip: float = 5.0

    def __post_init__(self) -> None:
        if self.window < 1 or self.episode_length < 1:
            raise ValueError("window and episode_length must be at least 1")
        if self.action not in ("discrete", "continuous"):
            raise ValueError(f"action must be 'discrete' or 'continuous', got {self.action!r}")

    def observation_space(self, data: TradingData) -> spaces.Box:
        size = self.window * data.n_factors + 2
        bound = np.float32(max(self.obs_clip, data.feature_clip))
        return spaces.Box(-bound, bound, shape=(size,), dtype=np.float32)

    def action_space(self) -> spaces.Space:
        if self.action == "discrete":
            return spaces.Discrete(len(DISCRETE_WEIGHTS))
        return spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)


def target_weights(config: EnvConfig, actions: np.ndarray) -> np.ndarray:
    """Target weights (float64, one per env) of a batch of actions."""
    actions = np.asarray(actions)
    if config.action == "discrete":
        return DISCRETE_WEIGHTS[actions.reshape(-1).astype(np.int64)]
    return np.clip(actions.reshape(len(actions), -1)[:, 0].astype(np.float64), -1.0, 1.0)


class _Episodes:
    """Where episodes run: random (ticker, start) draws or whole blocks ticker by ticker."""

    def __init__(
        self,
        data: TradingData,
        positions: np.ndarray,
        config: EnvConfig,
        mode: EpisodeMode,
        tickers: Sequence[str] | None,
    ) -> None:
        block = np.asarray(positions, dtype=np.int64)
        if len(block) < 2 or not np.array_equal(block, np.arange(block[0], block[-1] + 1)):
            raise ValueError("positions must be one contiguous block of at least 2 dates")
        if block[-1] >= len(data.dates):
            raise ValueError("positions lie beyond the data's dates")
        if mode not in ("random", "full_block"):
            raise ValueError(f"episodes must be 'random' or 'full_block', got {mode!r}")
        self.mode = mode
        self.first, self.last = int(block[0]), int(block[-1])
        self.length = min(config.episode_length, self.last - self.first)
        columns = self._columns(data, tickers)
        decidable = data.decision_mask[self.first : self.last, columns]
        if mode == "random":
            # a start needs a decision on its own date and `length` dates after it in the block
            usable = decidable[: self.last - self.first - self.length + 1]
            t, c = np.nonzero(usable)
            self.starts, self.tickers = t + self.first, columns[c]
        else:
            self.tickers = columns[decidable.any(axis=0)]
            self.starts = np.full(len(self.tickers), self.first)
        if len(self.tickers) == 0:
            raise ValueError("no ticker has a decidable date in the block: no episode can run")
        self._names = data.tickers

    @staticmethod
    def _columns(data: TradingData, tickers: Sequence[str] | None) -> np.ndarray:
        if tickers is None:
            return np.arange(len(data.tickers))
        columns = data.tickers.get_indexer(pd.Index([str(t) for t in tickers]))
        if (columns < 0).any():
            raise KeyError("some tickers are not in the data")
        return columns

    def draw(self, rng: np.random.Generator, k: int, counters: np.ndarray) -> tuple:
        """``k`` episodes ``(tickers, starts, ends)``; full blocks advance ``counters``."""
        if self.mode == "random":
            pick = rng.integers(len(self.tickers), size=k)
            starts = self.starts[pick]
            return self.tickers[pick], starts, starts + self.length
        pick = counters % len(self.tickers)
        ends = np.full(k, self.last)
        return self.tickers[pick], self.starts[pick], ends

    def pinned(self, options: dict[str, Any]) -> tuple[int, int, int]:
        """The episode an ``options`` dict names: ``ticker`` (name) and ``start`` (position)."""
        column = int(self._columns_named(options["ticker"]))
        start = int(options.get("start", self.first))
        if not self.first <= start < self.last:
            raise ValueError(f"start {start} is not a decision date of the block")
        end = self.last if self.mode == "full_block" else min(start + self.length, self.last)
        return column, start, end

    def _columns_named(self, ticker: str) -> int:
        column = self._names.get_loc(str(ticker))
        return int(column)


class TradingEnv(gymnasium.Env):
    """One trading book as a ``gymnasium.Env`` (see the module docstring).

    Parameters
    ----------
    data : TradingData
    positions : ndarray of int
        The contiguous date block episodes live in; the last date is only marked, never traded.
    config : EnvConfig, optional
    episodes : {"random", "full_block"}
    tickers : sequence of str, optional
        Tickers to trade (default: all of the data's).

    ``reset(options={"ticker": name, "start": position})`` pins an episode; its ``info`` names
    the ``date`` and ``ticker``. ``info`` of a step holds ``log_return``, ``drawdown_penalty``,
    ``turnover_penalty`` (the reward before clipping is the first minus the other two),
    ``target`` (NaN: no order), ``equity``, ``position`` (held weight after the step),
    ``date_position`` and ``ticker_position`` (indices into the data's dates and tickers).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        data: TradingData,
        positions: np.ndarray,
        config: EnvConfig | None = None,
        *,
        episodes: EpisodeMode = "random",
        tickers: Sequence[str] | None = None,
    ) -> None:
        self.config = config or EnvConfig()
        self.data = data
        self._episodes = _Episodes(data, positions, self.config, episodes, tickers)
        self._books = Books(data, 1, self.config.reward)
        self._obs = np.zeros((1, self.config.window * data.n_factors + 2), dtype=np.float32)
        self._counter = np.zeros(1, dtype=np.int64)
        self.observation_space = self.config.observation_space(data)
        self.action_space = self.config.action_space()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._counter[:] = 0  # full blocks restart from the first ticker
        if options and "ticker" in options:
            ticker, start, end = self._episodes.pinned(options)
            episode = (np.array([ticker]), np.array([start]), np.array([end]))
        else:
            episode = self._episodes.draw(self.np_random, 1, self._counter)
            self._counter += 1
        self._books.start(np.array([0]), *episode)
        return self._observation(), self._info_at_start()

    def step(self, action):
        outcome = self._books.step(target_weights(self.config, np.asarray(action)[None]))
        info = _step_infos(outcome, self._books, self.data)[0]
        return (
            self._observation(),
            float(outcome.reward[0]),
            bool(outcome.terminated[0]),
            bool(outcome.truncated[0]),
            info,
        )

    def _observation(self) -> np.ndarray:
        return self._books.observe(self.config.window, self.config.obs_clip, self._obs)[0].copy()

    def _info_at_start(self) -> dict[str, Any]:
        books = self._books
        return {
            "equity": float(books.equity[0]),
            "date": self.data.dates[books.date[0]],
            "ticker": str(self.data.tickers[books.ticker[0]]),
        }


def _step_infos(outcome: StepOutcome, books: Books, data: TradingData) -> list[dict[str, Any]]:
    """One info dict per book; built from lists so that it stays cheap for large batches."""
    columns = zip(
        outcome.log_return.tolist(),
        outcome.drawdown_penalty.tolist(),
        outcome.turnover_penalty.tolist(),
        outcome.target.tolist(),
        books.equity.tolist(),
        books.held_weight().tolist(),
        books.date.tolist(),
        books.ticker.tolist(),
        strict=True,
    )
    return [
        {
            "log_return": r,
            "drawdown_penalty": d,
            "turnover_penalty": c,
            "target": w,
            "equity": e,
            "position": p,
            "date_position": t,
            "ticker_position": j,
        }
        for r, d, c, w, e, p, t, j in columns
    ]


class BatchedTradingEnv(VecEnv):
    """``n_envs`` trading books stepped together: SB3's ``VecEnv`` over arrays.

    Same episodes, observations, rewards and info components as ``n_envs`` :class:`TradingEnv`
    (the same info keys). Finished
    episodes restart at once, as SB3 expects: the step returns the new episode's first
    observation and ``infos[i]["terminal_observation"]`` holds the last one;
    ``TimeLimit.truncated`` marks an episode cut at its last date rather than ended by ruin.

    Parameters
    ----------
    data, positions, config, episodes, tickers
        As for :class:`TradingEnv`.
    n_envs : int, optional
        Number of books (default: 16 for random episodes, one per ticker for full blocks).
    seed : int, optional
        Seed of the episode draws (also set by ``seed()`` before a ``reset()``).
    """

    def __init__(
        self,
        data: TradingData,
        positions: np.ndarray,
        config: EnvConfig | None = None,
        *,
        episodes: EpisodeMode = "random",
        tickers: Sequence[str] | None = None,
        n_envs: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.config = config or EnvConfig()
        self.data = data
        self.render_mode = None
        self._episodes = _Episodes(data, positions, self.config, episodes, tickers)
        if n_envs is None:
            n_envs = 16 if episodes == "random" else len(self._episodes.tickers)
        if n_envs < 1:
            raise ValueError("n_envs must be at least 1")
        self._books = Books(data, n_envs, self.config.reward)
        self._obs = np.zeros((n_envs, self.config.window * data.n_factors + 2), dtype=np.float32)
        self._counters = np.arange(n_envs, dtype=np.int64)
        self._rng = np.random.default_rng(seed)
        self._actions = np.zeros(n_envs)
        self.num_envs = n_envs  # read by VecEnv.__init__ through get_attr
        super().__init__(n_envs, self.config.observation_space(data), self.config.action_space())

    @property
    def episode_count_per_pass(self) -> int:
        """Episodes that cover every ticker once (full blocks) or every env once (random)."""
        if self._episodes.mode == "full_block":
            return len(self._episodes.tickers)
        return self.num_envs

    @property
    def books(self) -> Books:
        """The underlying books (equity, cash, positions of every env)."""
        return self._books

    def reset(self) -> np.ndarray:
        if self._seeds[0] is not None:
            self._rng = np.random.default_rng(self._seeds[0])
        self._counters = np.arange(self.num_envs, dtype=np.int64)
        rows = np.arange(self.num_envs)
        tickers, starts, ends = self._episodes.draw(self._rng, self.num_envs, self._counters)
        for i, options in enumerate(self._options):
            if options and "ticker" in options:
                tickers[i], starts[i], ends[i] = self._episodes.pinned(options)
        self._counters += self.num_envs
        self._books.start(rows, tickers, starts, ends)
        self._reset_seeds()
        self._reset_options()
        return self._books.observe(self.config.window, self.config.obs_clip, self._obs).copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = target_weights(self.config, actions)

    def step_wait(self):
        outcome = self._books.step(self._actions)
        infos = _step_infos(outcome, self._books, self.data)
        obs = self._books.observe(self.config.window, self.config.obs_clip, self._obs).copy()
        done = outcome.terminated | outcome.truncated
        rows = np.flatnonzero(done)
        if len(rows):
            for i in rows:
                infos[i]["terminal_observation"] = obs[i].copy()
                infos[i]["TimeLimit.truncated"] = bool(outcome.truncated[i])
            episode = self._episodes.draw(self._rng, len(rows), self._counters[rows])
            self._counters[rows] += self.num_envs
            self._books.start(rows, *episode)
            fresh = self._books.observe(self.config.window, self.config.obs_clip, self._obs)
            obs[rows] = fresh[rows]
        return obs, outcome.reward, done, infos

    def close(self) -> None:
        return None

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        value = getattr(self, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs):
        method = getattr(self, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]
