"""Market arrays an RL trading environment steps through: scaled factors, prices and costs.

Alignment (as in :mod:`quant_assets.models.tensors`): row ``t`` of every array is the trading
date ``dates[t]``; ``features[:, t]`` are known at the close of ``t``. An order decided from them
at that close fills at the open of ``t + 1`` and the book is marked at the close of ``t + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_assets.backtest.costs import SquareRootImpact
from quant_assets.models.scaling import PanelStandardScaler
from quant_assets.models.tensors import Panel

__all__ = ["TradingCosts", "TradingData", "trading_data"]


@dataclass(frozen=True)
class TradingCosts:
    """The backtest engine's cost model and book size, as :func:`run_backtest` takes them.

    Parameters
    ----------
    fee_bps : float
        Proportional fee in basis points of traded notional (at the execution price).
    slippage_bps : float
        Price concession in basis points of the reference (open) price.
    initial_cash : float
        Starting cash of every episode's book; it matters only through market impact.
    impact : SquareRootImpact, optional
        Square-root market impact (needs volumes).
    """

    fee_bps: float = 0.0
    slippage_bps: float = 0.0
    initial_cash: float = 1_000_000.0
    impact: SquareRootImpact | None = None

    def __post_init__(self) -> None:
        if not (self.fee_bps >= 0 and self.slippage_bps >= 0):
            raise ValueError("fee_bps and slippage_bps must be non-negative")
        if not (np.isfinite(self.initial_cash) and self.initial_cash > 0):
            raise ValueError("initial_cash must be positive")

    def kernel_costs(self) -> tuple[float, float, float]:
        """``(fee, slippage, impact_coefficient)`` as fractions, the engine kernel's ``costs``."""
        coefficient = self.impact.coefficient if self.impact is not None else 0.0
        return (self.fee_bps / 1e4, self.slippage_bps / 1e4, float(coefficient))


@dataclass(frozen=True)
class TradingData:
    """Aligned arrays over ``T`` dates, ``N`` tickers and ``F`` factors.

    Attributes
    ----------
    dates : DatetimeIndex
    tickers : Index
    factors : tuple of str
    features : ndarray, shape (N, T, F), float32
        Factors standardised with training-period statistics, clipped, NaN set to 0.
    opens, closes : ndarray, shape (T, N), float64
        Fill reference prices (next-open execution) and closes; NaN where there is no bar.
    last_closes : ndarray, shape (T, N), float64
        Closes carried forward: what the engine marks a position at on a day without a close.
    decision_mask : ndarray, shape (T, N), bool
        All factors, the ex-ante vol and the close are known at ``t``: an order can be decided.
    sigma, adv : ndarray, shape (T, N) or (1, N), float64
        Impact inputs of :meth:`SquareRootImpact.estimates` (one NaN row without impact).
    costs : TradingCosts
    feature_clip : float
        Bound on the standardised factors.
    scaler : PanelStandardScaler
        The fitted scaler of ``features`` (kept with a trained agent to rebuild its inputs).
    """

    dates: pd.DatetimeIndex
    tickers: pd.Index
    factors: tuple[str, ...]
    features: np.ndarray
    opens: np.ndarray
    closes: np.ndarray
    last_closes: np.ndarray
    decision_mask: np.ndarray
    sigma: np.ndarray
    adv: np.ndarray
    costs: TradingCosts
    feature_clip: float
    scaler: PanelStandardScaler | None = None

    @property
    def n_factors(self) -> int:
        return self.features.shape[2]

    def date_positions(self, dates: pd.DatetimeIndex | None) -> np.ndarray:
        """Integer positions of ``dates`` on the calendar (all dates when None)."""
        if dates is None:
            return np.arange(len(self.dates))
        positions = self.dates.get_indexer(pd.DatetimeIndex(dates))
        if (positions < 0).any():
            raise KeyError("some dates are not on the trading calendar")
        return positions


