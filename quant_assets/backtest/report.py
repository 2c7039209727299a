"""A self-contained HTML report of out-of-sample backtests, and its Markdown summary.

:func:`render_report` writes two files into a folder: ``report.html``, with every figure inlined
as a base64 PNG and its CSS inline (no script, no network access when opened), and
``equity.png``, the equity figure alone, for the Dagster UI. :func:`metrics_markdown` gives the
key metrics as a Markdown table for asset metadata. Nothing here knows about Dagster.

Numbers follow :mod:`quant_assets.backtest.metrics`: returns, volatilities, drawdowns, rates
and exposures are fractions, shown as percentages; ratios show two decimals; durations are
counts of trading days. Every string that comes from the inputs (title, strategy names, metric
names, lineage, notes) is HTML-escaped.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import os
import tempfile
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps

from quant_assets.backtest import plots
from quant_assets.backtest.metrics import monthly_returns_table

__all__ = [
    "KEY_METRICS",
    "SECTIONS",
    "ReportFiles",
    "ReportInputs",
    "format_metric",
    "metric_label",
    "metrics_markdown",
    "render_report",
    "training_state_table",
    "withhold_unconverged",
]

KEY_METRICS = (
    "annual_return",
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "turnover",
    "hit_rate",
)
"""The curated metrics shown first, in this order."""

SECTIONS = {
    "key-metrics": "Key metrics",
    "equity": "Equity vs benchmark",
    "drawdowns": "Drawdowns",
    "monthly-returns": "Monthly returns",
    "rolling-sharpe": "Rolling Sharpe",
    "cost-sensitivity": "Cost sensitivity",
    "monte-carlo": "Monte Carlo intervals",
    "all-metrics": "All metrics",
    "lineage": "Lineage",
}
"""HTML ``id`` and heading of every section, in report order (a ``notes`` section follows
when notes are given; an ``importance`` section, :data:`IMPORTANCE_SECTION`, before
``lineage`` when factor importance is given)."""

IMPORTANCE_SECTION = ("importance", "What drives each model")
TRAINING_SECTION = ("training-state", "Training state")
WITHHELD_SECTION = ("not-results", "Not results: models that did not converge")
RESULT = "result"
TRAINING_STATE_COLUMNS = (
    "model", "family", "windows", "seeds", "epochs_mean", "epochs_max", "converged_windows",
    "beat_init_seeds", "seed_runs", "status",
)  # fmt: skip
# Factors shown per model and method in the importance section.
TOP_FACTORS = 5

MONTE_CARLO_COLUMNS = ("strategy", "metric", "point", "lower", "upper", "level")

_PERCENT = frozenset({
    "total_return", "annual_return", "best_day", "worst_day", "best_month", "worst_month",
    "monthly_hit_rate", "annual_volatility", "downside_risk", "var_95", "var_99", "cvar_95",
    "cvar_99", "max_drawdown", "hit_rate", "avg_win", "avg_loss", "alpha", "tracking_error",
    "excess_return", "turnover", "gross_exposure", "net_exposure", "exposure_time",
})  # fmt: skip
_DAYS = frozenset({
    "n_days", "max_drawdown_duration", "max_drawdown_recovery", "longest_drawdown",
})  # fmt: skip
_LABELS = {
    "annual_volatility": "Volatility",
    "turnover": "Turnover (annual)",
    "n_days": "Trading days",
    "var_95": "VaR 95%",
    "var_99": "VaR 99%",
    "cvar_95": "CVaR 95%",
    "cvar_99": "CVaR 99%",
    "cagr": "CAGR",
}


@dataclass(frozen=True, kw_only=True)
class ReportInputs:
    """Everything a backtest report shows.

    Attributes
    ----------
    title : str
        Heading of the report.
    equity : pandas.DataFrame
        Out-of-sample equity curves, DatetimeIndex x strategy name, in any currency; NaN before
        a strategy starts. Curves are rebased to 1 in the figures.
    benchmark : pandas.Series, optional
        Benchmark equity or price (DatetimeIndex); cut to the strategies' dates and rebased.
    metrics : pandas.DataFrame
        One row per strategy (models and baselines), one column per metric, named as the keys
        of :func:`~quant_assets.backtest.metrics.compute_metrics`; unknown metrics show two
        decimals.
    cost_sensitivity : pandas.DataFrame
        Sharpe ratio by fee: index fee in basis points (e.g. 0, 2, 5, 10, 20), columns strategy.
    monte_carlo : pandas.DataFrame
        Confidence intervals, one row each: ``strategy``, ``metric``, ``point``, ``lower``,
        ``upper`` and ``level`` (a fraction such as 0.95).
    lineage : dict of str to str
        What produced the report (model versions, MLflow run ids, data dates, partition keys,
        Dagster run id), shown as a two-column table in insertion order.
    notes : list of str
        Free-text remarks shown at the end.
    importance : pandas.DataFrame, optional
        Factor importance averaged over the walk-forward windows, one row per ``model``,
        ``method`` (``"permutation"``: drop in test Sharpe when the factor is shuffled;
        ``"shap"``: mean |SHAP|) and ``factor``, with ``importance`` and ``windows``
        (``load_model_importance``); shown as :data:`IMPORTANCE_SECTION`.
    training_state : pandas.DataFrame, optional
        One row per model (:func:`training_state_table`): how it was trained and whether its
        numbers are a result; shown as :data:`TRAINING_SECTION`.
    withheld : pandas.DataFrame, optional
        Metrics (as ``metrics``) of the strategies whose model is not a result (did not
        converge), kept out of every other table and figure (:func:`withhold_unconverged`) and
        shown only in :data:`WITHHELD_SECTION`, flagged.
    """

    title: str
    equity: pd.DataFrame
    benchmark: pd.Series | None = None
    metrics: pd.DataFrame
    cost_sensitivity: pd.DataFrame
    monte_carlo: pd.DataFrame
    lineage: Mapping[str, str]
    notes: Sequence[str] = field(default_factory=list)
    importance: pd.DataFrame | None = None
    training_state: pd.DataFrame | None = None
    withheld: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.equity.index, pd.DatetimeIndex) or self.equity.empty:
            raise ValueError("equity must be a non-empty DataFrame with a DatetimeIndex")
        if self.benchmark is not None and not isinstance(self.benchmark.index, pd.DatetimeIndex):
            raise ValueError("benchmark must have a DatetimeIndex")
        missing = set(MONTE_CARLO_COLUMNS) - set(self.monte_carlo.columns)
        if len(self.monte_carlo.columns) and missing:
            raise ValueError(f"monte_carlo lacks columns {sorted(missing)}")


@dataclass(frozen=True)
class ReportFiles:
    """Paths written by :func:`render_report`."""

    html: Path
    equity_png: Path


def render_report(
    inputs: ReportInputs,
    out_dir: str | Path,
    *,
    log_scale: bool = False,
    rolling_window: int = 126,
) -> ReportFiles:
    """Write ``report.html`` and ``equity.png`` into ``out_dir`` (created if missing).

    Both files are rendered in memory first and each replaces its predecessor atomically
    (temporary file in ``out_dir``, then :func:`os.replace`), so a reader or a killed run never
    sees half a file. Rendering the same inputs again gives the same bytes.

    Parameters
    ----------
    inputs : ReportInputs
        What to show.
    out_dir : str or pathlib.Path
        Folder for the two files.
    log_scale : bool, default False
        Draw the equity figure on a logarithmic axis.
    rolling_window : int, default 126
        Trading days in the rolling Sharpe window (126 is about six months).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    equity_png = plots.equity_png(inputs.equity, inputs.benchmark, log_scale=log_scale)
    page = _page(inputs, equity_png, rolling_window=rolling_window)
    files = ReportFiles(html=out_dir / "report.html", equity_png=out_dir / "equity.png")
    _write_atomic(files.equity_png, equity_png)
    _write_atomic(files.html, page.encode("utf-8"))
    return files


