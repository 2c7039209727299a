"""Ingest assets: price files and FMP bars into the validated ``prices`` table.

``price_files`` (ticker partitions) and ``fmp_daily_bars`` (trading-day partitions) each read
and validate their rows and write them in one transaction, one *delivery* per file or FMP run
(:mod:`quant_assets.warehouse.deliveries`; a file is read in blocks and staged in the
warehouse block by block, :mod:`quant_assets.warehouse.staging`, so memory stays bounded): sources reconciled (the warehouse resource's
``source_priority``), corrections and retractions kept in ``price_revisions``, bad rows in
``rejected_rows``. Each reports ``first_affected_date``, the earliest day whose price it
changed, which the evening schedule recomputes downstream from.

``prices`` is the consolidated, validated panel: it detects splits and unit changes in the
raw closes (``corporate_actions``; FMP's split history confirms them where a key is set),
quarantines bad ticks (rule ``unexplained_jump``), rebuilds ``instruments``, carries the
checks that need the whole history of a ticker across sources (blocking ones for contract
breaks and bad ticks, warnings for large moves and gaps) and a freshness policy matching the
evening schedule.
"""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.
import datetime as dt
from typing import Annotated

import pandas as pd
from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field, StringConstraints

from quant_assets.ingest import TICKER_PATTERN
from quant_assets.ingest.batches import (
    PREVIEW_ROWS,
    FMPFetch,
    IngestBatch,
    RowsSummary,
    fetch_fmp_bars,
    fmp_bars_batch,
    fmp_rejections,
    price_file_streams,
)
from quant_assets.ingest.seed import BENCHMARK_TICKER
from quant_assets.partitions import (
    EXCHANGE_TIMEZONE,
    PRICES_DEADLINE_CRON,
    ticker_partitions,
    trading_day_partitions,
    trading_day_window,
)
from quant_assets.resources.fmp import FMPClient, FMPError
from quant_assets.resources.raw_files import RawFileStore, UnsafePathError
from quant_assets.resources.warehouse import Warehouse
from quant_assets.warehouse.corporate_actions import (
    applied_actions,
    confirm_split_histories,
    detected_actions,
    first_date_adjusted_differently,
    quarantine_reverting_ticks,
    refresh_detected_actions,
    unconfirmed_split_tickers,
)
from quant_assets.warehouse.deliveries import DeliveryResult
from quant_assets.warehouse.prices import (
    instrument_tickers,
    refresh_instruments,
    store_fetched_bars,
    summarize_prices,
)
from quant_assets.warehouse.staging import store_price_file_streams

MAX_FILES_PER_RUN = 10_000
# At most one FMP request per ticker: a run of this many takes well under an hour at FMP's
# rate limits (with the bulk endpoint, one request per day whatever the number of tickers).
MAX_TICKERS_PER_RUN = 5_000

# Fresh = materialized in the 24 hours before the latest deadline: the one trading day since.
prices_freshness = FreshnessPolicy.cron(
    deadline_cron=PRICES_DEADLINE_CRON,
    lower_bound_delta=dt.timedelta(hours=24),
    timezone=EXCHANGE_TIMEZONE,
)

RawPath = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Ticker = Annotated[str, StringConstraints(pattern=TICKER_PATTERN)]


FIRST_AFFECTED_DATE = "first_affected_date"
"""Metadata key: the earliest day whose stored price a materialization changed (ISO date), or
'' when none; the evening schedule recomputes factors and what follows from the earliest one."""