def trading_data(
    panel: Panel,
    closes: pd.DataFrame,
    *,
    fit_positions: np.ndarray | None = None,
    scaler: PanelStandardScaler | None = None,
    opens: pd.DataFrame | None = None,
    volumes: pd.DataFrame | None = None,
    costs: TradingCosts | None = None,
    feature_clip: float = 5.0,
) -> TradingData:
    """Align a factor panel with its prices for the trading environment.

    Parameters
    ----------
    panel : Panel
        The factor panel (:func:`quant_assets.models.build_panel`).
    closes : DataFrame
        Wide closes (dates x tickers) on the same basis (adjusted or not) as the panel's; reindexed
        to the panel's axes.
    fit_positions : ndarray of int
        Date positions whose values fit the feature scaler: the training block only, so no
        validation or test value leaks into the observations.
    scaler : PanelStandardScaler, optional
        An already fitted scaler (a trained agent's), instead of ``fit_positions``; its clip
        is the feature clip.
    opens : DataFrame, optional
        Wide opens on the same basis as ``closes``. Without opens (close-only data), orders fill
        at the next bar's close instead: pass ``opens=closes`` to the engine to replay them.
    volumes : DataFrame, optional
        Wide share volumes; required when ``costs.impact`` is set.
    costs : TradingCosts, optional
        Fees, slippage, impact and book size (default: free trading).
    feature_clip : float
        Bound on standardised factor values.
    """
    if (fit_positions is None) == (scaler is None):
        raise ValueError("pass exactly one of fit_positions and scaler")
    costs = costs or TradingCosts()
    wide_closes = _on_axes(closes, panel, "closes")
    wide_opens = wide_closes if opens is None else _on_axes(opens, panel, "opens")
    if scaler is None:
        scaler = PanelStandardScaler(clip=feature_clip).fit(
            panel.features, panel.feature_mask, np.asarray(fit_positions)
        )
    elif len(scaler.mean_) != len(panel.factors):
        raise ValueError(
            f"the scaler has {len(scaler.mean_)} factors, the panel {len(panel.factors)}"
        )
    scaled = scaler.transform(panel.features)  # (T, F, N)
    close_values = _prices(wide_closes, "closes")
    sigma, adv = _impact_inputs(costs, wide_closes, panel, volumes)
    return TradingData(
        dates=panel.dates,
        tickers=panel.tickers,
        factors=panel.factors,
        features=np.ascontiguousarray(scaled.transpose(2, 0, 1)),
        opens=_prices(wide_opens, "opens"),
        closes=close_values,
        last_closes=np.ascontiguousarray(wide_closes.ffill().to_numpy(dtype=np.float64)),
        decision_mask=panel.feature_mask & np.isfinite(close_values),
        sigma=sigma,
        adv=adv,
        costs=costs,
        feature_clip=float(scaler.clip),
        scaler=scaler,
    )


def _on_axes(frame: pd.DataFrame, panel: Panel, name: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a wide DataFrame (dates x tickers)")
    frame = frame.copy()
    frame.index = pd.DatetimeIndex(frame.index)
    frame.columns = frame.columns.astype(str)
    if frame.index.has_duplicates or frame.columns.has_duplicates:
        raise ValueError(f"{name} has duplicate dates or tickers")
    missing = panel.tickers.difference(frame.columns)
    if len(missing):
        raise ValueError(f"{name} lack tickers of the panel: {list(missing[:5])}")
    return frame.reindex(index=panel.dates, columns=panel.tickers).astype(np.float64)


def _prices(frame: pd.DataFrame, name: str) -> np.ndarray:
    values = np.ascontiguousarray(frame.to_numpy(dtype=np.float64))
    if np.any(values <= 0) or np.isinf(values).any():
        raise ValueError(f"{name} must be positive and finite (NaN for a missing bar)")
    return values


def _impact_inputs(
    costs: TradingCosts, closes: pd.DataFrame, panel: Panel, volumes: pd.DataFrame | None
) -> tuple[np.ndarray, np.ndarray]:
    if costs.impact is None or costs.impact.coefficient == 0.0:
        empty = np.full((1, closes.shape[1]), np.nan)
        return empty, empty
    if volumes is None:
        raise ValueError("market impact needs volumes")
    return costs.impact.estimates(closes, _on_axes(volumes, panel, "volumes"))