def metrics_markdown(metrics: pd.DataFrame, columns: Sequence[str] = KEY_METRICS) -> str:
    """Markdown table of ``columns`` of ``metrics``, one row per strategy (its index).

    Values are formatted as in the HTML report; a metric absent from ``metrics`` shows as a
    dash. Strategy names are escaped so that ``|``, ``<`` and newlines cannot break the table.
    """
    columns = list(columns)
    table = metrics.reindex(columns=columns)
    lines = [
        _markdown_row(["Strategy", *map(metric_label, columns)]),
        "| --- |" + " ---: |" * len(columns),
    ]
    lines += [
        _markdown_row([strategy, *(format_metric(name, row[name]) for name in columns)])
        for strategy, row in zip(table.index, table.to_dict("records"), strict=True)
    ]
    return "\n".join(lines)


def format_metric(name: str, value: object) -> str:
    """``value`` of metric ``name`` as text: percent, whole days or two decimals; NaN is "–"."""
    if isinstance(value, str):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if np.isnan(number):
        return "–"
    if name in _PERCENT:
        return f"{number:,.2%}"
    if name in _DAYS:
        return f"{number:,.0f}"
    return f"{number:,.2f}"


def metric_label(name: str) -> str:
    """Column heading of a metric: ``annual_return`` becomes "Annual return"."""
    label = _LABELS.get(name, str(name).replace("_", " ").capitalize())
    return f"{label} (days)" if name in _DAYS and name != "n_days" else label


