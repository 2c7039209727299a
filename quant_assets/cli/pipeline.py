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

``trained_models`` runs with :data:`LAPTOP_TRAINED_MODELS` on top of its research defaults
(5 seeds per network x window, a 2-year validation block, patience 10, stride 5, learning-rate
schedule and clipping): one walk-forward window (tests from 2020) on a 3-year rolling training
block, so a 2-core laptop trains every network to convergence in minutes. The research setting
(every window) is the asset's own defaults, e.g. from the Dagster launchpad.
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

import pandas as pd
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from quant_assets.cli.dagster_runs import (
    BadOption,
    RunFailed,
    failure_message,
    materialize_assets,
    register_tickers,
)
from quant_assets.ingest.seed import BENCHMARK_TICKER, seed_default_data
from quant_assets.partitions import (
    RANGE_END,
    RANGE_START,
    ticker_partitions,
    trading_day_partitions,
)
from quant_assets.resources.fmp import FMPClient
from quant_assets.warehouse.models import latest_training, model_versions
from quant_assets.warehouse.status import instrument_tickers, price_span

MODEL_GROUPS = ("networks", "forecasters", "rules")
# `make run`'s laptop preset (trained_models config overrides): fewer windows and a shorter
# training block than the research defaults, the same seeds, early stopping and stride.
LAPTOP_TRAINED_MODELS: dict[str, Any] = {"first_test_start": "2020", "train_length": 756}


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


def run_or_raise(instance, resources: dict[str, Any], assets: list, tags: dict, ops=None):
    """One run; on failure, :class:`RunFailed` naming the run and its first error."""
    result = materialize_assets(instance, resources, assets, tags, ops)
    if not result.success:
        raise RunFailed(f"run {result.run_id} failed: {failure_message(result)}")
    return result


def chosen_tickers(known: list[str], wanted: list[str]) -> list[str]:
    """``wanted`` (all of ``known`` when empty) plus the benchmark, in partition order."""
    if not known:
        raise BadOption("no tickers: the raw folder holds no readable price file")
    if not wanted:
        return known
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise BadOption(f"no price file holds {unknown}; the tickers are {known}")
    chosen = set(wanted) | ({BENCHMARK_TICKER} & set(known))
    return [t for t in known if t in chosen]


def partition_blocks(chosen: list[str], known: list[str]) -> list[tuple[str, str]]:
    """Runs of neighbouring partitions, as (first, last): each is one run's range."""
    ranks = sorted(known.index(t) for t in chosen)
    groups = itertools.groupby(enumerate(ranks), key=lambda pair: pair[1] - pair[0])
    blocks = [[rank for _, rank in group] for _, group in groups]
    return [(known[block[0]], known[block[-1]]) for block in blocks]


def trading_days(start: str | None = None, end: str | None = None) -> dict[str, str]:
    """The range tags of the trading-day partitions from ``start`` to ``end`` (default: all)."""
    days = trading_day_partitions.get_partition_keys()
    for name, day in (("start", start), ("end", end)):
        if day is not None and not days[0] <= day <= days[-1]:
            raise BadOption(f"--{name} {day} is outside the partitions {days[0]}..{days[-1]}")
    first = days[bisect.bisect_left(days, start)] if start else days[0]
    last = days[bisect.bisect_right(days, end) - 1] if end else days[-1]
    if first > last:
        raise BadOption(f"no trading day from {start} to {end}")
    return {RANGE_START: first, RANGE_END: last}


def models_config(trained_models, models: tuple[str, ...], extra: dict[str, Any]) -> dict:
    """``trained_models`` run config: ``extra`` fields, training only ``models`` if given.

    The kinds are the defaults of the asset's own config (networks, forecasters, rules).
    """
    fields = trained_models.op.config_schema.config_type.fields
    kinds = {group: list(fields[group].default_value) for group in MODEL_GROUPS}
    unknown = sorted(set(models) - {k for group in kinds.values() for k in group})
    if unknown:
        raise BadOption(f"unknown model kinds {unknown}; the kinds are {kinds}")
    chosen = {group: [k for k in names if k in models] for group, names in kinds.items()}
    config = {**extra, **(chosen if models else {})}
    return {"trained_models": {"config": config}} if config else {}


@dataclass(frozen=True)
class RunOptions:
    """What ``quant-assets run`` materializes.

    ``tickers``: only these (plus the benchmark), default all; ``start`` / ``end``: the trading
    days of the date-partitioned assets, default every partition; ``models``: the kinds
    trained, default all; ``seed_default_data``: write the embedded default data into the raw
    folder first; ``trained_models_config``: ``trained_models`` config fields (e.g.
    ``max_epochs``), as in the launchpad; default the laptop preset
    :data:`LAPTOP_TRAINED_MODELS` (``{}``: the asset's research defaults).
    """

    tickers: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None
    models: tuple[str, ...] = ()
    seed_default_data: bool = True
    trained_models_config: dict[str, Any] = field(
        default_factory=lambda: dict(LAPTOP_TRAINED_MODELS)
    )


@dataclass(frozen=True)
class RunSummary:
    """What a pipeline run built: the tickers ingested and the report's path."""

    tickers: list[str]
    report: Path


