"""The DuckDB warehouse: one file, real tables a user can query with the duckdb CLI.

DuckDB lets one process write a database file at a time. Writers therefore (a) run in the
``warehouse`` concurrency pool (limit 1, see ``dagster_home/dagster.yaml``) and (b) retry the
lock with exponential backoff here, so two runs that still meet (multiprocess executor, a
sensor's run beside a backfill) wait instead of failing. Every write happens inside a
transaction: a killed run leaves the previous state, never half a write.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import duckdb
from dagster import ConfigurableResource
from pydantic import Field, StringConstraints

from quant_assets.paths import default_warehouse_path
from quant_assets.warehouse.schema import create_schema

log = logging.getLogger(__name__)


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


class Warehouse(ConfigurableResource):
    """Connections to the project's DuckDB file.

    Attributes
    ----------
    path
        The database file (default ``data/warehouse.duckdb``); its folder is created on demand.
    lock_timeout_s
        How long a connection waits for another process's lock before giving up.
    source_priority
        How the price writers resolve sources that disagree on a (ticker, date) (see
        :mod:`quant_assets.warehouse.deliveries`); empty: every such conflict is quarantined.
    """

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

    @contextlib.contextmanager
    def connect(
        self, read_only: bool = False, wait: bool = True
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection with the schema in place; closed (and the file lock freed) on exit.

        With ``wait=False`` a lock held by another process raises at once (for sensors, which
        must not block a tick) instead of retrying for up to ``lock_timeout_s``.
        """
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

    def _open(self, path: Path, read_only: bool, wait: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + (self.lock_timeout_s if wait else 0.0)
        attempt = 0
        while True:
            try:
                return duckdb.connect(str(path), read_only=read_only)
            except duckdb.IOException as exc:
                if not _is_lock_error(exc) or time.monotonic() >= deadline:
                    raise
                wait = min(5.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0)
                log.info("warehouse %s is locked by another process; retrying in %.2fs", path, wait)
                time.sleep(wait)
                attempt += 1

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
