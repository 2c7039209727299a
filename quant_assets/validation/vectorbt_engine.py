"""Adapter: vectorbt 1.0 (``Portfolio.from_orders``, target-percent sizes on one cash-sharing group).

Settings that make it agree with the common rules:

* ``size_type="targetpercent"``, ``group_by=True``, ``cash_sharing=True``, ``call_seq="auto"``
  (sells before buys), ``fees`` as a fraction, ``slippage`` as a fraction;
* next-open fills: the weights are shifted one bar and ``price`` is the opens;
* whole shares: ``size_granularity=1`` (vectorbt floors the order's absolute size);
* per-share fee: vectorbt has none (``fixed_fees`` is per order), so it is passed as a
  per-bar percentage ``fee_per_share / price``; that is exact only without slippage (with
  slippage the fill price depends on the side, unknown before the order), which is refused.

A cash shortfall fills the buys in call order until the cash is spent (ours scales them pro rata).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from quant_assets.validation.common import (
    CostConfig,
    EngineRun,
    Market,
    Unsupported,
    trades_frame,
)

NAME = "vectorbt"


def run(market: Market, weights: pd.DataFrame, costs: CostConfig) -> EngineRun:
    """Run ``weights`` on vectorbt."""
    import vectorbt as vbt

    closes = market.closes
    fill = market.fill_prices(costs.execution)
    sizes = weights.reindex(index=closes.index, columns=closes.columns)
    if costs.execution == "next_open":
        sizes = sizes.shift(1)
    fees: float | pd.DataFrame = costs.fee_bps / 1e4
    if costs.fee_per_share:
        if costs.slippage_bps:
            raise Unsupported(
                "vectorbt has no per-share fee; as a percentage of the fill price it is exact "
                "only without slippage"
            )
        fees = costs.fee_bps / 1e4 + costs.fee_per_share / fill
    start = time.perf_counter()
    portfolio = vbt.Portfolio.from_orders(
        closes,
        size=sizes,
        size_type="targetpercent",
        price=fill,
        fees=fees,
        slippage=costs.slippage_bps / 1e4,
        size_granularity=1.0 if costs.whole_shares else np.nan,
        group_by=True,
        cash_sharing=True,
        call_seq="auto",
        init_cash=costs.initial_cash,
        freq="1D",
    )
    equity = portfolio.value()
    records = portfolio.orders.values
    seconds = time.perf_counter() - start
    side = np.where(records["side"] == 0, 1.0, -1.0)
    trades = trades_frame(
        {
            "date": closes.index.take(records["idx"]),
            "ticker": closes.columns.take(records["col"]),
            "shares": side * records["size"],
            "price": records["price"],
            "fee": records["fees"],
        }
    )
    return EngineRun(
        engine=NAME,
        equity=pd.Series(equity.to_numpy(), index=closes.index, name="equity"),
        trades=trades,
        final_value=float(equity.iloc[-1]),
        seconds=seconds,
    )