def ingest_stages(clock: StageClock, instance, resources: dict[str, Any], options: RunOptions):
    """Seed the default data, register tickers, ingest the chosen ones (and FMP bars)."""
    from quant_assets.definitions import fmp_daily_bars, price_files, prices

    say = clock.progress.console.print
    if options.seed_default_data:
        with clock.stage("seed default data"):
            report = seed_default_data(resources["raw_files"].root_path)
        for path in report.left_alone:
            say(f"left alone (differs from the default, never overwritten): {path}")
    with clock.stage("register tickers (raw-file sensor)"):
        register_tickers(instance, resources)
    known = instance.get_dynamic_partitions(ticker_partitions.name)
    chosen = chosen_tickers(known, list(options.tickers))
    say(f"ticker partitions: {len(known)}; ingesting {len(chosen)}")
    with clock.stage("price_files, prices"):
        for first, last in partition_blocks(chosen, known):
            tags = {RANGE_START: first, RANGE_END: last}
            run_or_raise(instance, resources, [price_files, prices], tags)
    if FMPClient.has_api_key():
        with clock.stage("fmp_daily_bars, prices"):
            days = trading_days(options.start, options.end)
            run_or_raise(instance, resources, [fmp_daily_bars, prices], days)
    else:
        say("fmp_daily_bars skipped: FMP_API_KEY is not set (export it to fetch FMP bars)")
    return chosen


def model_stages(clock: StageClock, instance, resources: dict[str, Any], options: RunOptions):
    """Factors, models, predictions, weights, backtests and the report; the report's path.

    Without ``--end`` the date-partitioned assets stop at the newest price, and without
    ``--start`` predictions and weights start at the first test day of the training: the days
    before it have no out-of-sample prediction and the days after the newest price no features,
    so those partitions would be empty. Dagster records two events per partition of a run
    (planned, materialized), which cost more than the computation on a 30-year history.
    """
    from quant_assets.definitions import (
        backtests,
        factor_values,
        predictions,
        target_weights,
        trained_models,
    )

    warehouse = resources["warehouse"]
    end = options.end or newest_price_day(warehouse, options.start)
    days = trading_days(options.start, end)
    ops = models_config(trained_models, options.models, options.trained_models_config)
    for asset, tags, config in [(factor_values, days, None), (trained_models, {}, ops)]:
        with clock.stage(asset.key.to_user_string()):
            run_or_raise(instance, resources, [asset], tags, config)
    predicted = trading_days(options.start or first_test_day(warehouse, end), end)
    for asset, tags in [(predictions, predicted), (target_weights, predicted), (backtests, {})]:
        with clock.stage(asset.key.to_user_string()):
            run_or_raise(instance, resources, [asset], tags)
    with clock.stage("backtest_report"):
        return build_report(instance, resources)


def newest_price_day(warehouse, start: str | None = None) -> str | None:
    """The newest day of ``prices`` (ISO); None (every partition) when there is none, or it is
    after the last partition or before ``start``."""
    with warehouse.connect(read_only=True) as con:
        newest = price_span(con).last_date
    days = trading_day_partitions.get_partition_keys()
    if newest is None or newest.isoformat() >= days[-1] or newest.isoformat() < (start or ""):
        return None
    return max(newest.isoformat(), days[0])


def first_test_day(warehouse, end: str | None) -> str | None:
    """The first day of the newest training's first test block, None when there is none.

    Earlier days get no prediction (they were seen in training); None also when that day is
    after ``end`` or outside the partitions, so the caller's range is used unchanged.
    """
    with warehouse.connect(read_only=True) as con:
        training = latest_training(con)
        versions = None if training is None else model_versions(con, training["training_id"])
    if versions is None or versions.empty:
        return None
    first = pd.Timestamp(versions["test_start"].min()).date().isoformat()
    days = trading_day_partitions.get_partition_keys()
    if not days[0] <= first <= (end or days[-1]):
        return None
    return first


def run_pipeline(
    instance, resources: dict[str, Any], options: RunOptions, clock: StageClock
) -> RunSummary:
    """Every stage in order, each timed on ``clock``; raises :class:`RunFailed` on a failed run.

    The days, the model kinds and the config values (their ranges and patterns, which Dagster
    itself checks only when the step starts) are checked (:class:`BadOption`) before anything
    runs.
    """
    from quant_assets.automation.run_config import config_classes, run_config_errors
    from quant_assets.definitions import ASSETS, trained_models

    trading_days(options.start, options.end)
    ops = models_config(trained_models, options.models, options.trained_models_config)
    errors = run_config_errors({"ops": ops}, config_classes(ASSETS))
    if errors:
        raise BadOption("bad config: " + "; ".join(errors))
    chosen = ingest_stages(clock, instance, resources, options)
    if options.tickers:
        warn_wider_universe(clock.progress.console, resources, chosen)
    return RunSummary(chosen, model_stages(clock, instance, resources, options))


def build_report(instance, resources: dict[str, Any]) -> Path:
    """Materialize ``backtest_report``; the path of the HTML file it wrote."""
    from quant_assets.definitions import backtest_report

    result = run_or_raise(instance, resources, [backtest_report], {})
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
