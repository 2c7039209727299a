"""Risk overlays: rules that override the target weights during a backtest.

All rules are evaluated once per bar at that bar's close, on closes only (no intraday highs or
lows), and the orders they create fill at the same price as the strategy's own orders: that
close under ``execution="close"``, the next open under ``execution="next_open"``.

Per-position exits (stop-loss, take-profit, trailing stop)
    The *entry price* of a position is the average reference price (close or open, costs
    excluded) of the fills that opened or increased it; reductions leave it unchanged and a
    flip to the other side resets it. A long position exits when
    ``close <= entry * (1 - stop_loss)``, ``close >= entry * (1 + take_profit)`` or
    ``close <= peak * (1 - trailing_stop)``, where ``peak`` is the highest close since entry
    (the entry price included). Shorts mirror this. After an exit the ticker is *locked*: targets
    on the same side are ignored until the strategy sends a target of zero or of the other side,
    so a daily-rebalanced signal cannot re-enter the trade it was just stopped out of.

Drawdown circuit breaker
    When equity marked at the close falls ``max_drawdown`` or more below its running peak, every
    position is closed and targets are ignored for ``halt_bars`` further bars (``None``: for the
    rest of the backtest). Afterwards the peak restarts from the equity of that day and trading
    resumes with the next non-NaN targets.

Position limits
    Each non-NaN rebalancing target is clipped to ``[-max_position_weight, max_position_weight]``.
    If the gross exposure of the targets plus that of positions held through (NaN targets) would
    exceed ``max_gross_exposure``, the targets are scaled down in proportion. Limits act on
    orders only: positions that drift above a limit between rebalances are not trimmed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RiskOverlays", "EXIT_REASONS"]

# Codes the simulation writes into each order record; EXIT_REASONS names them.
REBALANCE = 0
STOP_LOSS = 1
TAKE_PROFIT = 2
TRAILING_STOP = 3
DRAWDOWN_HALT = 4
EXIT_REASONS = ("rebalance", "stop_loss", "take_profit", "trailing_stop", "drawdown_halt")


@dataclass(frozen=True)
class RiskOverlays:
    """Stop, take-profit, drawdown and exposure rules applied on top of the target weights.

    Every threshold is a positive fraction (0.1 = 10 %) or ``None`` to switch the rule off.

    Parameters
    ----------
    stop_loss : float, optional
        Exit when the close moves this fraction against the entry price.
    take_profit : float, optional
        Exit when the close moves this fraction in favour of the entry price.
    trailing_stop : float, optional
        Exit when the close retreats this fraction from its best level since entry.
    max_drawdown : float, optional
        Flatten the book when equity falls this fraction below its running peak.
    halt_bars : int, optional
        Bars after a drawdown halt during which targets are ignored; ``None`` halts for good.
    max_position_weight : float, optional
        Largest absolute target weight of one ticker.
    max_gross_exposure : float, optional
        Largest sum of absolute weights after a rebalance.
    """

    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    max_drawdown: float | None = None
    halt_bars: int | None = None
    max_position_weight: float | None = None
    max_gross_exposure: float | None = None

    def __post_init__(self) -> None:
        for name in (
            "stop_loss",
            "take_profit",
            "trailing_stop",
            "max_drawdown",
            "max_position_weight",
            "max_gross_exposure",
        ):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive fraction or None, got {value!r}")
        if self.halt_bars is not None and self.halt_bars < 0:
            raise ValueError("halt_bars must be >= 0 or None")

    def kernel_arguments(self, n_bars: int) -> tuple[float, float, float, float, int, float, float]:
        """The thresholds as the simulation takes them: NaN for an inactive rule."""

        def off_as_nan(value: float | None) -> float:
            return np.nan if value is None else float(value)

        halt = n_bars if self.halt_bars is None else int(self.halt_bars)
        return (
            off_as_nan(self.stop_loss),
            off_as_nan(self.take_profit),
            off_as_nan(self.trailing_stop),
            off_as_nan(self.max_drawdown),
            halt,
            off_as_nan(self.max_position_weight),
            off_as_nan(self.max_gross_exposure),
        )