def _batch_metadata(read: RowsSummary, written: DeliveryResult) -> dict[str, object]:
    counts = written.counts
    first_changed = min(written.first_affected_dates().values(), default=None)
    meta: dict[str, object] = {
        "rows_read": read.rows_read,
        "rows_valid": read.rows_valid,
        "rows_rejected": read.rows_rejected,
        "rows_inserted": counts.inserted,
        "rows_updated": counts.corrected,
        "rows_unchanged": counts.unchanged,
        "rows_retracted": counts.retracted,
        "source_conflicts": counts.conflicts,
        "prices_changed": counts.prices_changed,
        FIRST_AFFECTED_DATE: first_changed.isoformat() if first_changed else "",
        "rows_outside_partitions": read.rows_out_of_scope,
        "tickers": len(read.tickers),
    }
    if read.first_date is not None:
        meta["first_date"] = read.first_date.date().isoformat()
        meta["last_date"] = read.last_date.date().isoformat()
        meta["preview"] = MetadataValue.md(read.preview.to_markdown(index=False))
    if read.rows_rejected:
        by_rule = pd.Series(read.rejected_by_rule, name="count").rename_axis("rule")
        by_rule = by_rule.sort_values(ascending=False, kind="stable").reset_index()
        meta["rejected_by_rule"] = MetadataValue.md(by_rule.to_markdown(index=False))
        meta["rejected_preview"] = MetadataValue.md(read.rejected_preview.to_markdown(index=False))
    return meta


def _bullets(lines: list[str]) -> MetadataValue:
    return MetadataValue.md("\n".join(f"- {line}" for line in lines) or "none")


class PriceFilesConfig(Config):
    """Which raw files a run reads. Only rows of the run's ticker partitions are written."""

    paths: list[RawPath] = Field(
        default=[],
        max_length=MAX_FILES_PER_RUN,
        description=(
            "Files to read, as paths relative to the raw folder (data/raw), e.g. "
            "'AAPL_data.csv' or 'sub/prices.json.gz'; 0 to "
            f"{MAX_FILES_PER_RUN} files, each 1 to 1024 characters. Empty: every supported "
            "file in the folder (an unreadable one is reported and skipped); a named file "
            "that cannot be read fails the run."
        ),
    )


@asset(
    partitions_def=ticker_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="ingest",
    pool="warehouse",
    kinds={"duckdb", "csv"},
)
def price_files(
    context: AssetExecutionContext,
    config: PriceFilesConfig,
    warehouse: Warehouse,
    raw_files: RawFileStore,
) -> MaterializeResult:
    """Validated daily bars of the run's tickers, read from the files in ``data/raw``.

    Every row read lands in ``prices`` or, with the rule it broke, in ``rejected_rows``. The
    raw files are only read. Each file is written in its own transactions (memory stays
    bounded whatever its size) and a file that cannot be read writes nothing: the other files
    are still ingested. Such a file named in config fails the run with its name and the
    reason; while scanning the whole folder, it is reported in the metadata.
    """
    try:
        paths = [raw_files.resolve(p) for p in config.paths] or raw_files.list_files()
    except UnsafePathError as exc:
        raise Failure(str(exc)) from exc
    streams = price_file_streams(
        [(raw_files.source_name(p), p) for p in paths], set(context.partition_keys)
    )
    with warehouse.connect() as con:  # each file commits on its own (bounded memory)
        written = store_price_file_streams(
            con,
            streams,
            scope=context.partition_keys,
            source_priority=tuple(warehouse.source_priority),
            run_id=context.run_id,
            memory_limit=warehouse.ingest_memory_limit or None,
        )
    unreadable = [s.error for s in streams if s.error is not None]
    if config.paths and unreadable:  # the readable files have landed
        raise Failure(f"cannot ingest {'; '.join(unreadable)}")
    for problem in unreadable:
        context.log.error(f"skipped {problem}")
    read = RowsSummary()
    for s in (s for s in streams if s.error is None):
        read.merge(s.summary)
        context.log.info(
            f"{s.source}: {s.summary.rows_read} rows read, {s.summary.rows_rejected} rejected"
        )
    meta = _batch_metadata(read, written)
    meta["files"] = _bullets([s.source for s in streams if s.error is None])
    if unreadable:
        meta["unreadable_files"] = _bullets(unreadable)
    return MaterializeResult(metadata=meta)


