"""How much to trust a backtest: bootstrap intervals, cost sensitivity, out-of-sample hygiene.

* :func:`bootstrap_confidence_intervals`: stationary block bootstrap (Politis & Romano 1994) of
  daily returns, percentile intervals for Sharpe, CAGR and max drawdown;
* :func:`cost_sensitivity`: the same weights re-run through
  :func:`~quant_assets.backtest.run_backtest` at several fee levels;
* :func:`out_of_sample_rows`: keeps only the out-of-sample rows of walk-forward predictions
  and refuses any date that two windows would both report.

Statistics follow :mod:`quant_assets.backtest.metrics`: simple daily returns, 252 days a year,
risk-free rate 0, sample standard deviation, drawdowns as negative numbers.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from quant_assets.backtest.engine import run_backtest
from quant_assets.backtest.metrics import PERIODS_PER_YEAR, compute_metrics

__all__ = [
    "DEFAULT_FEES_BPS",
    "bootstrap_confidence_intervals",
    "cost_sensitivity",
    "out_of_sample_rows",
    "stationary_bootstrap_indices",
    "windows_from_splits",
]

DEFAULT_FEES_BPS: tuple[float, ...] = (0.0, 2.0, 5.0, 10.0, 20.0)
# Bootstrap statistic -> compute_metrics key of its point estimate.
_METRICS = {"sharpe": "sharpe", "cagr": "annual_return", "max_drawdown": "max_drawdown"}


def stationary_bootstrap_indices(
    n_obs: int, n_samples: int, mean_block_length: float, rng: np.random.Generator
) -> np.ndarray:
    """Resampling indices of the stationary bootstrap (Politis & Romano 1994).

    Each resample is a sequence of blocks laid end to end: a block starts at a uniformly drawn
    observation and runs forward (wrapping from the last observation to the first), and each
    next index starts a new block with probability ``1 / mean_block_length``, so block lengths
    are geometric with that mean and the resampled series is stationary.

    Parameters
    ----------
    n_obs : int
        Length of the series (and of each resample).
    n_samples : int
        Number of resamples.
    mean_block_length : float
        Expected block length in observations, at least 1 (1 = the iid bootstrap).
    rng : numpy.random.Generator
        Source of randomness (seed it for reproducible intervals).

    Returns
    -------
    numpy.ndarray of int64, shape (n_samples, n_obs)
    """
    if n_obs < 1 or n_samples < 1:
        raise ValueError("n_obs and n_samples must be positive")
    if mean_block_length < 1:
        raise ValueError("mean_block_length must be at least 1")
    new_block = rng.random((n_samples, n_obs)) < 1.0 / mean_block_length
    new_block[:, 0] = True
    starts = rng.integers(0, n_obs, size=(n_samples, n_obs))
    step = np.arange(n_obs)
    block_start = np.maximum.accumulate(np.where(new_block, step, 0), axis=1)
    first = np.take_along_axis(starts, block_start, axis=1)
    return (first + (step - block_start)) % n_obs


def bootstrap_confidence_intervals(
    returns: pd.Series,
    *,
    n_samples: int = 1000,
    mean_block_length: float | None = None,
    level: float = 0.95,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Percentile confidence intervals of Sharpe, CAGR and max drawdown by stationary bootstrap.

    Parameters
    ----------
    returns : pandas.Series
        Simple daily returns of the strategy (NaNs dropped).
    n_samples : int, default 1000
        Bootstrap resamples.
    mean_block_length : float, optional
        Mean block length in days; default ``n ** (1 / 3)`` (the optimal rate for the
        variance of a mean), at least 1. Longer blocks keep more autocorrelation and
        volatility clustering.
    level : float, default 0.95
        Two-sided coverage: the bounds are the ``(1 - level) / 2`` and ``(1 + level) / 2``
        quantiles of the resampled statistic.
    seed : int, optional
        Seed of ``numpy.random.default_rng``; the same seed gives the same intervals.

    Returns
    -------
    pandas.DataFrame
        One row per metric (``sharpe``: annualised; ``cagr``: compound annual growth;
        ``max_drawdown``: negative fraction) with columns ``metric, point, lower, upper,
        level``. ``point`` is :func:`~quant_assets.backtest.metrics.compute_metrics` of the
        original series.
    """
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    values = pd.Series(returns, dtype=np.float64).dropna().to_numpy()
    if len(values) < 2:
        raise ValueError("the bootstrap needs at least 2 returns")
    block = mean_block_length or max(1.0, len(values) ** (1.0 / 3.0))
    rng = np.random.default_rng(seed)
    samples = values[stationary_bootstrap_indices(len(values), n_samples, block, rng)]
    resampled = {
        "sharpe": _sharpe(samples),
        "cagr": _cagr(samples),
        "max_drawdown": _max_drawdown(samples),
    }
    point = compute_metrics(pd.Series(values))
    tail = (1.0 - level) / 2.0
    rows = [
        {
            "metric": name,
            "point": point[_METRICS[name]],
            "lower": float(np.nanquantile(stats, tail)),
            "upper": float(np.nanquantile(stats, 1.0 - tail)),
            "level": level,
        }
        for name, stats in resampled.items()
    ]
    return pd.DataFrame(rows, columns=["metric", "point", "lower", "upper", "level"])


