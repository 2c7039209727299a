"""The warehouse: real tables a user can query with the duckdb CLI, on one of two backends.

``duckdb`` (default): one embedded DuckDB file. ``ducklake``: the same SQL on a DuckLake
catalog (a DuckDB file, or PostgreSQL when several machines write) with Parquet data files in
a folder or an object store; several processes write at once, every commit is a snapshot (see
:mod:`quant_assets.warehouse.ducklake`). Only this resource and the ``warehouse`` package know
which one is in use.

On the ``duckdb`` backend:

DuckDB lets one process write a database file at a time. Writers therefore (a) run in the
``warehouse`` concurrency pool (limit 1, see ``dagster_home/dagster.yaml``) and (b) retry the
lock with exponential backoff here, so two runs that still meet (multiprocess executor, a
sensor's run beside a backfill) wait instead of failing. Every write happens inside a
transaction: a killed run leaves what the last commit left, never half a transaction
(``price_files`` commits each file in groups of whole tickers to bound its memory: see
:mod:`quant_assets.warehouse.staging`).
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Literal

import duckdb
from dagster import ConfigurableResource
from pydantic import Field, StringConstraints

from quant_assets.paths import data_dir, default_warehouse_path
from quant_assets.settings import (
    DUCKLAKE_CATALOG_ENV,
    DUCKLAKE_DATA_PATH_ENV,
    WAREHOUSE_BACKEND_ENV,
    read_setting,
)
from quant_assets.warehouse.ducklake import open_ducklake, reattach_read_only
from quant_assets.warehouse.schema import create_schema

log = logging.getLogger(__name__)

DEFAULT_INGEST_MEMORY_LIMIT = "256MiB"
MEMORY_LIMIT_PATTERN = r"^$|^[0-9]+(\.[0-9]+)? ?([KMGT]i?B)$"


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def _is_commit_conflict(exc: Exception) -> bool:
    """Two DuckLake writers changed the catalog at once (the loser may retry its write)."""
    text = str(exc).lower()
    return "conflict" in text and ("transaction" in text or "snapshot" in text)


class Warehouse(ConfigurableResource):
    """Connections to the project's warehouse.

    Attributes
    ----------
    backend
        ``duckdb`` (one file) or ``ducklake`` (catalog + Parquet files).
    path
        The DuckDB database file (default ``data/warehouse.duckdb``); its folder is created on
        demand. ``duckdb`` backend only.
    catalog, data_path
        The DuckLake catalog (DuckDB file or ``postgres://`` URL) and data files folder/URL.
        ``ducklake`` backend only.
    lock_timeout_s
        How long a connection waits for another process's lock before giving up.
    source_priority
        How the price writers resolve sources that disagree on a (ticker, date) (see
        :mod:`quant_assets.warehouse.deliveries`); empty: every such conflict is quarantined.
    ingest_memory_limit
        DuckDB's memory limit while price files are written (see
        :mod:`quant_assets.warehouse.staging`); empty: DuckDB's default.
    """

    backend: Literal["duckdb", "ducklake"] = Field(
        default_factory=lambda: read_setting(WAREHOUSE_BACKEND_ENV),
        description="duckdb: one embedded file, one writer at a time (default, "
        "$QUANT_ASSETS_WAREHOUSE_BACKEND). ducklake: a DuckLake catalog with Parquet data "
        "files; several writers at once, snapshots and time travel.",
    )
    catalog: str = Field(
        default_factory=lambda: (
            read_setting(DUCKLAKE_CATALOG_ENV) or str(data_dir() / "warehouse.ducklake")
        ),
        min_length=1,
        description="DuckLake catalog: a DuckDB file (one machine) or "
        "postgres://user:password@host:5432/db (several); default <data>/warehouse.ducklake "
        "($QUANT_ASSETS_DUCKLAKE_CATALOG). ducklake backend only.",
    )
    data_path: str = Field(
        default_factory=lambda: (
            read_setting(DUCKLAKE_DATA_PATH_ENV) or str(data_dir() / "warehouse_files")
        ),
        min_length=1,
        description="Where DuckLake writes Parquet files: a folder or an object store URL "
        "(s3://bucket/prefix/); default <data>/warehouse_files "
        "($QUANT_ASSETS_DUCKLAKE_DATA_PATH). ducklake backend only.",
    )

    path: str = Field(
        default_factory=lambda: str(default_warehouse_path()),
        min_length=1,
        description="The DuckDB database file; default <data>/warehouse.duckdb "
        "($QUANT_ASSETS_DATA_DIR). Its folder is created on demand.",
    )
    lock_timeout_s: float = Field(
        default=300.0,
        ge=0,
        le=86_400,
        description="Seconds a connection waits for another process's write lock before "
        "giving up (0: fail at once).",
    )
    source_priority: list[Annotated[str, StringConstraints(min_length=1, max_length=1024)]] = Field(
        default=[],
        max_length=100,
        description="Price sources ranked best first, used when two sources deliver different "
        "values for the same ticker and date: 'fmp' (every FMP bar), 'file' (every price "
        "file) or a path prefix under the raw folder such as 'raw/vendor_a/'. The best-ranked "
        "source's row is kept and the other is logged in price_revisions (kind "
        "source_priority). Empty (default): conflicting rows are all quarantined in "
        "rejected_rows (rule source_conflict) and no price is kept for that day.",
    )

    ingest_memory_limit: Annotated[str, StringConstraints(pattern=MEMORY_LIMIT_PATTERN)] = Field(
        default=DEFAULT_INGEST_MEMORY_LIMIT,
        description="DuckDB's memory limit while the price_files asset stages and writes "
        "files, as a number and a unit (KB, MB, GB, KiB, MiB, GiB), e.g. '256MiB' (default) "
        "or '2GiB'; DuckDB spills what does not fit to its temp folder, so a larger file "
        "takes longer, not more memory. With the default, a 1 GB CSV is ingested at a "
        "peak of 0.76 GB of resident memory (benchmarks/ingest.py --big). Empty: DuckDB's own "
        "limit (80 % of the machine's RAM).",
    )

    @contextlib.contextmanager
    def connect(
        self, read_only: bool = False, wait: bool = True
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection with the schema in place; closed (and the file lock freed) on exit.

        With ``wait=False`` a lock held by another process raises at once (for sensors, which
        must not block a tick) instead of retrying for up to ``lock_timeout_s``. DuckLake has
        no file lock: ``wait`` only matters for the catalog's first creation there.
        """
        if self.backend == "ducklake":
            with self._connect_ducklake(read_only, wait) as con:
                yield con
            return
        path = Path(self.path)
        if read_only and not path.exists():
            # A read before the first write: create the empty schema so queries return nothing.
            with self.connect(read_only=False):
                pass
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        con = self._open(path, read_only, wait)
        try:
            if not read_only:
                create_schema(con)
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def _connect_ducklake(self, read_only: bool, wait: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._retry_lock(
            self.catalog, wait, lambda: open_ducklake(self.catalog, self.data_path)
        )
        try:
            self._create_schema_once(con, wait)
            if read_only:
                reattach_read_only(con, self.catalog, self.data_path)
            yield con
        finally:
            con.close()

    def _create_schema_once(self, con: duckdb.DuckDBPyConnection, wait: bool) -> None:
        """The DDL in one transaction; a writer that meets another creating it retries."""
        deadline = time.monotonic() + (self.lock_timeout_s if wait else 0.0)
        attempt = 0
        while True:
            try:
                con.execute("BEGIN TRANSACTION")
                create_schema(con)
                con.execute("COMMIT")
                return
            except duckdb.Error as exc:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                if not _is_commit_conflict(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
                attempt += 1

    def _open(self, path: Path, read_only: bool, wait: bool) -> duckdb.DuckDBPyConnection:
        return self._retry_lock(path, wait, lambda: duckdb.connect(str(path), read_only=read_only))

    def _retry_lock(
        self, path: object, wait: bool, open_: Callable[[], duckdb.DuckDBPyConnection]
    ) -> duckdb.DuckDBPyConnection:
        """``open_()``, retried while another process holds the file's lock (a DuckDB file,
        or a DuckLake catalog kept in one)."""
        deadline = time.monotonic() + (self.lock_timeout_s if wait else 0.0)
        attempt = 0
        while True:
            try:
                return open_()
            except duckdb.IOException as exc:
                if not _is_lock_error(exc) or time.monotonic() >= deadline:
                    raise
                wait = min(5.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0)
                log.info("warehouse %s is locked by another process; retrying in %.2fs", path, wait)
                time.sleep(wait)
                attempt += 1

    @contextlib.contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection inside one transaction: every query sees the same state
        (on DuckLake one snapshot, whose id
        :func:`quant_assets.warehouse.ducklake.current_snapshot_id` gives)."""
        with self.connect(read_only=True) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            finally:
                con.execute("ROLLBACK")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write connection inside ``BEGIN … COMMIT``; any exception rolls everything back."""
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