def training_state_table(state: pd.DataFrame) -> pd.DataFrame:
    """One row per model (:data:`TRAINING_STATE_COLUMNS`) from its model x window rows.

    ``state``: ``model, family, window`` and the training state of each window
    (``seeds, epochs_run`` (mean over seeds), ``epochs_run_max, converged, converged_seeds,
    beat_init_seeds``; ``load_training_state``). ``status`` is :data:`RESULT` for fitted
    forecasters, ensembles and rules, and for a network whose every window converged (every
    seed stopped early) with most seeds beating the untrained network; otherwise it says why
    the model is not a result (state not recorded, did not converge, no better than init).
    """
    rows = []
    for (model, family), group in state.groupby(["model", "family"], sort=True):
        rows.append({"model": model, "family": family, **_state_of(family, group)})
    return pd.DataFrame(rows, columns=list(TRAINING_STATE_COLUMNS))


def _state_of(family: str, windows: pd.DataFrame) -> dict:
    count = len(windows)
    if family != "network":
        return {"windows": count, "seeds": np.nan, "epochs_mean": np.nan, "epochs_max": np.nan,
                "converged_windows": np.nan, "beat_init_seeds": np.nan, "seed_runs": np.nan,
                "status": RESULT if family != "rule" else f"{RESULT} (rule, not trained)"}  # fmt: skip
    seeds = pd.to_numeric(windows["seeds"], errors="coerce")
    runs = float(seeds.sum()) if seeds.notna().all() else np.nan
    epochs = pd.to_numeric(windows["epochs_run"], errors="coerce")
    converged = windows["converged"].map(lambda v: bool(v) if pd.notna(v) else False)
    beat = pd.to_numeric(windows["beat_init_seeds"], errors="coerce")
    if seeds.isna().any() or epochs.isna().any():
        status = "not a result: training state not recorded"
    elif not converged.all():
        status = f"not a result: {int((~converged).sum())} of {count} windows did not converge"
    elif not (beat > seeds / 2).all():
        status = "not a result: most seeds no better than the untrained network"
    else:
        status = RESULT
    return {
        "windows": count,
        "seeds": seeds.max(),
        "epochs_mean": float((epochs * seeds).sum() / seeds.sum()) if runs == runs else np.nan,
        "epochs_max": pd.to_numeric(windows["epochs_run_max"], errors="coerce").max(),
        "converged_windows": int(converged.sum()),
        "beat_init_seeds": beat.sum() if beat.notna().all() else np.nan,
        "seed_runs": runs,
        "status": status,
    }


def withhold_unconverged(
    inputs: ReportInputs, training_state: pd.DataFrame, strategy_models: Mapping[str, str]
) -> ReportInputs:
    """``inputs`` with every strategy whose model is not a result moved to ``withheld``.

    ``training_state``: :func:`training_state_table`; ``strategy_models``: the model behind
    each strategy (a strategy of no listed model, e.g. the benchmark, stays). The withheld
    strategies leave the equity curves, metrics, cost sweep and intervals; when none would
    remain, they stay in the figures under a ``[not a result]`` name instead.
    """
    failed = set(training_state.loc[~training_state["status"].str.startswith(RESULT), "model"])
    out = [s for s in inputs.metrics.index if strategy_models.get(s) in failed]
    if not out:
        return dataclasses.replace(inputs, training_state=training_state)
    keep = [s for s in inputs.equity.columns if s not in out]
    if not keep:
        renamed = {s: f"{s} [not a result]" for s in out}
        return dataclasses.replace(
            inputs,
            equity=inputs.equity.rename(columns=renamed),
            metrics=inputs.metrics.rename(index=renamed),
            cost_sensitivity=inputs.cost_sensitivity.rename(columns=renamed),
            monte_carlo=inputs.monte_carlo.replace({"strategy": renamed}),
            training_state=training_state,
        )
    return dataclasses.replace(
        inputs,
        equity=inputs.equity[keep],
        metrics=inputs.metrics.drop(index=out),
        cost_sensitivity=inputs.cost_sensitivity.drop(columns=out, errors="ignore"),
        monte_carlo=inputs.monte_carlo[~inputs.monte_carlo["strategy"].isin(out)],
        training_state=training_state,
        withheld=inputs.metrics.loc[out],
    )