def _sharpe(samples: np.ndarray) -> np.ndarray:
    std = samples.std(axis=1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(std > 0, samples.mean(axis=1) / std, np.nan) * np.sqrt(PERIODS_PER_YEAR)


def _cagr(samples: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):  # a -100 % day ends at -1
        log_growth = np.log1p(samples).sum(axis=1)
    return np.expm1(log_growth * PERIODS_PER_YEAR / samples.shape[1])


def _max_drawdown(samples: np.ndarray) -> np.ndarray:
    wealth = np.cumprod(1.0 + samples, axis=1)
    peaks = np.maximum(np.maximum.accumulate(wealth, axis=1), 1.0)  # the start counts as a peak
    return np.minimum((wealth / peaks - 1.0).min(axis=1), 0.0)


def cost_sensitivity(
    prices: pd.DataFrame,
    weights: pd.DataFrame,
    *,
    fees_bps: Iterable[float] = DEFAULT_FEES_BPS,
    initial_cash: float = 1_000_000.0,
    **backtest_kwargs: Any,
) -> pd.DataFrame:
    """Sharpe and annual return of one set of weights at several proportional fees.

    Each fee level is a fresh :func:`~quant_assets.backtest.run_backtest`, so costs feed back
    into equity, position sizes and the cash constraint as they would in the real book.

    Parameters
    ----------
    prices, weights : pandas.DataFrame
        As for :func:`~quant_assets.backtest.run_backtest` (wide; NaN weight = hold).
    fees_bps : iterable of float, default (0, 2, 5, 10, 20)
        Fees in basis points of traded notional.
    initial_cash : float, default 1e6
        Starting cash of every run.
    **backtest_kwargs
        Passed on to ``run_backtest`` (``slippage_bps``, ``execution``, ``overlays``, ...).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``fee_bps``; columns ``sharpe`` (annualised), ``annual_return`` (CAGR),
        ``annual_volatility``, ``max_drawdown`` and ``turnover`` (annualised traded notional
        over equity), from :func:`~quant_assets.backtest.metrics.compute_metrics`.
    """
    columns = ["sharpe", "annual_return", "annual_volatility", "max_drawdown", "turnover"]
    fees = [float(fee) for fee in fees_bps]
    rows = [
        run_backtest(
            prices, weights, fee_bps=fee, initial_cash=initial_cash, **backtest_kwargs
        ).metrics
        for fee in fees
    ]
    return pd.DataFrame(rows, columns=columns, index=pd.Index(fees, name="fee_bps"))


def windows_from_splits(splits: Sequence[Any], dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Out-of-sample date ranges of walk-forward splits, one row per split.

    Parameters
    ----------
    splits : sequence of quant_assets.models.Split
        Splits with ``test`` positions on ``dates``; splits without a test period are skipped.
    dates : pandas.DatetimeIndex
        The panel's date axis.

    Returns
    -------
    pandas.DataFrame
        Columns ``window`` (position in ``splits``), ``oos_start``, ``oos_end`` (inclusive).
    """
    rows = [
        {"window": i, "oos_start": dates[s.test[0]], "oos_end": dates[s.test[-1]]}
        for i, s in enumerate(splits)
        if len(s.test)
    ]
    return pd.DataFrame(rows, columns=["window", "oos_start", "oos_end"])


def out_of_sample_rows(
    frame: pd.DataFrame,
    windows: pd.DataFrame | Mapping[Hashable, tuple[Any, Any]],
    *,
    date_col: str = "date",
    window_col: str = "window",
    keys: Sequence[str] = ("ticker",),
) -> pd.DataFrame:
    """Only the out-of-sample rows of walk-forward output, each date from one window.

    A row is kept when its date lies in its own window's out-of-sample range (inclusive).
    The result must then hold every date from a single window and no row twice; otherwise a
    report would mix in-sample predictions or count a day twice, and this raises.

    Parameters
    ----------
    frame : pandas.DataFrame
        Long predictions or positions with a date column and a window-id column.
    windows : pandas.DataFrame or mapping
        ``window, oos_start, oos_end`` rows (as :func:`windows_from_splits`), or a mapping
        ``window id -> (oos_start, oos_end)``.
    date_col, window_col : str
        Names of the date and window-id columns of ``frame``.
    keys : sequence of str, default ("ticker",)
        Columns that with the date identify a row; those absent from ``frame`` are ignored,
        so a frame of one series per date needs no key.

    Returns
    -------
    pandas.DataFrame
        The kept rows, sorted by date and keys, with the columns of ``frame``.

    Raises
    ------
    ValueError
        If out-of-sample ranges overlap, a window id has no range, or a date would come from
        more than one window or appear twice for the same keys.
    """
    ranges = _oos_ranges(windows)
    unknown = set(frame[window_col].unique()) - set(ranges["window"])
    if unknown:
        raise ValueError(f"windows without an out-of-sample range: {sorted(unknown, key=str)}")
    tagged = frame.merge(ranges.rename(columns={"window": window_col}), on=window_col, how="left")
    dates = pd.to_datetime(tagged[date_col])
    inside = (dates >= tagged["oos_start"]) & (dates <= tagged["oos_end"])
    kept = frame.loc[inside.to_numpy()]
    windows_per_date = kept.groupby(date_col)[window_col].nunique()
    if (windows_per_date > 1).any():
        raise ValueError(f"dates in more than one window: {list(windows_per_date.index[:5])}")
    row_keys = [date_col, *(key for key in keys if key in frame.columns)]
    duplicated = kept.duplicated(subset=row_keys)
    if duplicated.any():
        repeated = kept.loc[duplicated, row_keys].head().to_dict("records")
        raise ValueError(f"rows repeated for {row_keys}: {repeated}")
    return kept.sort_values(row_keys, kind="stable").reset_index(drop=True)


def _oos_ranges(windows: pd.DataFrame | Mapping[Hashable, tuple[Any, Any]]) -> pd.DataFrame:
    if isinstance(windows, pd.DataFrame):
        ranges = windows[["window", "oos_start", "oos_end"]].copy()
    else:
        ranges = pd.DataFrame(
            [(w, start, end) for w, (start, end) in windows.items()],
            columns=["window", "oos_start", "oos_end"],
        )
    ranges["oos_start"] = pd.to_datetime(ranges["oos_start"])
    ranges["oos_end"] = pd.to_datetime(ranges["oos_end"])
    if ranges["window"].duplicated().any():
        raise ValueError("each window needs exactly one out-of-sample range")
    if (ranges["oos_end"] < ranges["oos_start"]).any():
        raise ValueError("an out-of-sample range ends before it starts")
    ordered = ranges.sort_values("oos_start")
    if (ordered["oos_start"].to_numpy()[1:] <= ordered["oos_end"].to_numpy()[:-1]).any():
        raise ValueError("out-of-sample ranges of different windows overlap")
    return ranges
