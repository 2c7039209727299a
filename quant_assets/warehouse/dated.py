"""Writing date-partitioned tables: a run replaces every row dated in its window, in one go."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd


def replace_dated_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frame: pd.DataFrame,
    start: dt.date,
    end: dt.date,
    select: str,
) -> tuple[int, int]:
    """Delete ``table``'s rows dated ``start..end``, then insert ``SELECT {select}`` of ``frame``.

    ``select`` lists the table's columns in order, as expressions over ``frame``'s columns.
    Run it inside the caller's transaction so the window is replaced whole or not at all.
    Returns ``(rows_deleted, rows_inserted)``.
    """
    deleted = con.execute(f"DELETE FROM {table} WHERE date BETWEEN ? AND ?", [start, end])
    deleted = int(deleted.fetchone()[0])
    if frame.empty:
        return deleted, 0
    con.register("incoming_rows", frame)
    try:
        con.execute(f"INSERT INTO {table} SELECT {select} FROM incoming_rows")
    finally:
        con.unregister("incoming_rows")
    return deleted, len(frame)
