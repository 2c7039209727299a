"""``quant-assets run`` and ``quant-assets report``: the whole graph, stage by stage, timed.

``run`` is what ``make run`` does after installing: it seeds the embedded default data into the
raw folder, lets the raw-file sensor register the tickers it finds (the code path of a file
dropped in by hand), then materializes every asset in order, partitioned ones over their whole
range as single runs, in the Dagster instance of ``$DAGSTER_HOME`` (so they show in the UI).

* ``--tickers`` ingests only those tickers' rows (plus the benchmark the backtest compares to);
  a warehouse that already holds others keeps them, and they stay in the universe (use a fresh
  ``QUANT_ASSETS_DATA_DIR`` for a smaller one);
* ``--start`` is the first trading day the date-partitioned assets (factors, predictions,
  weights) are materialized for; it cannot be before ``QUANT_ASSETS_HISTORY_START``;
* ``--models`` the model kinds ``trained_models`` trains (networks, forecasters, rules by name).
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from quant_assets.cli.dagster_runs import failure_message, materialize_assets, register_tickers
from quant_assets.ingest.seed import BENCHMARK_TICKER, seed_default_data
from quant_assets.partitions import (
    RANGE_END,
    RANGE_START,
    ticker_partitions,
    trading_day_partitions,
)
from quant_assets.resources.fmp import FMPClient
from quant_assets.warehouse.status import instrument_tickers

MODEL_GROUPS = ("networks", "forecasters", "rules")


@dataclass
class StageClock:
    """Times each stage of a run and shows it as a line of a rich progress display."""

    progress: Progress
    seconds: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        task = self.progress.add_task(name, total=None)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - start
            self.progress.update(task, total=1, completed=1)

    def table(self) -> Table:
        table = Table(title="Stage timings", title_justify="left", show_edge=False)
        table.add_column("stage")
        table.add_column("seconds", justify="right")
        for name, seconds in self.seconds.items():
            table.add_row(name, f"{seconds:.1f}")
        table.add_row("total", f"{sum(self.seconds.values()):.1f}", style="bold")
        return table


def new_progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(finished_text="done"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
    )


def run_or_exit(instance, resources: dict[str, Any], assets: list, tags: dict, ops=None) -> None:
    """One run; on failure, exit 1 naming the run and its first error."""
    result = materialize_assets(instance, resources, assets, tags, ops)
    if not result.success:
        typer.echo(f"run {result.run_id} failed: {failure_message(result)}", err=True)
        raise typer.Exit(1)


def chosen_tickers(known: list[str], wanted: list[str]) -> list[str]:
    """``wanted`` (all of ``known`` when empty) plus the benchmark, in partition order."""
    if not known:
        typer.echo("error: no tickers: the raw folder holds no readable price file", err=True)
        raise typer.Exit(1)
    if not wanted:
        return known
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        typer.echo(f"error: no price file holds {unknown}; known tickers: {known}", err=True)
        raise typer.Exit(2)
    chosen = set(wanted) | ({BENCHMARK_TICKER} & set(known))
    return [t for t in known if t in chosen]


def partition_blocks(chosen: list[str], known: list[str]) -> list[tuple[str, str]]:
    """Runs of neighbouring partitions, as (first, last): each is one run's range."""
    ranks = sorted(known.index(t) for t in chosen)
    groups = itertools.groupby(enumerate(ranks), key=lambda pair: pair[1] - pair[0])
    blocks = [[rank for _, rank in group] for _, group in groups]
    return [(known[block[0]], known[block[-1]]) for block in blocks]


def trading_days(start: str | None) -> dict[str, str]:
    """The range tags of every trading-day partition from ``start`` (default: the first)."""
    days = trading_day_partitions.get_partition_keys()
    if start is not None and not days[0] <= start <= days[-1]:
        typer.echo(f"error: --start {start} is outside the partitions {days[0]}..{days[-1]}")
        raise typer.Exit(2)
    first = days[bisect.bisect_left(days, start)] if start else days[0]
    return {RANGE_START: first, RANGE_END: days[-1]}


