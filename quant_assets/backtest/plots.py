"""Figures of a backtest report, rendered off-screen to PNG bytes.

Every function takes equity curves, wide (DatetimeIndex x strategy, book value in any currency,
NaN before a strategy starts), and returns the PNG of one figure. Curves are compared as
*growth of 1*: each is divided by its own first value, so books of different sizes and start
dates share one axis. Daily returns are simple returns of consecutive equity values.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas, never through
``pyplot``: rendering holds no global state, leaks no open figures and needs no display.
"""

from __future__ import annotations

import io
from collections.abc import Hashable

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib import dates as mdates
from matplotlib import ticker as mticker
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from quant_assets.backtest.metrics import rolling_sharpe

__all__ = [
    "cost_sensitivity_png",
    "drawdown_png",
    "drawdowns",
    "equity_png",
    "rebase",
    "rolling_sharpe_png",
]

DPI = 100
FIGSIZE = (10.0, 4.6)  # inches: 1000 x 460 pixels at DPI
_BENCHMARK_STYLE = {"color": "0.2", "linestyle": "--", "linewidth": 1.3}


def rebase(curves: pd.DataFrame) -> pd.DataFrame:
    """Each column divided by its first non-NaN value (growth of 1 from its own start)."""
    return curves / curves.bfill().iloc[0]


def drawdowns(curves: pd.DataFrame) -> pd.DataFrame:
    """Fractional distance below the running peak of each column (0 at a peak, negative below)."""
    return curves / curves.cummax() - 1.0


def equity_png(
    equity: pd.DataFrame, benchmark: pd.Series | None = None, *, log_scale: bool = False
) -> bytes:
    """Growth of 1 of every strategy, and of the benchmark over the same dates (dashed)."""
    fig, ax = _figure("Out-of-sample equity, growth of 1")
    growth = rebase(equity)
    handles = _plot_lines(ax, growth)
    plotted = [growth.to_numpy(dtype=float).ravel()]
    bench = _benchmark_window(benchmark, equity)
    if bench is not None:
        bench_growth = rebase(bench.to_frame()).iloc[:, 0]
        handles.append(_plot_benchmark(ax, bench_growth))
        plotted.append(bench_growth.to_numpy(dtype=float))
    ax.axhline(1.0, color="0.6", linewidth=0.8)
    if log_scale:
        _log_axis(ax, np.concatenate(plotted))
    ax.set_ylabel("growth of 1" + (" (log scale)" if log_scale else ""))
    _legend(ax, handles)
    return _png(fig)


def drawdown_png(equity: pd.DataFrame, benchmark: pd.Series | None = None) -> bytes:
    """Underwater curves: each strategy's drawdown from its running peak, shaded to zero."""
    fig, ax = _figure("Drawdown from running peak")
    underwater = drawdowns(equity)
    handles = _plot_lines(ax, underwater, linewidth=1.0)
    for (line, _), name in zip(handles, underwater.columns, strict=True):
        ax.fill_between(
            underwater.index,
            underwater[name].to_numpy(),
            0.0,
            color=line.get_color(),
            alpha=0.1,
            linewidth=0,
        )
    bench = _benchmark_window(benchmark, equity)
    if bench is not None:
        handles.append(_plot_benchmark(ax, drawdowns(bench.to_frame()).iloc[:, 0]))
    ax.set_ylim(top=0.0)
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.set_ylabel("drawdown")
    _legend(ax, handles)
    return _png(fig)


def rolling_sharpe_png(
    equity: pd.DataFrame, benchmark: pd.Series | None = None, *, window: int = 126
) -> bytes:
    """Annualised Sharpe ratio over a trailing ``window`` of trading days (risk-free 0)."""
    fig, ax = _figure(f"Rolling Sharpe ratio, {window} trading days, annualised")
    returns = equity.pct_change(fill_method=None)
    handles = _plot_lines(ax, returns.apply(rolling_sharpe, window=window), linewidth=1.1)
    bench = _benchmark_window(benchmark, equity)
    if bench is not None:
        sharpe = rolling_sharpe(bench.pct_change(fill_method=None), window=window)
        handles.append(_plot_benchmark(ax, sharpe.rename(bench.name)))
    ax.axhline(0.0, color="0.4", linewidth=0.8)
    ax.set_ylabel("Sharpe ratio")
    _legend(ax, handles)
    return _png(fig)