# --------------------------------------------------------------------------- page


def _page(inputs: ReportInputs, equity_png: bytes, *, rolling_window: int) -> str:
    equity = inputs.equity
    bodies = {
        "key-metrics": _key_metrics(inputs.metrics),
        "equity": _image(equity_png, "Equity curves against the benchmark"),
        "drawdowns": _image(plots.drawdown_png(equity, inputs.benchmark), "Drawdowns"),
        "monthly-returns": _monthly_returns(equity),
        "rolling-sharpe": _image(
            plots.rolling_sharpe_png(equity, inputs.benchmark, window=rolling_window),
            f"Rolling Sharpe ratio over {rolling_window} trading days",
        ),
        "cost-sensitivity": _cost_sensitivity(inputs.cost_sensitivity),
        "monte-carlo": _monte_carlo(inputs.monte_carlo),
        "all-metrics": _all_metrics(inputs.metrics),
        "lineage": _lineage(inputs.lineage),
    }
    sections = [(key, SECTIONS[key], body) for key, body in bodies.items()]
    extra = []
    if inputs.training_state is not None and len(inputs.training_state):
        extra.append((*TRAINING_SECTION, _training_state(inputs.training_state)))
    if inputs.withheld is not None and len(inputs.withheld):
        extra.append((*WITHHELD_SECTION, _withheld(inputs.withheld)))
    sections[1:1] = extra
    if inputs.importance is not None and len(inputs.importance):
        key, title = IMPORTANCE_SECTION
        sections.insert(len(sections) - 1, (key, title, _importance(inputs.importance)))
    if inputs.notes:
        items = "".join(f"<li>{_esc(note)}</li>" for note in inputs.notes)
        sections.append(("notes", "Notes", f"<ul>{items}</ul>"))
    nav = " ".join(f'<a href="#{key}">{_esc(title)}</a>' for key, title, _ in sections)
    content = "\n".join(
        f'<section id="{key}">\n<h2>{_esc(title)}</h2>\n{body}\n</section>'
        for key, title, body in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(inputs.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header>\n<h1>{_esc(inputs.title)}</h1>\n{_summary(inputs)}\n"
        f"<nav>{nav}</nav>\n</header>\n{content}\n</body>\n</html>\n"
    )


def _summary(inputs: ReportInputs) -> str:
    dates = inputs.equity.dropna(how="all").index
    period = f"{dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d}" if len(dates) else "no dates"
    bench = inputs.benchmark
    bench_text = "none" if bench is None else (str(bench.name) if bench.name is not None else "yes")
    text = (
        f"Out of sample {period} ({len(dates):,} trading days) · "
        f"{inputs.equity.shape[1]} strategies · benchmark: {bench_text}"
    )
    return f'<p class="meta">{_esc(text)}</p>'


def _key_metrics(metrics: pd.DataFrame, intro: str | None = None) -> str:
    columns = list(KEY_METRICS)
    table = metrics.reindex(columns=columns)
    rows = [
        [strategy, *(_metric_cell(name, table.at[strategy, name]) for name in columns)]
        for strategy in table.index
    ]
    if intro is None:
        intro = '<p class="meta">Curated subset; every metric is in <a href="#all-metrics">All metrics</a>.</p>'
    return intro + _table(["Strategy", *map(metric_label, columns)], rows)


def _all_metrics(metrics: pd.DataFrame) -> str:
    # Transposed: one row per metric reads better than 40-odd columns.
    rows = [
        [metric_label(name), *(_metric_cell(name, value) for value in metrics[name])]
        for name in metrics.columns
    ]
    return _table(["Metric", *metrics.index], rows)


def _monthly_returns(equity: pd.DataFrame) -> str:
    returns = equity.pct_change(fill_method=None)
    parts = []
    for strategy in equity.columns:
        table = monthly_returns_table(returns[strategy])
        if table.empty:
            parts.append(f"<h3>{_esc(strategy)}</h3>{_empty('No returns.')}")
            continue
        months = table.drop(columns="year").to_numpy(dtype=float)
        years = table[["year"]].to_numpy(dtype=float)
        colors = np.hstack([_heat_colors(months), _heat_colors(years)])
        cells = [
            _Cell(format_metric("total_return", value), background=color)
            for value, color in zip(table.to_numpy(float).ravel(), colors.ravel(), strict=True)
        ]
        width = table.shape[1]
        rows = [[year, *cells[i * width : (i + 1) * width]] for i, year in enumerate(table.index)]
        parts.append(
            f"<h3>{_esc(strategy)}</h3>" + _table(["Year", *table.columns[:-1], "Full year"], rows)
        )
    intro = '<p class="meta">Compounded within each calendar month; the last column compounds the year.</p>'
    return intro + "\n".join(parts)


def _cost_sensitivity(sharpe_by_fee: pd.DataFrame) -> str:
    if sharpe_by_fee.empty:
        return _empty("No cost sensitivity runs.")
    table = sharpe_by_fee.sort_index()
    rows = [
        [f"{fee:g}", *(_metric_cell("sharpe", value) for value in values)]
        for fee, values in zip(table.index, table.to_numpy(dtype=float), strict=True)
    ]
    intro = '<p class="meta">Sharpe ratio with the fee, in basis points of traded notional, set to each value.</p>'
    image = _image(plots.cost_sensitivity_png(table), "Sharpe ratio against trading fee")
    return intro + _table(["Fee (bps)", *table.columns], rows) + image


def _monte_carlo(intervals: pd.DataFrame) -> str:
    if intervals.empty:
        return _empty("No Monte Carlo intervals.")
    rows = [
        [
            str(row.strategy),
            metric_label(row.metric),
            *(_metric_cell(row.metric, value) for value in (row.point, row.lower, row.upper)),
            _Cell(_level_text(row.level)),
        ]
        for row in intervals[list(MONTE_CARLO_COLUMNS)].itertuples(index=False)
    ]
    return _table(["Strategy", "Metric", "Point", "Lower", "Upper", "Level"], rows)


def _importance(importance: pd.DataFrame) -> str:
    intro = (
        '<p class="meta">Top factors per model, averaged over the walk-forward windows, on each '
        "window's test block. Permutation: drop in Sharpe when the factor is shuffled through "
        "time within each ticker (negative: noise helped). SHAP: mean |SHAP| of the forecast "
        "(tree models).</p>"
    )
    ranked = importance.sort_values(
        ["model", "method", "importance", "factor"], ascending=[True, True, False, True]
    )
    rows = [
        [
            model,
            method,
            int(group["windows"].max()) if "windows" in group else "",
            ", ".join(
                f"{r.factor} ({r.importance:.3g})" for r in group.head(TOP_FACTORS).itertuples()
            ),
        ]
        for (model, method), group in ranked.groupby(["model", "method"], sort=True)
    ]
    return intro + _table(["Model", "Method", "Windows", f"Top {TOP_FACTORS} factors"], rows)


def _training_state(table: pd.DataFrame) -> str:
    intro = (
        '<p class="meta">How each model was trained, over its walk-forward windows. A network '
        "is a result only when, in every window, early stopping (not the epoch cap) ended the "
        "training of every seed and most seeds beat the untrained network's validation loss; "
        "otherwise it is listed under Not results and kept out of every other table and "
        "figure. Forecasters are fitted (tuned on time-ordered folds or early-stopped on "
        "validation); rules are not trained.</p>"
    )
    rows = [
        [
            row.model,
            row.family,
            _count(row.windows),
            _count(row.seeds),
            _Cell(_number(row.epochs_mean, ".1f")),
            _Cell(_number(row.epochs_max, ".0f")),
            _ratio(row.converged_windows, row.windows),
            _ratio(row.beat_init_seeds, row.seed_runs),
            row.status,
        ]
        for row in table.itertuples(index=False)
    ]
    header = [
        "Model", "Family", "Windows", "Seeds", "Epochs (mean)", "Epochs (max)",
        "Converged windows", "Seeds beating init", "Status",
    ]  # fmt: skip
    return intro + _table(header, rows)


def _withheld(metrics: pd.DataFrame) -> str:
    intro = (
        '<p class="meta">NOT RESULTS. These models did not converge (see Training state); '
        "their numbers are shown only so that the run is complete, and are not comparable "
        "with the results above.</p>"
    )
    return intro + _key_metrics(metrics, intro="")


def _count(value: object) -> str:
    return "–" if pd.isna(value) else f"{int(value)}"


def _number(value: object, fmt: str) -> str:
    return "–" if pd.isna(value) else format(float(value), fmt)


def _ratio(part: object, whole: object) -> str:
    return "–" if pd.isna(part) or pd.isna(whole) else f"{int(part)}/{int(whole)}"


def _lineage(lineage: Mapping[str, str]) -> str:
    if not lineage:
        return _empty("No lineage recorded.")
    return _table(["Item", "Value"], [[str(key), str(value)] for key, value in lineage.items()])


# --------------------------------------------------------------------------- HTML pieces


@dataclass(frozen=True)
class _Cell:
    """A right-aligned table cell; ``text`` is escaped when written."""

    text: str
    negative: bool = False
    background: str = ""


def _table(header: Sequence[Hashable], rows: Iterable[Sequence[Hashable | _Cell]]) -> str:
    """An HTML table: the first cell of a row is its header; a :class:`_Cell` is a number."""
    head = "".join(f'<th scope="col">{_esc(text)}</th>' for text in header)
    body = "\n".join(
        f'<tr><th scope="row">{_esc(row[0])}</th>' + "".join(map(_cell_html, row[1:])) + "</tr>"
        for row in rows
    )
    return (
        f'<div class="scroll"><table>\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody>\n</table></div>"
    )


def _cell_html(cell: Hashable | _Cell) -> str:
    if not isinstance(cell, _Cell):
        return f"<td>{_esc(cell)}</td>"
    classes = "num neg" if cell.negative else "num"
    style = f' style="background:{cell.background}"' if cell.background else ""
    return f'<td class="{classes}"{style}>{_esc(cell.text)}</td>'


def _metric_cell(name: str, value: object) -> _Cell:
    negative = isinstance(value, int | float | np.number) and float(value) < 0
    return _Cell(format_metric(name, value), negative=negative)


def _heat_colors(values: np.ndarray) -> np.ndarray:
    """Background colours, red for losses and green for gains, scaled to the largest move."""
    limit = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 0.0
    scaled = np.clip(values / limit, -1.0, 1.0) if limit > 0 else np.zeros_like(values)
    rgb = colormaps["RdYlGn"](0.5 + 0.45 * np.nan_to_num(scaled))[..., :3]
    rgb = 1.0 - 0.6 * (1.0 - rgb)  # paler, so that black text stays readable
    codes = np.round(rgb * 255).astype(int)
    hexes = (codes[..., 0] << 16) | (codes[..., 1] << 8) | codes[..., 2]
    colors = np.vectorize(lambda code: f"#{code:06x}", otypes=[object])(hexes)
    return np.where(np.isnan(values), "", colors)


def _image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_esc(alt)}">'


