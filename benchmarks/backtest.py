"""Benchmark: our backtest engine against vectorbt on 500 tickers x 2,520 days.

Run with ``python benchmarks/backtest.py`` (needs ``vectorbt`` and the real data in
``../shared/data`` or ``$QUANT_ASSETS_SHARED_DATA``).

Panel construction (real prices, no synthetic numbers)
    The 50 long-history US stocks (``us_stocks_long_1962_2017.csv.gz``) are pivoted to wide
    closes on their common calendar from 1981-09-22, when the last of them (HD) starts, to
    2017-11-10. Ten 2,520-day windows start at evenly spaced offsets across that calendar; each
    window contributes the 50 tickers' actual closes as 50 columns named ``<TICKER>.<k>``. The
    500 columns are stacked side by side on the dates of the latest window, so every column is a
    real 10-year price path (missing bars stay NaN) and the windows overlap only partly.

Strategy (signals made once, fed unchanged to both engines)
    Daily rebalancing to ``sign(20-day return) * 0.9 / 500``: long-short, gross exposure 90 %,
    10 bps fees, 1,000,000 initial cash, fills at the close. NaN weight (no order) where the
    close or the signal is missing.

Timing
    Each engine runs once to load its compiled kernels, then the best of ``--repeat`` runs is
    reported. Our time covers the whole :func:`run_backtest` call (equity, blotter, positions,
    weights and metrics); vectorbt's covers ``Portfolio.from_orders(...)`` plus ``.value()``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from quant_assets.backtest import run_backtest

N_DAYS = 2520
N_WINDOWS = 10
FEE_BPS = 10.0
INITIAL_CASH = 1_000_000.0
GROSS = 0.9
LOOKBACK = 20


def shared_data_dir() -> Path:
    env = os.environ.get("QUANT_ASSETS_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def stitched_closes(path: Path) -> pd.DataFrame:
    """500 columns of real 2,520-day close windows (see the module docstring)."""
    bars = pd.read_csv(path, usecols=["date", "ticker", "close"], parse_dates=["date"])
    closes = bars.pivot(index="date", columns="ticker", values="close").sort_index()
    first_common = closes.apply(pd.Series.first_valid_index).max()
    closes = closes.loc[first_common:]
    offsets = np.linspace(0, len(closes) - N_DAYS, N_WINDOWS).astype(int)
    dates = closes.index[-N_DAYS:]
    blocks = []
    for k, start in enumerate(offsets):
        block = closes.iloc[start : start + N_DAYS]
        blocks.append(
            pd.DataFrame(
                block.to_numpy(), index=dates, columns=[f"{t}.{k}" for t in closes.columns]
            )
        )
    return pd.concat(blocks, axis=1)


def momentum_sign_weights(closes: pd.DataFrame) -> pd.DataFrame:
    momentum = closes.ffill().pct_change(LOOKBACK, fill_method=None)
    weights = np.sign(momentum) * GROSS / closes.shape[1]
    return weights.where(closes.notna())


def time_best(run, repeat: int) -> tuple[float, object]:
    result = run()  # warm-up: load compiled kernels
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import vectorbt as vbt

    closes = stitched_closes(shared_data_dir() / "us_stocks_long_1962_2017.csv.gz")
    weights = momentum_sign_weights(closes)
    n_missing = int(closes.isna().sum().sum())
    print(f"panel: {closes.shape[1]} tickers x {closes.shape[0]} days, {n_missing} missing bars")

    def ours():
        return run_backtest(closes, weights, fee_bps=FEE_BPS, initial_cash=INITIAL_CASH).equity

    def theirs():
        portfolio = vbt.Portfolio.from_orders(
            closes,
            size=weights,
            size_type="targetpercent",
            group_by=True,
            cash_sharing=True,
            call_seq="auto",
            fees=FEE_BPS / 1e4,
            init_cash=INITIAL_CASH,
            freq="1D",
        )
        return portfolio.value()

    ours_s, equity = time_best(ours, args.repeat)
    theirs_s, value = time_best(theirs, args.repeat)
    rel_diff = np.max(np.abs(equity.to_numpy() / value.to_numpy() - 1.0))
    print(f"quant_assets run_backtest: {ours_s * 1e3:9.1f} ms")
    print(f"vectorbt from_orders     : {theirs_s * 1e3:9.1f} ms  (vectorbt {vbt.__version__})")
    print(f"ratio ours / vectorbt    : {ours_s / theirs_s:9.3f}")
    print(f"max relative equity diff : {rel_diff:9.2e}")
    print(f"final equity             : {equity.iloc[-1]:,.2f} vs {value.iloc[-1]:,.2f}")


if __name__ == "__main__":
    main()
