"""Adapter: our engine, :func:`quant_assets.backtest.run_backtest`.

Assumptions: fractional shares only and a percentage fee only (no per-share fee); both are
reported as unsupported rather than approximated. A cash shortfall scales every buy of the bar
by one common factor (the other engines fill orders in sequence or borrow).
"""

from __future__ import annotations

import time

import pandas as pd

from quant_assets.backtest import run_backtest
from quant_assets.validation.common import (
    CostConfig,
    EngineRun,
    Market,
    Unsupported,
    trades_frame,
)

NAME = "ours"


def run(market: Market, weights: pd.DataFrame, costs: CostConfig) -> EngineRun:
    """Run ``weights`` on our engine."""
    if costs.whole_shares:
        raise Unsupported("our engine trades fractional shares only")
    if costs.fee_per_share:
        raise Unsupported("our engine charges a percentage fee only (no per-share fee)")
    opens = market.fill_prices(costs.execution) if costs.execution == "next_open" else None
    start = time.perf_counter()
    result = run_backtest(
        market.closes,
        weights,
        fee_bps=costs.fee_bps,
        slippage_bps=costs.slippage_bps,
        initial_cash=costs.initial_cash,
        execution=costs.execution,
        opens=opens,
    )
    seconds = time.perf_counter() - start
    return EngineRun(
        engine=NAME,
        equity=result.equity,
        trades=trades_frame(result.trades[["date", "ticker", "shares", "price", "fee"]]),
        final_value=float(result.equity.iloc[-1]),
        seconds=seconds,
    )
