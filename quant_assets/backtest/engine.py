"""Target-weight backtests of a single cash-sharing portfolio.

:func:`run_backtest` turns wide panels of prices and target weights into an equity curve, a
trade blotter and a position history. The day-by-day book keeping is compiled with numba
(:mod:`quant_assets.backtest.simulation`); this module validates and aligns the inputs and
labels the outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from quant_assets.backtest.costs import SquareRootImpact
from quant_assets.backtest.metrics import compute_metrics
from quant_assets.backtest.overlays import EXIT_REASONS, RiskOverlays
from quant_assets.backtest.simulation import simulate

__all__ = ["BacktestResult", "run_backtest"]

Execution = Literal["close", "next_open"]


@dataclass(frozen=True)
class BacktestResult:
    """What a backtest produced.

    Attributes
    ----------
    equity : pandas.Series
        Book value after each bar's trades, marked at that bar's close (NaN closes are carried
        forward), in the currency of ``initial_cash``.
    trades : pandas.DataFrame
        One row per fill: ``date``, ``ticker``, ``shares`` (signed, + buy), ``price``
        (execution price after slippage and impact), ``reference_price`` (the close or open the
        order was sized at), ``notional`` (``shares * price``), ``fee`` and ``reason``
        (``rebalance``, ``stop_loss``, ``take_profit``, ``trailing_stop``, ``drawdown_halt``).
    positions : pandas.DataFrame
        Shares held after each bar's trades (dates x tickers).
    metrics : dict
        :func:`~quant_assets.backtest.metrics.compute_metrics` of the daily equity returns,
        with exposure from :attr:`weights` and turnover from the trades.
    cash : pandas.Series
        Cash after each bar's trades.
    weights : pandas.DataFrame
        Held weights after each bar: position value at the close over equity.
    initial_cash : float
        The starting cash.
    """

    equity: pd.Series
    trades: pd.DataFrame
    positions: pd.DataFrame
    metrics: dict[str, float]
    cash: pd.Series
    weights: pd.DataFrame = field(repr=False)
    initial_cash: float

    @property
    def returns(self) -> pd.Series:
        """Simple daily returns of :attr:`equity`; the first is measured from the initial cash."""
        return _simple_returns(self.equity, self.initial_cash)


def run_backtest(
    prices: pd.DataFrame,
    weights: pd.DataFrame,
    *,
    fee_bps: float,
    slippage_bps: float = 0.0,
    initial_cash: float,
    execution: Execution = "close",
    opens: pd.DataFrame | None = None,
    volumes: pd.DataFrame | None = None,
    impact: SquareRootImpact | None = None,
    overlays: RiskOverlays | None = None,
    benchmark: pd.Series | None = None,
) -> BacktestResult:
    """Backtest target weights on one cash-sharing book with fractional shares.

    On every bar with at least one non-NaN weight, the book is marked at the fill prices
    (equity ``E`` before any order), each non-NaN target ``w`` becomes an order for
    ``w * E / price - shares`` shares and all orders fill at that price: the bar's close, or
    under ``execution="next_open"`` the next bar's open (the book is then marked at that open,
    or at the last close where a ticker has no open). Sells run before buys. NaN means *no order* for that ticker: it keeps its shares.
    Equity is reported after the bar's trades, marked at the close.

    Costs: a buy fills at ``price * (1 + slippage + impact)``, a sell at
    ``price * (1 - slippage - impact)``, and ``fee_bps / 1e4 * |shares * fill price|`` is paid
    from cash. **Cash shortfall**: cash is never borrowed. When the buys of a bar cost more than
    the cash left after its sells (targets summing above 100 %, or costs eating the margin), all
    buys are scaled by one common factor so that they spend exactly the available cash. Short
    sales are not limited and credit their proceeds to cash.

    Parameters
    ----------
    prices : pandas.DataFrame
        Closes, wide (DatetimeIndex x tickers), strictly positive; NaN where a ticker has no bar.
        A NaN close blocks orders in that ticker on that bar and values it at its last close.
    weights : pandas.DataFrame
        Target fractions of equity on the same or a subset of the dates and tickers. Dates
        absent from ``weights`` and NaN cells place no order. Negative weights are shorts.
    fee_bps : float
        Proportional fee in basis points of traded notional.
    slippage_bps : float, default 0
        Price concession in basis points of the reference price.
    initial_cash : float
        Starting cash; the book starts with no positions.
    execution : {"close", "next_open"}
        Fill at the close of the signal's bar, or at the next bar's open (needs ``opens``).
    opens : pandas.DataFrame, optional
        Opens on the axes of ``prices``; required for ``execution="next_open"``.
    volumes : pandas.DataFrame, optional
        Share volumes on the axes of ``prices``; required with ``impact``.
    impact : SquareRootImpact, optional
        Square-root market impact model.
    overlays : RiskOverlays, optional
        Stop-loss, take-profit, trailing stop, drawdown breaker and position limits.
    benchmark : pandas.Series, optional
        Simple daily benchmark returns; ``metrics`` then include alpha, beta, capture and the
        other relative statistics of :func:`~quant_assets.backtest.metrics.compute_metrics`.

    Returns
    -------
    BacktestResult
    """
    closes = _validated_prices(prices, "prices")
    targets = _aligned_weights(weights, closes)
    if execution not in ("close", "next_open"):
        raise ValueError(f"execution must be 'close' or 'next_open', got {execution!r}")
    if not (np.isfinite(initial_cash) and initial_cash > 0):
        raise ValueError("initial_cash must be positive")
    if fee_bps < 0 or slippage_bps < 0:
        raise ValueError("fee_bps and slippage_bps must be non-negative")
    fill = closes
    if execution == "next_open":
        if opens is None:
            raise ValueError("execution='next_open' needs opens")
        fill = _validated_prices(_on_axes(opens, closes), "opens")
    sigma, adv = _impact_inputs(impact, closes, volumes)
    rules = overlays or RiskOverlays()
    sl, tp, ts, max_dd, halt_bars, max_w, max_gross = rules.kernel_arguments(len(closes))
    fill_prices = _array(fill)
    fee = fee_bps / 1e4
    equity, cash, traded, shares, held_weights, records = simulate(
        _array(closes),
        fill_prices,
        _array(targets),
        sigma,
        adv,
        (fee, slippage_bps / 1e4, impact.coefficient if impact else 0.0),
        float(initial_cash),
        execution == "next_open",
        np.array([sl, tp, ts, max_w, max_gross]),
        (max_dd, halt_bars),
    )
    trades = _blotter(closes, fill_prices, records, fee)
    return _result(
        closes, equity, cash, traded, shares, held_weights, trades, float(initial_cash), benchmark
    )


def _validated_prices(prices: pd.DataFrame, name: str) -> pd.DataFrame:
    if not isinstance(prices, pd.DataFrame) or not isinstance(prices.index, pd.DatetimeIndex):
        raise TypeError(f"{name} must be a DataFrame with a DatetimeIndex")
    if not prices.index.is_monotonic_increasing or prices.index.has_duplicates:
        raise ValueError(f"{name} index must be sorted and unique")
    if prices.columns.has_duplicates:
        raise ValueError(f"{name} has duplicate tickers")
    values = prices.to_numpy(dtype=np.float64)
    if np.any(values <= 0) or np.isinf(values).any():
        raise ValueError(f"{name} must be positive and finite (NaN for a missing bar)")
    return prices.astype(np.float64)


def _on_axes(frame: pd.DataFrame, closes: pd.DataFrame) -> pd.DataFrame:
    if not frame.index.equals(closes.index) or not frame.columns.equals(closes.columns):
        frame = frame.reindex(index=closes.index, columns=closes.columns)
    return frame


def _aligned_weights(weights: pd.DataFrame, closes: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(weights, pd.DataFrame):
        raise TypeError("weights must be a DataFrame")
    unknown_tickers = weights.columns.difference(closes.columns)
    if len(unknown_tickers):
        raise ValueError(f"weights name tickers without prices: {list(unknown_tickers[:5])}")
    unknown_dates = pd.DatetimeIndex(weights.index).difference(closes.index)
    if len(unknown_dates):
        raise ValueError(f"weights have dates without prices: {list(unknown_dates[:5])}")
    aligned = _on_axes(weights, closes).astype(np.float64)
    if np.isinf(aligned.to_numpy()).any():
        raise ValueError("weights must be finite or NaN")
    return aligned


def _impact_inputs(
    impact: SquareRootImpact | None, closes: pd.DataFrame, volumes: pd.DataFrame | None
) -> tuple[np.ndarray, np.ndarray]:
    if impact is None or impact.coefficient == 0.0:
        empty = np.full((1, closes.shape[1]), np.nan)
        return empty, empty
    if volumes is None:
        raise ValueError("impact needs volumes")
    return impact.estimates(closes, _on_axes(volumes, closes).astype(np.float64))


def _array(frame: pd.DataFrame) -> np.ndarray:
    return np.ascontiguousarray(frame.to_numpy(dtype=np.float64))


def _blotter(
    closes: pd.DataFrame, fill_prices: np.ndarray, records: tuple, fee: float
) -> pd.DataFrame:
    cells, sizes, prices, codes = records
    bars, cols = np.divmod(cells, closes.shape[1])
    notional = sizes * prices
    return pd.DataFrame(
        {
            "date": closes.index.take(bars),
            # the column labels, in column order: a categorical columns index would hand its
            # dtype's categories (other order, unused tickers) to from_codes instead
            "ticker": pd.Categorical.from_codes(cols, categories=closes.columns.to_list()),
            "shares": sizes,
            "price": prices,
            "reference_price": fill_prices.ravel()[cells],
            "notional": notional,
            "fee": np.abs(notional) * fee,
            "reason": pd.Categorical.from_codes(codes, categories=list(EXIT_REASONS)),
        }
    )


def _result(
    closes: pd.DataFrame,
    equity: np.ndarray,
    cash: np.ndarray,
    traded: np.ndarray,
    shares: np.ndarray,
    weights: np.ndarray,
    trades: pd.DataFrame,
    initial_cash: float,
    benchmark: pd.Series | None,
) -> BacktestResult:
    dates, tickers = closes.index, closes.columns
    equity_series = pd.Series(equity, index=dates, name="equity")
    held_weights = pd.DataFrame(weights, index=dates, columns=tickers)
    metrics = compute_metrics(
        _simple_returns(equity_series, initial_cash),
        benchmark,
        weights=held_weights,
        turnover=pd.Series(traded / equity, index=dates),
    )
    return BacktestResult(
        equity=equity_series,
        trades=trades,
        positions=pd.DataFrame(shares, index=dates, columns=tickers),
        metrics=metrics,
        cash=pd.Series(cash, index=dates, name="cash"),
        weights=held_weights,
        initial_cash=initial_cash,
    )


def _simple_returns(equity: pd.Series, initial_cash: float) -> pd.Series:
    return (equity / equity.shift(1).fillna(initial_cash) - 1.0).rename("returns")