def cost_sensitivity_png(sharpe_by_fee: pd.DataFrame) -> bytes:
    """Sharpe ratio of each strategy (columns) against the fee in basis points (index)."""
    fig, ax = _figure("Sharpe ratio against trading fee")
    table = sharpe_by_fee.sort_index()
    colors = _colors(table.shape[1])
    handles = [
        (ax.plot(table.index, table[name], marker="o", color=color, linewidth=1.4)[0], name)
        for name, color in zip(table.columns, colors, strict=True)
    ]
    ax.axhline(0.0, color="0.4", linewidth=0.8)
    ax.set_xticks(table.index.to_numpy(dtype=float))
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda x, _: f"{x:g}"))
    ax.set_xlabel("fee, basis points of traded notional")
    ax.set_ylabel("Sharpe ratio")
    _legend(ax, handles)
    return _png(fig)


def _log_axis(ax: Axes, values: np.ndarray) -> None:
    """Log y axis with plain-number ticks: evenly spaced values over a narrow range (under 4x),
    1-2-5 steps over a wide one."""
    ax.set_yscale("log")
    positive = values[np.isfinite(values) & (values > 0)]
    narrow = positive.size > 0 and positive.max() < 4.0 * positive.min()
    locator = mticker.MaxNLocator(nbins=6) if narrow else mticker.LogLocator(subs=(1.0, 2.0, 5.0))
    ax.yaxis.set_major_locator(locator)
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda y, _: f"{y:g}"))
    ax.yaxis.set_minor_formatter(mticker.NullFormatter())


def _figure(title: str) -> tuple[Figure, Axes]:
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title, loc="left", fontsize="medium")
    ax.grid(alpha=0.3, linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _plot_lines(
    ax: Axes, curves: pd.DataFrame, *, linewidth: float = 1.4
) -> list[tuple[Artist, Hashable]]:
    """One line per column, coloured in column order; returns (line, column name) pairs."""
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    colors = _colors(curves.shape[1])
    return [
        (ax.plot(curves.index, curves[name].to_numpy(), color=color, linewidth=linewidth)[0], name)
        for name, color in zip(curves.columns, colors, strict=True)
    ]


def _colors(n: int) -> list[tuple[float, float, float, float]]:
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _legend(ax: Axes, handles: list[tuple[Artist, Hashable]]) -> None:
    """Legend below the axes, where it never hides a line, in columns of up to four names."""
    # Handles and labels are passed explicitly: matplotlib drops labels starting with "_"
    # otherwise, and "$" would switch a strategy name into mathtext.
    labels = [str(name).replace("$", r"\$") for _, name in handles]
    ax.figure.legend(
        [artist for artist, _ in handles],
        labels,
        loc="outside lower center",
        fontsize="small",
        ncol=min(len(labels), 4),
        frameon=False,
    )


def _benchmark_window(benchmark: pd.Series | None, equity: pd.DataFrame) -> pd.Series | None:
    """The benchmark on the strategies' date span, NaNs dropped; None if nothing is left."""
    if benchmark is None:
        return None
    dates = equity.dropna(how="all").index
    if dates.empty:
        return None
    bench = pd.Series(benchmark, dtype=np.float64).sort_index().loc[dates[0] : dates[-1]].dropna()
    return bench if len(bench) else None


def _plot_benchmark(ax: Axes, series: pd.Series) -> tuple[Artist, str]:
    """A dashed grey line labelled with the benchmark's name."""
    (line,) = ax.plot(series.index, series.to_numpy(), **_BENCHMARK_STYLE)
    return line, (f"{series.name} (benchmark)" if series.name is not None else "benchmark")


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
