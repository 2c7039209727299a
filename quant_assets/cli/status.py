"""``quant-assets status``: settings, warehouse contents, last runs, quarantine, stale days."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from quant_assets.settings import Settings
from quant_assets.warehouse import status as warehouse_status

SHOWN_TICKERS = 30


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False)
    for i, column in enumerate(columns):
        table.add_column(column, justify="right" if i else "left")
    return table


def settings_table(settings: Settings) -> Table:
    """Each variable, its effective value (the FMP key masked) and what it is for."""
    table = _table("Settings", "variable", "value", "meaning")
    descriptions = {f.alias: f.description for f in Settings.model_fields.values()}
    for name, value in settings.effective().items():
        table.add_row(name, value, descriptions[name] or "")
    for column in table.columns:
        column.justify = "left"
    return table


def print_warehouse(console: Console, warehouse) -> None:
    """Tickers, date range, rows per table, open quarantine by rule, stale date partitions."""
    warehouse_path = Path(warehouse.path)
    if not warehouse_path.exists():
        console.print(f"no warehouse yet at {warehouse_path} (run `quant-assets ingest`)")
        return
    with warehouse.connect(read_only=True) as con:
        counts = warehouse_status.table_row_counts(con)
        span = warehouse_status.price_span(con)
        tickers = warehouse_status.instrument_tickers(con)
        quarantine = warehouse_status.quarantine_by_rule(con)
        stale = warehouse_status.stale_days(con)
    console.print(f"warehouse {warehouse_path}")
    shown = ", ".join(tickers[:SHOWN_TICKERS]) + (" ..." if len(tickers) > SHOWN_TICKERS else "")
    console.print(f"tickers: {len(tickers)} ({shown or 'none'})")
    console.print(f"prices from {span.first_date} to {span.last_date} ({span.tickers} tickers)")
    rows = _table("Rows per table", "table", "rows")
    for name, n in counts.items():
        rows.add_row(name, f"{n:,}")
    console.print(rows)
    rules = _table("Open quarantine (rejected_rows) by rule", "rule", "rows")
    for rule, n in quarantine:
        rules.add_row(rule, f"{n:,}")
    console.print(rules if quarantine else "open quarantine: none")
    behind = _table(
        "Stale date partitions (price days after the newest)",
        "table",
        "newest",
        "days behind",
        "from",
        "to",
    )
    for s in stale:
        behind.add_row(
            s.table,
            str(s.newest_date),
            str(s.missing_days),
            str(s.first_missing or ""),
            str(s.last_missing or ""),
        )
    console.print(behind)


def last_runs_table(instance) -> Table:
    """The newest materialization of each asset: when, and by which run."""
    from quant_assets.definitions import ASSETS

    table = _table("Last run per asset", "asset", "materialized at (UTC)", "run")
    for key in (k for a in ASSETS for k in a.keys):
        event = instance.get_latest_materialization_event(key)
        when = (
            dt.datetime.fromtimestamp(event.timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
            if event
            else "never"
        )
        table.add_row(key.to_user_string(), when, event.run_id if event else "")
    return table


def print_status(console: Console, settings: Settings, instance: Any, warehouse) -> None:
    console.print(settings_table(settings))
    print_warehouse(console, warehouse)
    if instance is None:
        console.print("last runs: DAGSTER_HOME is not set, so there is no instance to read")
    else:
        console.print(last_runs_table(instance))
