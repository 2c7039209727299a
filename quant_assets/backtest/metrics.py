"""Performance and risk statistics of a daily return series.

Conventions, shared by every function here:

* Inputs are **simple** (not log) returns per bar, one bar per trading day. NaNs are dropped.
* Annualisation uses ``PERIODS_PER_YEAR = 252``: means scale by 252, volatilities by
  ``sqrt(252)``, and compound growth is annualised over ``len(returns) / 252`` years.
* The risk-free rate is 0; Sharpe and Sortino are therefore on raw returns.
* Standard deviations are sample ones (``ddof=1``) unless said otherwise.
* Losses are reported as negative numbers (max drawdown, VaR, CVaR, worst day, average loss).

Definitions follow empyrical where it has the statistic, so results agree with it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["PERIODS_PER_YEAR", "compute_metrics", "monthly_returns_table", "rolling_sharpe"]

PERIODS_PER_YEAR = 252
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def compute_metrics(
    returns: pd.Series,
    benchmark: pd.Series | None = None,
    *,
    weights: pd.DataFrame | None = None,
    turnover: pd.Series | None = None,
) -> dict[str, float]:
    """Summary statistics of a daily return series, keyed in snake_case.

    Parameters
    ----------
    returns : pandas.Series
        Simple daily returns, indexed by date (calendar statistics need a DatetimeIndex).
    benchmark : pandas.Series, optional
        Simple daily benchmark returns; aligned on dates, keeping days where both are known.
    weights : pandas.DataFrame, optional
        Held weights per day (dates x tickers, fractions of equity) for the exposure statistics.
    turnover : pandas.Series, optional
        Traded notional (buys plus sells) per day as a fraction of that day's equity.

    Returns
    -------
    dict of str to float
        Always the same keys; a statistic that is undefined for the input (no benchmark, no
        losing day, ...) is NaN. Durations are counted in bars.

        * returns: ``total_return``, ``annual_return`` (CAGR), ``best_day``, ``worst_day``,
          ``best_month``, ``worst_month``, ``monthly_hit_rate``, ``n_days``
        * risk: ``annual_volatility``, ``downside_risk`` (root mean square of the negative
          returns, annualised), ``var_95``/``var_99`` (historical: the 5 % / 1 % quantile,
          linearly interpolated), ``cvar_95``/``cvar_99`` (mean of the
          ``floor((n - 1) * alpha) + 1`` lowest returns), ``skew``, ``kurtosis`` (excess;
          both population moments, as ``scipy.stats``), ``tail_ratio`` (``|q95| / |q5|``)
        * risk-adjusted: ``sharpe``, ``sortino`` (mean × 252 over ``downside_risk``),
          ``calmar`` (``annual_return / |max_drawdown|``), ``omega`` (threshold 0),
          ``stability`` (R² of cumulative log returns on time)
        * drawdown: ``max_drawdown``, ``max_drawdown_duration`` (bars from the peak before
          the deepest trough to recovery, or to the last bar if not recovered),
          ``max_drawdown_recovery`` (bars from that trough to recovery; NaN if not recovered),
          ``longest_drawdown`` (longest spell below a previous peak)
        * trading days: ``hit_rate`` (share of positive days among non-zero days),
          ``profit_factor`` (sum of gains over sum of losses), ``avg_win``, ``avg_loss``,
          ``win_loss_ratio``
        * benchmark: ``alpha`` (``(1 + mean(r - beta * b)) ** 252 - 1``), ``beta``,
          ``correlation``, ``tracking_error`` (annualised std of ``r - b``),
          ``information_ratio`` (annualised mean over std of ``r - b``), ``up_capture`` and
          ``down_capture`` (CAGR of the strategy over CAGR of the benchmark on the days the
          benchmark rose / fell), ``capture_ratio`` (up over down), ``excess_return``
          (difference of CAGRs)
        * book: ``turnover`` (mean daily turnover × 252), ``gross_exposure`` and
          ``net_exposure`` (mean daily sum of absolute / signed weights), ``exposure_time``
          (share of days with a position)
    """
    r = pd.Series(returns, dtype=np.float64).dropna()
    values = r.to_numpy()
    metrics: dict[str, float] = {"n_days": float(len(values))}
    metrics.update(_return_metrics(values))
    metrics.update(_risk_metrics(values))
    metrics.update(_drawdown_metrics(values))
    metrics.update(_day_metrics(values))
    metrics.update(_calendar_metrics(r))
    metrics.update(_benchmark_metrics(r, benchmark))
    metrics.update(_book_metrics(weights, turnover))
    return {key: float(value) for key, value in metrics.items()}


def monthly_returns_table(returns: pd.Series) -> pd.DataFrame:
    """Compounded returns by calendar month: one row per year, ``Jan`` .. ``Dec`` and ``year``.

    Parameters
    ----------
    returns : pandas.Series
        Simple daily returns with a DatetimeIndex.

    Returns
    -------
    pandas.DataFrame
        NaN for months without data; ``year`` compounds the months present.
    """
    r = pd.Series(returns, dtype=np.float64).dropna()
    growth = (1.0 + r).groupby([r.index.year, r.index.month]).prod() - 1.0
    table = growth.unstack().reindex(columns=range(1, 13))
    table.columns = list(_MONTHS)
    table["year"] = (1.0 + r).groupby(r.index.year).prod() - 1.0
    table.index.name = "year"
    return table


def rolling_sharpe(returns: pd.Series, window: int = 126) -> pd.Series:
    """Annualised Sharpe ratio over a trailing window of ``window`` bars (risk-free 0).

    The first ``window - 1`` values are NaN; windows with zero volatility are NaN.
    """
    r = pd.Series(returns, dtype=np.float64)
    rolling = r.rolling(window)
    std = rolling.std(ddof=1)
    sharpe = rolling.mean() / std.where(std > 0) * np.sqrt(PERIODS_PER_YEAR)
    return sharpe.rename("rolling_sharpe")


def _cagr(values: np.ndarray) -> float:
    if len(values) == 0:
        return np.nan
    growth = np.prod(1.0 + values)
    return growth ** (PERIODS_PER_YEAR / len(values)) - 1.0


def _ratio(numerator: float, denominator: float) -> float:
    if not np.isfinite(denominator) or denominator == 0:
        return np.nan
    return numerator / denominator


def _return_metrics(values: np.ndarray) -> dict[str, float]:
    empty = len(values) == 0
    return {
        "total_return": np.nan if empty else float(np.prod(1.0 + values) - 1.0),
        "annual_return": _cagr(values),
        "best_day": np.nan if empty else float(values.max()),
        "worst_day": np.nan if empty else float(values.min()),
    }


def _std(values: np.ndarray) -> float:
    if len(values) < 2:
        return np.nan
    return 0.0 if values.min() == values.max() else float(np.std(values, ddof=1))


def _downside_risk(values: np.ndarray) -> float:
    if len(values) == 0:
        return np.nan
    return float(np.sqrt(np.mean(np.minimum(values, 0.0) ** 2)) * np.sqrt(PERIODS_PER_YEAR))


def _risk_metrics(values: np.ndarray) -> dict[str, float]:
    std = _std(values)
    mean = float(values.mean()) if len(values) else np.nan
    downside = _downside_risk(values)
    gains, losses = values[values > 0].sum(), -values[values < 0].sum()
    return {
        "annual_volatility": std * np.sqrt(PERIODS_PER_YEAR),
        "sharpe": _ratio(mean, std) * np.sqrt(PERIODS_PER_YEAR),
        "sortino": _ratio(mean * PERIODS_PER_YEAR, downside),
        "downside_risk": downside,
        "omega": _ratio(gains, losses) if len(values) > 1 else np.nan,
        "stability": _stability(values),
        **_tail_metrics(values),
    }


def _tail_metrics(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        keys = ("var_95", "var_99", "cvar_95", "cvar_99", "tail_ratio", "skew", "kurtosis")
        return dict.fromkeys(keys, np.nan)
    q5, q95 = np.percentile(values, [5, 95])
    centred = values - values.mean()
    m2 = np.mean(centred**2)
    return {
        "var_95": float(q5),
        "var_99": float(np.percentile(values, 1)),
        "cvar_95": _cvar(values, 0.05),
        "cvar_99": _cvar(values, 0.01),
        "tail_ratio": _ratio(abs(q95), abs(q5)),
        "skew": _ratio(np.mean(centred**3), m2**1.5),
        "kurtosis": _ratio(np.mean(centred**4), m2**2) - 3.0,
    }


def _cvar(values: np.ndarray, alpha: float) -> float:
    k = int((len(values) - 1) * alpha)
    return float(np.mean(np.partition(values, k)[: k + 1]))


def _stability(values: np.ndarray) -> float:
    if len(values) < 2:
        return np.nan
    cum_log = np.cumsum(np.log1p(values))
    if cum_log.min() == cum_log.max():
        return np.nan
    corr = np.corrcoef(np.arange(len(cum_log)), cum_log)[0, 1]
    return float(corr**2)


def _drawdown_metrics(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        keys = ("max_drawdown", "max_drawdown_duration", "max_drawdown_recovery")
        return dict.fromkeys((*keys, "longest_drawdown", "calmar"), np.nan)
    wealth = np.concatenate(([1.0], np.cumprod(1.0 + values)))
    peaks = np.maximum.accumulate(wealth)
    drawdown = wealth / peaks - 1.0
    trough = int(np.argmin(drawdown))
    max_dd = float(drawdown[trough])
    peak = int(np.argmax(wealth[: trough + 1]))
    recovered = np.flatnonzero(wealth[trough:] >= wealth[peak])
    recovery = trough + int(recovered[0]) if len(recovered) else None
    last = len(wealth) - 1
    return {
        "max_drawdown": max_dd,
        "max_drawdown_duration": float((last if recovery is None else recovery) - peak),
        "max_drawdown_recovery": np.nan if recovery is None else float(recovery - trough),
        "longest_drawdown": float(_longest_run(drawdown < 0)),
        "calmar": _ratio(_cagr(values), abs(max_dd)) if max_dd < 0 else np.nan,
    }


def _longest_run(flags: np.ndarray) -> int:
    """Length of the longest run of True in ``flags``."""
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max()) if len(edges) else 0


def _day_metrics(values: np.ndarray) -> dict[str, float]:
    wins, losses = values[values > 0], values[values < 0]
    avg_win = float(wins.mean()) if len(wins) else np.nan
    avg_loss = float(losses.mean()) if len(losses) else np.nan
    traded = len(wins) + len(losses)
    return {
        "hit_rate": len(wins) / traded if traded else np.nan,
        "profit_factor": _ratio(wins.sum(), -losses.sum()) if traded else np.nan,
        "avg_win": avg_win,
        "avg_loss": avg_loss,
        "win_loss_ratio": _ratio(avg_win, abs(avg_loss)),
    }


def _calendar_metrics(returns: pd.Series) -> dict[str, float]:
    if not isinstance(returns.index, pd.DatetimeIndex) or returns.empty:
        return dict.fromkeys(("best_month", "worst_month", "monthly_hit_rate"), np.nan)
    index = returns.index
    monthly = (1.0 + returns).groupby([index.year, index.month]).prod() - 1.0
    return {
        "best_month": float(monthly.max()),
        "worst_month": float(monthly.min()),
        "monthly_hit_rate": float((monthly > 0).mean()),
    }


_BENCHMARK_KEYS = (
    "alpha",
    "beta",
    "correlation",
    "tracking_error",
    "information_ratio",
    "up_capture",
    "down_capture",
    "capture_ratio",
    "excess_return",
)


def _benchmark_metrics(returns: pd.Series, benchmark: pd.Series | None) -> dict[str, float]:
    if benchmark is None:
        return dict.fromkeys(_BENCHMARK_KEYS, np.nan)
    both = pd.concat([returns, pd.Series(benchmark, dtype=np.float64)], axis=1, join="inner")
    both = both.dropna()
    r, b = both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy()
    if len(r) < 2:
        return dict.fromkeys(_BENCHMARK_KEYS, np.nan)
    b_centred = b - b.mean()
    variance = np.mean(b_centred**2)
    beta = np.mean(b_centred * r) / variance if variance >= 1e-30 else np.nan
    active = r - b
    active_std = _std(active)
    up, down = b > 0, b < 0
    up_capture = _ratio(_cagr(r[up]), _cagr(b[up]))
    down_capture = _ratio(_cagr(r[down]), _cagr(b[down]))
    return {
        "alpha": (1.0 + np.mean(r - beta * b)) ** PERIODS_PER_YEAR - 1.0,
        "beta": beta,
        "correlation": float(np.corrcoef(r, b)[0, 1]) if _std(r) and _std(b) else np.nan,
        "tracking_error": active_std * np.sqrt(PERIODS_PER_YEAR),
        "information_ratio": _ratio(active.mean(), active_std) * np.sqrt(PERIODS_PER_YEAR),
        "up_capture": up_capture,
        "down_capture": down_capture,
        "capture_ratio": _ratio(up_capture, down_capture),
        "excess_return": _cagr(r) - _cagr(b),
    }


def _book_metrics(weights: pd.DataFrame | None, turnover: pd.Series | None) -> dict[str, float]:
    metrics = dict.fromkeys(("turnover", "gross_exposure", "net_exposure", "exposure_time"), np.nan)
    if turnover is not None and len(turnover.dropna()):
        metrics["turnover"] = float(turnover.dropna().mean() * PERIODS_PER_YEAR)
    if weights is not None and len(weights):
        w = weights.to_numpy(dtype=np.float64)
        if np.isnan(w).any():
            w = np.nan_to_num(w, nan=0.0)
        gross = np.abs(w).sum(axis=1)
        metrics["gross_exposure"] = float(gross.mean())
        metrics["net_exposure"] = float(w.sum(axis=1).mean())
        metrics["exposure_time"] = float((gross > 0).mean())
    return metrics
