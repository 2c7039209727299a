"""The settings of one portfolio-construction run, validated once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["METHODS", "REBALANCE_FREQUENCIES", "PortfolioConfig"]

Method = Literal["vol_target", "fixed_fractional", "kelly", "risk_parity", "black_litterman"]
Frequency = Literal["daily", "weekly", "monthly"]
VolTargetLevel = Literal["asset", "portfolio", "both"]
BlackLittermanPrior = Literal["equal_weight", "min_variance"]
ViewKind = Literal["signal", "forecast"]

METHODS: tuple[str, ...] = (
    "vol_target",
    "fixed_fractional",
    "kelly",
    "risk_parity",
    "black_litterman",
)
REBALANCE_FREQUENCIES: tuple[str, ...] = ("daily", "weekly", "monthly")


@dataclass(frozen=True)
class PortfolioConfig:
    """How :func:`~quant_assets.portfolio.build_weights` turns signals into target weights.

    Weights are fractions of equity (``0.1`` = 10 % long), volatilities are annualised
    (``daily std * sqrt(252)``) and returns are simple daily close-to-close returns.

    Attributes
    ----------
    method : {"vol_target", "fixed_fractional", "kelly", "risk_parity", "black_litterman"}
        The sizing rule; see :mod:`quant_assets.portfolio.sizing` and
        :mod:`quant_assets.portfolio.black_litterman`. ``kelly`` and ``black_litterman`` with
        ``view_kind="forecast"`` read the signals as forecast daily returns; the others read
        them as positions in ``[-1, 1]``.
    target_vol : float, default 0.15
        Annualised volatility target of ``vol_target``.
    vol_target_level : {"asset", "portfolio", "both"}, default "both"
        ``asset`` sizes each position to ``target_vol`` and divides by the number of live
        signals; ``portfolio`` scales the equal-weighted signals so the book's ex-ante
        volatility is ``target_vol``; ``both`` does the first, then the second.
    vol_span, vol_min_periods : int, default 60, 20
        EWMA span and warm-up (trading days) of every volatility and covariance estimate.
    cov_window : int, default 180
        Trailing days of the portfolio-level covariance (EWMA weights truncated there).
    fraction : float, default 0.1
        ``fixed_fractional``: weight per unit of signal.
    kelly_fraction : float, default 0.5
        ``kelly``: multiple of the full Kelly weight ``mu / sigma**2`` (0.5 = half Kelly).
    bl_prior : {"equal_weight", "min_variance"}, default "equal_weight"
        Reference portfolio whose implied returns are the Black-Litterman prior.
    bl_lookback : int, default 252
        Trailing daily returns behind each Black-Litterman estimate.
    bl_tau : float, default 0.05
        Black-Litterman uncertainty of the prior mean (skfolio's ``tau``).
    bl_risk_aversion : float, default 2.5
        Risk aversion ``delta`` of the implied returns ``delta * Sigma @ w_ref``; the mean-variance
        step uses the matching utility, so no views give back the reference portfolio.
    view_kind : {"signal", "forecast"}, default "signal"
        ``forecast``: a signal is a daily expected return and becomes an absolute view.
        ``signal``: a position in ``[-1, 1]`` tilts the implied return by
        ``signal * view_sharpe * daily vol / sqrt(252)``.
    view_sharpe : float, default 1.0
        Annualised Sharpe ratio a full-strength signal is believed to carry.
    max_weight : float, default 1.0
        Cap on ``|weight|`` of any one asset.
    max_gross : float, default 2.0
        Cap on ``sum(|weight|)`` per date.
    max_net : float, default 1.0
        Cap on ``|sum(weight)|`` per date.
    long_only : bool, default False
        Clip short weights to zero.
    rebalance : {"daily", "weekly", "monthly"}, default "daily"
        Trade on every date, or on the first trading date of each week / month.
    no_trade_band : float, default 0.0
        A ticker trades only where its target differs from the weight last ordered by more than
        this (absolute weight, e.g. ``0.02`` = 2 % of equity). 0 = no band: every target on a
        rebalance date is an order, which also trades price drift back to the target.
    """

    method: Method = "vol_target"
    target_vol: float = 0.15
    vol_target_level: VolTargetLevel = "both"
    vol_span: int = 60
    vol_min_periods: int = 20
    cov_window: int = 180
    fraction: float = 0.1
    kelly_fraction: float = 0.5
    bl_prior: BlackLittermanPrior = "equal_weight"
    bl_lookback: int = 252
    bl_tau: float = 0.05
    bl_risk_aversion: float = 2.5
    view_kind: ViewKind = "signal"
    view_sharpe: float = 1.0
    max_weight: float = 1.0
    max_gross: float = 2.0
    max_net: float = 1.0
    long_only: bool = False
    rebalance: Frequency = "daily"
    no_trade_band: float = 0.0

    def __post_init__(self) -> None:
        _one_of("method", self.method, METHODS)
        _one_of("rebalance", self.rebalance, REBALANCE_FREQUENCIES)
        _one_of("vol_target_level", self.vol_target_level, ("asset", "portfolio", "both"))
        _one_of("bl_prior", self.bl_prior, ("equal_weight", "min_variance"))
        _one_of("view_kind", self.view_kind, ("signal", "forecast"))
        positive = (
            "target_vol",
            "fraction",
            "kelly_fraction",
            "bl_tau",
            "bl_risk_aversion",
            "max_weight",
            "max_gross",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.max_net < 0 or self.no_trade_band < 0 or self.view_sharpe < 0:
            raise ValueError("max_net, no_trade_band and view_sharpe must be non-negative")
        if min(self.vol_span, self.vol_min_periods, self.cov_window) < 1:
            raise ValueError("vol_span, vol_min_periods and cov_window must be at least 1")
        if self.bl_lookback < 2:
            raise ValueError("bl_lookback must be at least 2 returns")


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