class FMPBarsConfig(Config):
    """Which tickers to fetch from Financial Modeling Prep."""

    tickers: list[Ticker] = Field(
        default=[],
        max_length=MAX_TICKERS_PER_RUN,
        description=(
            "Ticker symbols to fetch, upper case as FMP spells them (e.g. 'AAPL', 'BRK-B'); 0 "
            f"to {MAX_TICKERS_PER_RUN} symbols, one HTTP request each (one per day for all of "
            "them where the FMP resource's fmp_bulk is on). Empty: every instrument "
            f"in the warehouse but the benchmark ({BENCHMARK_TICKER})."
        ),
    )


@asset(
    partitions_def=trading_day_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="ingest",
    pool="warehouse",
    kinds={"duckdb", "api"},
)
def fmp_daily_bars(
    context: AssetExecutionContext,
    config: FMPBarsConfig,
    warehouse: Warehouse,
    fmp: FMPClient,
) -> MaterializeResult:
    """End-of-day bars from Financial Modeling Prep for the run's trading days.

    With ``fmp_bulk`` on (the plan has FMP's bulk endpoint) a run sends one request per
    trading day for every symbol; otherwise one per ticker, whatever the number of days. All
    replies are fetched before anything is written, so an outage fails the run with nothing
    half-written and the next run catches up. A ticker with no bars in the window (a holiday,
    or a symbol FMP does not know) is reported, not fatal; a reply that is not price data (an
    FMP error object, an HTML page, ``{"historical": null}``) is quarantined in
    ``rejected_rows`` (rule ``fmp_payload``) and named in the metadata, and every other
    ticker's bars still land.
    """
    if not FMPClient.has_api_key():
        raise Failure(
            "FMP_API_KEY is not set: export your Financial Modeling Prep key to fetch bars"
        )
    start, end = trading_day_window(context)
    days = [dt.date.fromisoformat(key) for key in context.partition_keys]
    tickers = config.tickers or _universe(warehouse)
    if not tickers:
        raise Failure("no tickers to fetch: ingest price files first or set config.tickers")
    try:
        fetch = fetch_fmp_bars(fmp, tickers, days, bulk=fmp.fmp_bulk)
    except FMPError as exc:
        raise Failure(str(exc)) from exc

    batch = fmp_bars_batch(fetch)
    written = _store_fetch(context, warehouse, fetch, batch, (start, end))

    meta = _batch_metadata(batch.summary(), written)
    meta["window"] = f"{start.isoformat()}..{end.isoformat()}"
    meta["tickers_requested"] = len(tickers)
    meta["fmp_requests"] = fetch.requests
    meta["fmp_mode"] = "bulk (one request per day)" if fmp.fmp_bulk else "per symbol"
    if fetch.without_bars:
        meta["tickers_without_bars"] = ", ".join(fetch.without_bars)
        context.log.warning(
            f"no FMP bars for {len(fetch.without_bars)} tickers in {start}..{end}: "
            f"{fetch.without_bars[:20]}"
        )
    if fetch.bad_payloads:
        meta["bad_payloads"] = _bullets(
            [f"{src}: {msg}" for src, (_, msg) in fetch.bad_payloads.items()]
        )
        for source, (_, message) in fetch.bad_payloads.items():
            context.log.error(f"quarantined {source}: {message}")
    return MaterializeResult(metadata=meta)


def _store_fetch(
    context: AssetExecutionContext,
    warehouse: Warehouse,
    fetch: FMPFetch,
    batch: IngestBatch,
    window: tuple[dt.date, dt.date],
) -> DeliveryResult:
    """Write a run's FMP bars as FMP's whole truth for the symbols that answered, over the
    run's days; every request's quarantine is replaced."""
    with warehouse.transaction() as con:
        return store_fetched_bars(
            con,
            batch.valid_frame(),
            fmp_rejections(batch, fetch),
            sources=[r.source for r in fetch.replies] + list(fetch.bad_payloads),
            tickers={r.symbol for r in fetch.replies},
            dates=window,
            source_priority=tuple(warehouse.source_priority),
            run_id=context.run_id,
        )