def _empty(text: str) -> str:
    return f'<p class="empty">{_esc(text)}</p>'


def _level_text(level: object) -> str:
    try:
        value = float(level)
    except (TypeError, ValueError):
        return str(level)
    return f"{value:.0%}" if value <= 1 else f"{value:g}%"


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _markdown_row(cells: Iterable[object]) -> str:
    # Entities, not raw "<" or "&", so that no renderer can read a name as HTML.
    texts = (html.escape(" ".join(str(cell).split()), quote=False) for cell in cells)
    return "| " + " | ".join(text.replace("|", "\\|") for text in texts) + " |"


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a report is for reading
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
  color:#1f2328;line-height:1.45;max-width:1100px;margin:2rem auto;padding:0 1rem}
h1{font-size:1.6rem;margin:0 0 .2rem}
h2{font-size:1.25rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem;margin-top:2.2rem}
h3{font-size:1rem;margin:1.2rem 0 .3rem}
nav{font-size:.9rem}nav a{margin-right:.8rem;color:#0969da;text-decoration:none}
.meta,.empty{color:#59636e;font-size:.9rem}.empty{font-style:italic}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.85rem;margin:.4rem 0 1rem}
th,td{padding:.28rem .6rem;border-bottom:1px solid #e6e9ec;text-align:left;vertical-align:top}
thead th{background:#f6f8fa;border-bottom:2px solid #d0d7de;white-space:nowrap}
tbody th{font-weight:600;overflow-wrap:anywhere}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.neg{color:#b42318}
img{max-width:100%;height:auto;display:block;margin:.5rem 0}
""".strip()
