"""Factor benchmark: the full factor set, TA-Lib's indicators three ways, and a one-day update.

Usage: ``python benchmarks/factors.py [--data PATH] [--repeat N]``; the default data is
``../shared/data/sp500_5yr_2013_2018.csv.gz`` beside the repository (505 tickers x 1,259 days).

Timed, best of ``--repeat`` runs, after loading the CSV (not timed) and one cold call:

0. The first ``compute_factors`` call in the process, timed on its own and left out of the rest:
   it loads the compiled kernels from numba's on-disk cache, or compiles them if the cache is
   empty (a fresh checkout: tens of seconds once).
1. ``compute_factors(prices)``: every registered factor, long output.
2. The indicators TA-Lib also has (SMA 5/20/50/200, EMA 12/26, RSI 14, ATR 14, Bollinger 20/2,
   ROC 10, MACD line), computed (a) by ``compute_factors`` for those names, (b) per ticker with
   TA-Lib in a Python loop, (c) per ticker with a plain pandas loop. (b) and (c) return per-ticker
   arrays; (a) builds the long table as well, so it is also timed without it ("arrays only").
3. A one-day incremental update: ``compute_factors`` on each ticker's last ``required_lookback``
   rows (``trim_to_lookback``, timed separately), keeping the newest date only; checked against
   the full run's values for that date.

Goals: full set < 3 s on 2 cores; (a) faster than (b); the one-day update < 0.5 s. The exit
status is 1 only if the update does not reproduce the full run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import talib

from quant_assets.factors import compute, compute_factors, required_lookback, trim_to_lookback
from quant_assets.factors.panel import SortedPrices
from quant_assets.factors.registry import resolve

TALIB_SHARED = [
    "sma_5", "sma_20", "sma_50", "sma_200", "ema_12", "ema_26",
    "rsi_14", "atr_14", "bb_pctb_20", "bb_width_20", "roc_10", "macd_line_12_26",
]  # fmt: skip
DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "sp500_5yr_2013_2018.csv.gz"
)


def best_of(repeat: int, run: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def factor_arrays(prices: pd.DataFrame, names: list[str]) -> list[np.ndarray]:
    """``compute_factors`` without the long table: the factor panels only, like TA-Lib's arrays."""
    panels = compute._Panels(SortedPrices.from_frame(prices), 0)

    def run(definition) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return compute._factor_values(panels.for_factor(definition), definition, 0)

    with ThreadPoolExecutor(max_workers=compute.THREADS) as pool:
        return list(pool.map(run, resolve(names)))