def _universe(warehouse: Warehouse) -> list[str]:
    with warehouse.connect(read_only=True) as con:
        return instrument_tickers(con, exclude=BENCHMARK_TICKER)


@asset(
    deps=[price_files, fmp_daily_bars],
    group_name="ingest",
    pool="warehouse",
    kinds={"duckdb"},
    freshness_policy=prices_freshness,
)
def prices(
    context: AssetExecutionContext, warehouse: Warehouse, fmp: FMPClient
) -> MaterializeResult:
    """The validated daily price panel (``prices`` table) with ``instruments`` rebuilt.

    One row per (ticker, date): open, high, low, close, adj_close (NULL when the source has
    none), volume, the source it came from and when, as delivered. Splits and unit changes
    found in the raw closes go to ``corporate_actions``; where ``FMP_API_KEY`` is set, FMP's
    split history confirms the detected splits (a failed request is logged, not fatal).
    Factors and backtests read the split-adjusted ``adjusted_prices`` view. A bad tick (a
    move beyond 50 % that the next day undoes) leaves ``prices`` for ``rejected_rows`` (rule
    ``unexplained_jump``). Checks on this asset block downstream on rows that break the
    table's contract or bad ticks left, and warn on moves, zero volumes, flat bars and gaps.
    Fresh when refreshed within the day before 20:30 New York on each weekday.
    """
    with warehouse.transaction() as con:
        before = applied_actions(con)
        detected = refresh_detected_actions(con)
        to_confirm = unconfirmed_split_tickers(con)
    histories = _split_histories(context, fmp, to_confirm)
    with warehouse.transaction() as con:
        confirmed, bad_histories = confirm_split_histories(con, histories)
        ticks = quarantine_reverting_ticks(con, context.run_id)
        rescaled = first_date_adjusted_differently(con, before)
        refresh_instruments(con)
        summary = summarize_prices(con)
        actions = detected_actions(con)
    for problem in bad_histories:
        context.log.warning(f"split history skipped: {problem}")
    first, last = summary.first_date, summary.last_date
    changed = min(
        [*pd.to_datetime(ticks["date"]).dt.date, *([rescaled] if rescaled else [])], default=None
    )
    context.log.info(
        f"prices: {summary.rows} rows, {summary.tickers} tickers, {first}..{last}; "
        f"{detected} corporate actions detected, {confirmed} confirmed by FMP, "
        f"{len(ticks)} bad ticks quarantined"
    )
    meta = {
        "rows": summary.rows,
        "tickers": summary.tickers,
        "first_date": first.isoformat() if first else "",
        "last_date": last.isoformat() if last else "",
        "rejected_rows_total": summary.rejected_rows,
        "instruments": MetadataValue.md(summary.instruments.head(50).to_markdown(index=False)),
        "corporate_actions": len(actions),
        "corporate_actions_applied": int(actions["applied"].sum()) if len(actions) else 0,
        "corporate_actions_confirmed_now": confirmed,
        "bad_ticks_quarantined": len(ticks),
        FIRST_AFFECTED_DATE: changed.isoformat() if changed else "",
    }
    if len(actions):
        meta["corporate_actions_preview"] = MetadataValue.md(
            actions.head(PREVIEW_ROWS * 5).to_markdown(index=False)
        )
    return MaterializeResult(metadata=meta)


def _split_histories(
    context: AssetExecutionContext, fmp: FMPClient, symbols: list[str]
) -> dict[str, object]:
    """FMP's split history of each symbol with an unconfirmed split (none without a key).

    A symbol whose request fails is logged and skipped: its detection waits for a later run.
    """
    if not symbols or not FMPClient.has_api_key():
        return {}
    histories = {}
    for symbol in symbols[:MAX_TICKERS_PER_RUN]:
        try:
            histories[symbol] = fmp.fetch_splits(symbol)
        except (FMPError, ValueError) as exc:
            context.log.warning(f"split history of {symbol} not fetched: {exc}")
    return histories
