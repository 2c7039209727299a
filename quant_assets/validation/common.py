"""The common shape every engine adapter takes and returns.

One :class:`Market` (wide closes, optional opens and volumes, the splits in the closes), one
target-weight frame and one :class:`CostConfig` go in; one :class:`EngineRun` (equity, trades,
final value, seconds) comes out, whatever the engine. The rules every adapter implements, so
that the engines can agree to the cent:

* **Sizing.** On a bar with at least one non-NaN weight, the book is marked at the fill prices
  (the close, or under ``next_open`` the next bar's open; the last close where a ticker has no
  fill price) giving equity ``E``; each non-NaN target ``w`` becomes an order for
  ``w * E / p - held`` shares. NaN means no order. With ``whole_shares`` the order is truncated
  toward zero.
* **Costs.** A buy fills at ``p * (1 + slippage)``, a sell at ``p * (1 - slippage)``; the fee is
  ``|shares * fill| * fee_bps / 1e4 + |shares| * fee_per_share``, paid from cash.
* **Equity** is the book after each bar's trades, marked at that bar's close (last close where
  a ticker has none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["CostConfig", "EngineRun", "Market", "Unsupported", "ledger_equity", "TRADE_COLUMNS"]

TRADE_COLUMNS = ["date", "ticker", "shares", "price", "fee"]


class Unsupported(Exception):
    """The engine cannot represent this scenario's settings; the message says why."""


@dataclass(frozen=True)
class CostConfig:
    """Costs, share rounding, starting cash and fill timing of one backtest.

    Attributes
    ----------
    fee_bps : float
        Percentage fee in basis points of the notional at the fill price.
    fee_per_share : float
        Fee per share traded, in currency.
    slippage_bps : float
        Price concession in basis points of the reference price (against the order).
    whole_shares : bool
        Orders are truncated toward zero to whole shares; else fractional shares.
    initial_cash : float
        Starting cash; the book starts flat.
    execution : {"close", "next_open"}
        Fill at the close of the weights' bar, or at the next bar's open.
    """

    fee_bps: float = 0.0
    fee_per_share: float = 0.0
    slippage_bps: float = 0.0
    whole_shares: bool = False
    initial_cash: float = 100_000.0
    execution: Literal["close", "next_open"] = "close"

    def __post_init__(self) -> None:
        if min(self.fee_bps, self.fee_per_share, self.slippage_bps) < 0:
            raise ValueError("fees and slippage must be non-negative")
        if not self.initial_cash > 0:
            raise ValueError("initial_cash must be positive")
        if self.execution not in ("close", "next_open"):
            raise ValueError(f"execution must be 'close' or 'next_open', got {self.execution!r}")


@dataclass(frozen=True)
class Market:
    """Prices of one scenario, wide (dates x tickers), NaN where a ticker has no bar.

    ``splits`` lists the splits inside ``closes`` (``ticker``, ``date``, ``factor``: shares after
    per share before), as :func:`quant_assets.ingest.corporate_actions.detect_corporate_actions`
    finds them; an engine with corporate-action support (zipline) is told about them, the
    others see the raw series.
    """

    closes: pd.DataFrame
    opens: pd.DataFrame | None = None
    volumes: pd.DataFrame | None = None
    splits: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {
                "ticker": pd.Series(dtype=str),
                "date": pd.Series(dtype="datetime64[ns]"),
                "factor": pd.Series(dtype=float),
            }
        )
    )

    def fill_prices(self, execution: str) -> pd.DataFrame:
        """The reference fill prices: closes, or opens under ``next_open``."""
        if execution == "close":
            return self.closes
        if self.opens is None:
            raise Unsupported("next-open fills need opens; these prices have closes only")
        return self.opens


@dataclass(frozen=True)
class EngineRun:
    """What one engine made of one scenario.

    Attributes
    ----------
    engine : str
    equity : pandas.Series
        Book value after each bar's trades, marked at the close, on the closes' dates.
    trades : pandas.DataFrame
        ``date``, ``ticker``, ``shares`` (signed, + buy), ``price`` (fill, after slippage), ``fee``.
    final_value : float
        The engine's own value of the book at the end.
    seconds : float
        Wall time of the engine's run (bundle ingest excluded for zipline).
    """

    engine: str
    equity: pd.Series
    trades: pd.DataFrame
    final_value: float
    seconds: float


def trades_frame(records: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """Trades in the common column order, sorted by date then ticker."""
    frame = pd.DataFrame(records, columns=TRADE_COLUMNS)
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    frame["ticker"] = frame["ticker"].astype(str)
    for column in ("shares", "price", "fee"):
        frame[column] = frame[column].astype(np.float64)
    return frame.sort_values(["date", "ticker"], kind="stable", ignore_index=True)


def ledger_equity(trades: pd.DataFrame, closes: pd.DataFrame, initial_cash: float) -> pd.Series:
    """Equity after each bar from a blotter: cash plus positions at the last close.

    For engines that do not report their book after the bar's fills (backtrader settles a
    cheat-on-close fill in the next bar's cycle), the book is rebuilt from the engine's own fills.
    """
    index, tickers = closes.index, closes.columns
    flows = (trades["shares"] * trades["price"] + trades["fee"]).groupby(trades["date"]).sum()
    cash = initial_cash - flows.reindex(index, fill_value=0.0).cumsum()
    held = (
        trades.pivot_table(index="date", columns="ticker", values="shares", aggfunc="sum")
        .reindex(index=index, columns=tickers)
        .fillna(0.0)
        .cumsum()
    )
    value = (held * closes.ffill()).fillna(0.0).sum(axis=1)
    return (cash + value).rename("equity")
