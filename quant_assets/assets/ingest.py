"""Ingest assets: price files and FMP bars into the validated ``prices`` table.

``price_files`` (ticker partitions) and ``fmp_daily_bars`` (trading-day partitions) each read,
validate and upsert their rows into ``prices`` in one transaction, quarantining bad rows in
``rejected_rows``. ``prices`` is the consolidated, validated panel: it rebuilds
``instruments`` and carries the checks that need the whole history of a ticker across
sources (large moves, gaps).
"""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.
import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from quant_assets.ingest import UnsupportedFileError, fmp_payload_to_raw, read_raw, validate_prices
from quant_assets.ingest.seed import BENCHMARK_TICKER
from quant_assets.partitions import ticker_partitions, trading_day_partitions, trading_day_window
from quant_assets.resources.fmp import FMPClient, FMPError, FMPNotFoundError
from quant_assets.resources.raw_files import RawFileStore, UnsafePathError, file_sha256
from quant_assets.resources.warehouse import Warehouse
from quant_assets.warehouse.prices import (
    UpsertCounts,
    record_raw_file,
    refresh_instruments,
    replace_rejections,
    upsert_prices,
)

PREVIEW_ROWS = 10


@dataclass
class IngestBatch:
    """Everything one run read, before it is written in a single transaction."""

    valid: list[pd.DataFrame] = field(default_factory=list)
    rejected: list[pd.DataFrame] = field(default_factory=list)
    rows_read: int = 0
    rows_out_of_scope: int = 0

    def add(self, valid: pd.DataFrame, rejected: pd.DataFrame, scope: set[str] | None) -> None:
        self.rows_read += len(valid) + len(rejected)
        if scope is not None:
            in_scope = valid["ticker"].astype(str).isin(scope).to_numpy()
            self.rows_out_of_scope += int((~in_scope).sum())
            valid = valid[in_scope]
        self.valid.append(valid)
        self.rejected.append(rejected)

    def valid_frame(self) -> pd.DataFrame:
        frames = [f for f in self.valid if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def rejected_frame(self) -> pd.DataFrame:
        frames = [f for f in self.rejected if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _batch_metadata(batch: IngestBatch, counts: UpsertCounts) -> dict[str, object]:
    valid, rejected = batch.valid_frame(), batch.rejected_frame()
    meta: dict[str, object] = {
        "rows_read": batch.rows_read,
        "rows_valid": batch.rows_read - len(rejected),
        "rows_rejected": len(rejected),
        "rows_inserted": counts.inserted,
        "rows_updated": counts.updated,
        "rows_unchanged": counts.unchanged,
        "rows_outside_partitions": batch.rows_out_of_scope,
        "tickers": int(valid["ticker"].nunique()) if len(valid) else 0,
    }
    if len(valid):
        meta["first_date"] = valid["date"].min().date().isoformat()
        meta["last_date"] = valid["date"].max().date().isoformat()
        preview = valid.sort_values(["ticker", "date"]).head(PREVIEW_ROWS)
        meta["preview"] = MetadataValue.md(preview.to_markdown(index=False))
    if len(rejected):
        by_rule = rejected["rule"].value_counts().rename_axis("rule").reset_index()
        meta["rejected_by_rule"] = MetadataValue.md(by_rule.to_markdown(index=False))
        shown = rejected[["source", "location", "rule", "reason"]].head(PREVIEW_ROWS)
        meta["rejected_preview"] = MetadataValue.md(shown.to_markdown(index=False))
    return meta


class PriceFilesConfig(Config):
    """Which raw files a run reads.

    ``paths`` are relative to the raw folder (the sensor names the file that changed); empty
    means every supported file in it. Only rows of the run's ticker partitions are written.
    """

    paths: list[str] = []


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
    raw files are only read. A file named in config that cannot be read fails the run with
    its name and the reason; while scanning the whole folder, such a file is reported and the
    other files are still ingested.
    """
    scope = set(context.partition_keys)
    explicit = bool(config.paths)
    try:
        files = [raw_files.resolve(p) for p in config.paths] if explicit else raw_files.list_files()
    except UnsafePathError as exc:
        raise Failure(str(exc)) from exc

    batch = IngestBatch()
    manifest: list[dict] = []
    complete: list[bool] = []
    unreadable: list[str] = []
    for path in files:
        source = raw_files.source_name(path)
        try:
            raw = read_raw(path, source=source)
        except UnsupportedFileError as exc:
            if explicit:
                raise Failure(f"cannot ingest {source}: {exc}") from exc
            context.log.error(f"skipped {source}: {exc}")
            unreadable.append(f"{source}: {exc}")
            continue
        valid, rejected = validate_prices(raw)
        batch.add(valid, rejected, scope)
        file_tickers = set(raw.frame["ticker"].astype(str).str.strip().str.upper()) - {""}
        # A file counts as ingested only when the run covered all of its tickers.
        complete.append(file_tickers <= scope)
        manifest.append(
            dict(
                path=source,
                sha256=file_sha256(path),
                size_bytes=path.stat().st_size,
                layout=raw.layout,
                rows_read=len(raw),
                rows_valid=len(valid),
                rows_rejected=len(rejected),
                tickers=sorted(file_tickers),
            )
        )
        context.log.info(f"{source}: {len(raw)} rows read, {len(rejected)} rejected ({raw.layout})")

    with warehouse.transaction() as con:
        counts = upsert_prices(con, batch.valid_frame())
        for entry, rejected, whole in zip(manifest, batch.rejected, complete, strict=True):
            replace_rejections(con, entry["path"], rejected)
            if whole:
                record_raw_file(con, **entry)

    meta = _batch_metadata(batch, counts)
    meta["files"] = MetadataValue.md("\n".join(f"- {m['path']}" for m in manifest) or "none")
    if unreadable:
        meta["unreadable_files"] = MetadataValue.md("\n".join(f"- {u}" for u in unreadable))
    return MaterializeResult(metadata=meta)


class FMPBarsConfig(Config):
    """Which tickers to fetch; empty means every instrument in the warehouse but the benchmark."""

    tickers: list[str] = []


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

    A backfill of many days is one run and one request per ticker. All tickers are fetched
    before anything is written, so an outage fails the run with nothing half-written and the
    next run catches up. A ticker with no bars in the window (a holiday, or a symbol FMP does
    not know) is reported, not fatal.
    """
    if not FMPClient.has_api_key():
        raise Failure(
            "FMP_API_KEY is not set: export your Financial Modeling Prep key to fetch bars"
        )
    start, end = trading_day_window(context)
    tickers = config.tickers or _universe(warehouse)
    if not tickers:
        raise Failure("no tickers to fetch: ingest price files first or set config.tickers")

    fetched, empty = {}, []
    for ticker in tickers:  # one HTTP request per ticker: the API is per symbol
        try:
            records = fmp.historical_eod(ticker, start, end)
        except FMPNotFoundError:
            empty.append(ticker)
            continue
        except FMPError as exc:
            raise Failure(f"FMP fetch failed for {ticker} {start}..{end}: {exc}") from exc
        if records:
            fetched[ticker] = records
        else:
            empty.append(ticker)

    # One validation for every ticker's bars (per ticker it would cost ~10 ms each).
    span = f"{start.isoformat()}_{end.isoformat()}"
    batch = IngestBatch()
    if fetched:
        batch.add(*_validate_fmp_records(fetched, f"fmp/{fmp.api_version}/", f"/{span}"), None)
    rejected = batch.rejected_frame()
    with warehouse.transaction() as con:
        counts = upsert_prices(con, batch.valid_frame())
        if len(rejected):
            for source, rows in rejected.groupby("source", sort=True):
                replace_rejections(con, str(source), rows)

    meta = _batch_metadata(batch, counts)
    meta["window"] = f"{start.isoformat()}..{end.isoformat()}"
    meta["tickers_requested"] = len(tickers)
    if empty:
        meta["tickers_without_bars"] = ", ".join(empty)
        context.log.warning(f"no FMP bars for {len(empty)} tickers in {start}..{end}: {empty[:20]}")
    return MaterializeResult(metadata=meta)


def _validate_fmp_records(
    fetched: dict[str, list[dict]], prefix: str, suffix: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate the bars of many symbols at once (per symbol it would cost ~10 ms each).

    Each row's source names its symbol's request (``prefix + TICKER + suffix``), and a
    rejected row's location is its record number in that request's reply.
    """
    counts = np.array([len(r) for r in fetched.values()], dtype=np.int64)
    records = [{"symbol": t, **rec} for t, recs in fetched.items() for rec in recs]
    raw = fmp_payload_to_raw(records, source=prefix + "*" + suffix)
    sources = np.array([prefix + t + suffix for t in fetched], dtype=object)
    first = np.repeat(np.cumsum(counts) - counts, counts)

    def locations(positions: np.ndarray) -> np.ndarray:
        numbers = (np.asarray(positions) - first[positions] + 1).astype(str)
        return np.char.add("record ", numbers).astype(object)

    raw = dataclasses.replace(raw, locations=locations, row_sources=np.repeat(sources, counts))
    return validate_prices(raw)


def _universe(warehouse: Warehouse) -> list[str]:
    with warehouse.connect(read_only=True) as con:
        rows = con.execute(
            "SELECT ticker FROM instruments WHERE ticker <> ? ORDER BY ticker", [BENCHMARK_TICKER]
        ).fetchall()
    return [r[0] for r in rows]


@asset(deps=[price_files, fmp_daily_bars], group_name="ingest", pool="warehouse", kinds={"duckdb"})
def prices(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """The validated daily price panel (``prices`` table) with ``instruments`` rebuilt.

    One row per (ticker, date): open, high, low, close, adj_close (NaN when the source has
    none), volume, the source it came from and when. Checks on this asset look across sources
    and files for moves, zero volumes, flat bars and gaps.
    """
    with warehouse.transaction() as con:
        n_instruments = refresh_instruments(con)
        summary = con.execute("SELECT count(*), min(date), max(date) FROM prices").fetchone()
        rejected = con.execute("SELECT count(*) FROM rejected_rows").fetchone()[0]
        by_ticker = con.execute(
            "SELECT ticker, first_date, last_date, row_count, source FROM instruments ORDER BY ticker"
        ).df()
    rows, first, last = summary
    context.log.info(f"prices: {rows} rows, {n_instruments} tickers, {first}..{last}")
    return MaterializeResult(
        metadata={
            "rows": int(rows),
            "tickers": int(n_instruments),
            "first_date": first.isoformat() if first else "",
            "last_date": last.isoformat() if last else "",
            "rejected_rows_total": int(rejected),
            "instruments": MetadataValue.md(by_ticker.head(50).to_markdown(index=False)),
        }
    )