def talib_loop(prices: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """The shared indicators per ticker with TA-Lib, as ratios like the factors."""
    out = {}
    for ticker, rows in prices.groupby("ticker", sort=False):
        close, high, low = (rows[c].to_numpy() for c in ("close", "high", "low"))
        upper, middle, lower = talib.BBANDS(close, 20, 2.0, 2.0, matype=0)
        macd, _, _ = talib.MACD(close, 12, 26, 9)
        out[ticker] = {
            **{f"sma_{n}": talib.SMA(close, n) / close - 1 for n in (5, 20, 50, 200)},
            **{f"ema_{n}": talib.EMA(close, n) / close - 1 for n in (12, 26)},
            "rsi_14": talib.RSI(close, 14),
            "atr_14": talib.ATR(high, low, close, 14) / close,
            "bb_pctb_20": (close - lower) / (upper - lower),
            "bb_width_20": (upper - lower) / middle,
            "roc_10": talib.ROC(close, 10),
            "macd_line_12_26": macd / close,
        }
    return out


def pandas_loop(prices: pd.DataFrame) -> dict[str, dict[str, pd.Series]]:
    """The shared indicators per ticker with plain pandas (rolling / ewm), as a user might write."""
    out = {}
    for ticker, rows in prices.groupby("ticker", sort=False):
        close, high, low = rows["close"], rows["high"], rows["low"]
        previous = close.shift()
        change = close.diff()
        gain = change.clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean()
        loss = (-change).clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean()
        true_range = pd.concat(
            [high - low, (high - previous).abs(), (low - previous).abs()], axis=1
        ).max(axis=1)
        mean, std = close.rolling(20).mean(), close.rolling(20).std(ddof=0)
        ema = {n: close.ewm(span=n, adjust=False).mean() for n in (12, 26)}
        out[ticker] = {
            **{f"sma_{n}": close.rolling(n).mean() / close - 1 for n in (5, 20, 50, 200)},
            **{f"ema_{n}": ema[n] / close - 1 for n in (12, 26)},
            "rsi_14": 100 * gain / (gain + loss),
            "atr_14": true_range.ewm(alpha=1 / 14, adjust=False).mean() / close,
            "bb_pctb_20": (close - mean + 2 * std) / (4 * std),
            "bb_width_20": 4 * std / mean,
            "roc_10": close.pct_change(10) * 100,
            "macd_line_12_26": (ema[12] - ema[26]) / close,
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"price file not found: {args.data} (pass --data PATH)", file=sys.stderr)
        return 2

    prices = pd.read_csv(args.data, parse_dates=["date"], dtype={"ticker": str})
    prices = prices.sort_values(["ticker", "date"], ignore_index=True)
    n_tickers, n_days = prices["ticker"].nunique(), prices["date"].nunique()
    newest = prices["date"].max()
    print(f"{args.data.name}: {len(prices):,} rows, {n_tickers} tickers x {n_days:,} days")
    print(f"cores: {os.cpu_count()}, factor threads: {compute.THREADS}, best of {args.repeat}\n")

    t_cold, _ = best_of(1, lambda: compute_factors(prices, TALIB_SHARED))
    t_full, full = best_of(args.repeat, lambda: compute_factors(prices))
    t_ours, _ = best_of(args.repeat, lambda: compute_factors(prices, TALIB_SHARED))
    t_arrays, _ = best_of(args.repeat, lambda: factor_arrays(prices, TALIB_SHARED))
    t_talib, _ = best_of(args.repeat, lambda: talib_loop(prices))
    t_pandas, _ = best_of(args.repeat, lambda: pandas_loop(prices))
    t_trim, window = best_of(args.repeat, lambda: trim_to_lookback(prices))
    t_day, day = best_of(args.repeat, lambda: compute_factors(window, since=newest))

    def canonical(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.astype({"ticker": str, "factor": str})
        return frame.sort_values(["ticker", "factor"], ignore_index=True)

    exact = canonical(day).equals(canonical(full[full["date"] == newest]))
    rows = [
        ("first call (cold)", t_cold, "TA-Lib indicators; loads or compiles the kernels"),
        ("full factor set", t_full, f"{full['factor'].nunique()} factors, {len(full):,} values"),
        ("TA-Lib indicators, ours", t_ours, f"{len(TALIB_SHARED)} indicators, long table"),
        ("  of which arrays only", t_arrays, "same computation, no long table"),
        ("TA-Lib indicators, TA-Lib loop", t_talib, f"{n_tickers} calls per indicator"),
        ("TA-Lib indicators, pandas loop", t_pandas, "rolling / ewm per ticker"),
        ("one-day update (compute)", t_day, f"{len(window):,} rows in, {len(day):,} values out"),
        ("one-day update (trim input)", t_trim, f"{required_lookback()} rows per ticker"),
    ]
    print(f"{'step':34s} {'seconds':>9s}  notes")
    for name, seconds, note in rows:
        print(f"{name:34s} {seconds:9.3f}  {note}")
    print()
    print(f"{'speed-up of ours (> 1: ours faster)':38s} {'long table':>10s} {'arrays only':>12s}")
    print(f"{'  vs the TA-Lib loop':38s} {t_talib / t_ours:10.2f} {t_talib / t_arrays:12.2f}")
    print(f"{'  vs the pandas loop':38s} {t_pandas / t_ours:10.2f} {t_pandas / t_arrays:12.2f}")
    print(f"one-day update vs full: {t_day / t_full:6.3f} of the full time")
    print(f"one-day update equals the full run on {newest.date()}: {exact}")
    if required_lookback() >= n_days:
        print(
            f"note: the longest lookback ({required_lookback()} rows, Baz MACD 32/96) exceeds the "
            f"{n_days:,}-day history, so the update reads every row here"
        )
    print()
    goals = [
        ("full set < 3 s", t_full < 3.0),
        ("faster than the TA-Lib loop", t_ours < t_talib),
        ("  (arrays only)", t_arrays < t_talib),
        ("one-day update < 0.5 s", t_day < 0.5),
        ("one-day update exact", exact),
    ]
    for goal, met in goals:
        print(f"goal {goal:30s} {'met' if met else 'NOT met'}")
    return 0 if exact else 1  # speed goals are reported; a wrong update is an error


if __name__ == "__main__":
    raise SystemExit(main())
