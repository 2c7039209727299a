"""The Dagster instance's event log: Dagster's consolidated SQLite store, one engine per process.

A single-run backfill over 30 years of trading days writes one materialization event per day.
Dagster's ``ConsolidatedSqliteEventLogStorage`` builds a new SQLAlchemy engine and SQLite
connection for every statement of every event (an event is several statements) and commits each
with a full sync, about 7 ms an event on a 2-core machine: more than the factor computation of
``make run`` itself. :class:`PooledSqliteEventLogStorage` is the same store, schema and file,
with one pooled engine per process and ``synchronous=NORMAL`` in WAL mode (SQLite's recommended
setting for WAL: a commit survives a crash of the process; only a power loss may drop the last
transactions, which the next run rewrites). About 4x faster per event
(``benchmarks/pipeline.py`` and ``dagster_home/dagster.yaml``).

Imported by the Dagster instance (webserver, daemon, runs): it depends on Dagster alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

# Connections one process may hold at once (webserver threads, a run's steps in one process).
POOL_SIZE = 2
POOL_OVERFLOW = 8


class PooledSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
    """``ConsolidatedSqliteEventLogStorage`` with one pooled engine per process (see module)."""

    _engine: Engine | None = None

    def _pooled_engine(self) -> Engine:
        if self._engine is None:
            engine = create_engine(
                self._conn_string,
                poolclass=QueuePool,
                pool_size=POOL_SIZE,
                max_overflow=POOL_OVERFLOW,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            event.listen(engine, "connect", _wal_with_normal_sync)
            self._engine = engine
        return self._engine

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Connection]:
        with self._pooled_engine().connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        super().dispose()


def _wal_with_normal_sync(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
