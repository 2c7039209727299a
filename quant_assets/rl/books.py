"""Many one-ticker books stepped at once, with the backtest engine's fill and cost rules.

Each row ``i`` of a :class:`Books` is one episode: a cash-sharing book trading one ticker of a
:class:`~quant_assets.rl.data.TradingData`. A step takes the target weight decided at the close
of the row's date ``t``, fills it at the open of ``t + 1`` through
:func:`quant_assets.backtest.simulation.rebalance_and_mark` (the engine's own sizing, slippage,
impact, fee and cash-shortfall rules) and marks the book at the close of ``t + 1``.

Reward of a step: ``log(E[t+1] / E[t])`` (net of all costs), minus
``drawdown_penalty * max(drawdown[t+1] - drawdown[t], 0)`` (drawdown from the episode's peak
equity) and ``turnover_penalty * traded / E[t]`` (notional at the open over equity), clipped to
``+-reward_clip``. A book whose equity reaches zero terminates its episode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from quant_assets.backtest.simulation import REBALANCE, rebalance_and_mark
from quant_assets.rl.data import TradingData

__all__ = ["Books", "RewardSettings", "StepOutcome"]


@dataclass(frozen=True)
class RewardSettings:
    """Penalties and clipping of the per-step reward (see the module docstring)."""

    drawdown_penalty: float = 0.0
    turnover_penalty: float = 0.0
    reward_clip: float = 0.25

    def __post_init__(self) -> None:
        if self.drawdown_penalty < 0 or self.turnover_penalty < 0:
            raise ValueError("penalties must be non-negative")
        if not self.reward_clip > 0:
            raise ValueError("reward_clip must be positive")


@dataclass
class StepOutcome:
    """Per-row results of one step (arrays of length ``n``)."""

    reward: np.ndarray
    log_return: np.ndarray
    drawdown_penalty: np.ndarray
    turnover_penalty: np.ndarray
    target: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray


@njit(cache=True)
def _step(
    proposed,
    ticker,
    date,
    end,
    cash,
    equity,
    peak,
    drawdown,
    book,
    scratch,
    market,
    costs,
    settings,
    out,
):
    """Advance every row one bar; write rewards and flags into ``out``."""
    shares, entry, extreme, last_close = book
    targets, reasons, orders, cells, sizes, fills, codes = scratch
    opens, closes, sigma, adv, decision_mask = market
    dd_weight, turnover_weight, clip = settings
    reward, log_return, dd_pen, turnover_pen, target, terminated, truncated = out
    for i in range(ticker.shape[0]):
        j, t = ticker[i], date[i]
        bar = t + 1
        w = proposed[i] if decision_mask[t, j] else np.nan
        targets[i, 0] = w
        target[i] = w
        k = 0 if sigma.shape[0] == 1 else bar
        before = equity[i]
        cash[i], equity[i], traded = rebalance_and_mark(
            bar,
            targets[i],
            opens[bar, j : j + 1],
            closes[bar, j : j + 1],
            (sigma[k, j : j + 1], adv[k, j : j + 1]),
            costs,
            cash[i],
            (shares[i], entry[i], extreme[i], last_close[i]),
            (reasons[i], orders[i], (cells[i], sizes[i], fills[i], codes[i])),
        )
        after = equity[i]
        date[i] = bar
        if not (after > 0.0 and before > 0.0):
            log_return[i] = -np.inf
            dd_pen[i] = 0.0
            turnover_pen[i] = 0.0
            reward[i] = -clip
            terminated[i] = True
            truncated[i] = False
            continue
        log_return[i] = np.log(after / before)
        peak[i] = max(peak[i], after)
        dd = 1.0 - after / peak[i]
        dd_pen[i] = dd_weight * max(dd - drawdown[i], 0.0)
        drawdown[i] = dd
        turnover_pen[i] = turnover_weight * traded / before
        reward[i] = min(max(log_return[i] - dd_pen[i] - turnover_pen[i], -clip), clip)
        terminated[i] = False
        truncated[i] = bar >= end[i]


@njit(cache=True)
def _observe(features, ticker, date, window, held, cash_share, obs_clip, out):
    """Rows of ``window`` factor vectors up to each row's date (zeros before the first date),
    then the held weight and the cash share, clipped to ``+-obs_clip``."""
    n_factors = features.shape[2]
    for i in range(ticker.shape[0]):
        j, t = ticker[i], date[i]
        k = 0
        for lag in range(window):
            s = t - window + 1 + lag
            for f in range(n_factors):
                out[i, k] = features[j, s, f] if s >= 0 else 0.0
                k += 1
        out[i, k] = min(max(held[i], -obs_clip), obs_clip)
        out[i, k + 1] = min(max(cash_share[i], -obs_clip), obs_clip)


class Books:
    """``n`` one-ticker books over a :class:`TradingData`, stepped in one compiled loop.

    Parameters
    ----------
    data : TradingData
    n : int
        Number of books (episodes run side by side).
    reward : RewardSettings
    """

    def __init__(self, data: TradingData, n: int, reward: RewardSettings) -> None:
        self.data = data
        self.n = n
        self.reward = reward
        self.ticker = np.zeros(n, dtype=np.int64)
        self.date = np.zeros(n, dtype=np.int64)
        self.end = np.zeros(n, dtype=np.int64)
        self.cash = np.zeros(n)
        self.equity = np.zeros(n)
        self.peak = np.zeros(n)
        self.drawdown = np.zeros(n)
        self.book = tuple(np.zeros((n, 1)) for _ in range(4))
        self.scratch = (
            np.zeros((n, 1)),
            np.full((n, 1), REBALANCE, dtype=np.int8),
            np.zeros((n, 1)),
            np.zeros((n, 1), dtype=np.int64),
            np.zeros((n, 1)),
            np.zeros((n, 1)),
            np.zeros((n, 1), dtype=np.int8),
        )
        self._market = (data.opens, data.closes, data.sigma, data.adv, data.decision_mask)
        self._costs = data.costs.kernel_costs()
        self._settings = (reward.drawdown_penalty, reward.turnover_penalty, reward.reward_clip)
        self._out = (
            np.zeros(n),
            np.zeros(n),
            np.zeros(n),
            np.zeros(n),
            np.zeros(n),
            np.zeros(n, dtype=np.bool_),
            np.zeros(n, dtype=np.bool_),
        )

    def start(self, rows: np.ndarray, tickers: np.ndarray, starts: np.ndarray, ends: np.ndarray):
        """Open fresh, flat books on ``rows``: ticker, first decision date and last mark date."""
        shares, entry, extreme, last_close = self.book
        cash = self.data.costs.initial_cash
        self.ticker[rows] = tickers
        self.date[rows] = starts
        self.end[rows] = ends
        self.cash[rows] = cash
        self.equity[rows] = cash
        self.peak[rows] = cash
        self.drawdown[rows] = 0.0
        shares[rows] = 0.0
        entry[rows] = np.nan
        extreme[rows] = np.nan
        last_close[rows, 0] = self.data.last_closes[starts, tickers]

    def step(self, proposed: np.ndarray) -> StepOutcome:
        """Trade every book to its proposed weight (ignored where no decision is possible)."""
        _step(
            np.ascontiguousarray(proposed, dtype=np.float64),
            self.ticker,
            self.date,
            self.end,
            self.cash,
            self.equity,
            self.peak,
            self.drawdown,
            self.book,
            self.scratch,
            self._market,
            self._costs,
            self._settings,
            self._out,
        )
        return StepOutcome(*(a.copy() for a in self._out))

    def held_weight(self) -> np.ndarray:
        """Position value at the last close over equity (the engine's held weight)."""
        shares, _, _, last_close = self.book
        value = np.where(shares[:, 0] != 0.0, shares[:, 0] * last_close[:, 0], 0.0)
        return value / self.equity

    def cash_share(self) -> np.ndarray:
        return self.cash / self.equity

    def observe(self, window: int, obs_clip: float, out: np.ndarray) -> np.ndarray:
        """Write each book's observation into ``out`` (``n`` x ``window * F + 2``, float32)."""
        _observe(
            self.data.features,
            self.ticker,
            self.date,
            window,
            self.held_weight(),
            self.cash_share(),
            obs_clip,
            out,
        )
        return out