def models_config(trained_models, models: list[str]) -> dict[str, Any]:
    """``trained_models`` run config training only ``models`` (every default kind when empty)."""
    fields = trained_models.op.config_schema.config_type.fields
    kinds = {group: list(fields[group].default_value) for group in MODEL_GROUPS}
    if not models:
        return {}
    unknown = sorted(set(models) - {k for group in kinds.values() for k in group})
    if unknown:
        typer.echo(f"error: unknown model kinds {unknown}; the kinds are {kinds}", err=True)
        raise typer.Exit(2)
    chosen = {group: [k for k in names if k in models] for group, names in kinds.items()}
    return {"trained_models": {"config": chosen}}


def ingest_stages(clock: StageClock, instance, resources: dict[str, Any], tickers: list[str]):
    """Seed the default data, register tickers, ingest the chosen ones (and FMP bars)."""
    from quant_assets.definitions import fmp_daily_bars, price_files, prices

    with clock.stage("seed default data"):
        report = seed_default_data(resources["raw_files"].root_path)
    for path in report.left_alone:
        clock.progress.console.print(f"left alone (differs from the default): {path}")
    with clock.stage("register tickers (raw-file sensor)"):
        register_tickers(instance, resources)
    known = instance.get_dynamic_partitions(ticker_partitions.name)
    chosen = chosen_tickers(known, tickers)
    with clock.stage(f"price_files, prices ({len(chosen)} tickers)"):
        for first, last in partition_blocks(chosen, known):
            run_or_exit(
                instance, resources, [price_files, prices], {RANGE_START: first, RANGE_END: last}
            )
    if FMPClient.has_api_key():
        with clock.stage("fmp_daily_bars, prices"):
            run_or_exit(instance, resources, [fmp_daily_bars, prices], trading_days(None))
    else:
        clock.progress.console.print("fmp_daily_bars skipped: FMP_API_KEY is not set")
    return chosen


def model_stages(clock: StageClock, instance, resources: dict[str, Any], start, models) -> Path:
    """Factors, models, predictions, weights, backtests and the report; the report's path."""
    from quant_assets.definitions import (
        backtests,
        factor_values,
        predictions,
        target_weights,
        trained_models,
    )

    days = trading_days(start)
    ops = models_config(trained_models, models)
    for asset, tags, config in [
        (factor_values, days, None),
        (trained_models, {}, ops),
        (predictions, days, None),
        (target_weights, days, None),
        (backtests, {}, None),
    ]:
        with clock.stage(asset.key.to_user_string()):
            run_or_exit(instance, resources, [asset], tags, config)
    with clock.stage("backtest_report"):
        return build_report(instance, resources)


def build_report(instance, resources: dict[str, Any]) -> Path:
    """Materialize ``backtest_report``; the path of the HTML file it wrote."""
    from quant_assets.definitions import backtest_report

    result = materialize_assets(instance, resources, [backtest_report], {})
    if not result.success:
        typer.echo(f"run {result.run_id} failed: {failure_message(result)}", err=True)
        raise typer.Exit(1)
    [materialization] = result.asset_materializations_for_node("backtest_report")
    return Path(materialization.metadata["report"].path)


def warn_wider_universe(console: Console, resources: dict[str, Any], chosen: list[str]) -> None:
    with resources["warehouse"].connect(read_only=True) as con:
        others = sorted(set(instrument_tickers(con)) - set(chosen))
    if others:
        console.print(
            f"note: the warehouse also holds {len(others)} other tickers ({', '.join(others[:10])}"
            f"{' ...' if len(others) > 10 else ''}); they stay in the universe. Use a fresh "
            "QUANT_ASSETS_DATA_DIR for a smaller one."
        )
