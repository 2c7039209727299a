"""The warehouse on each backend, and a throwaway PostgreSQL cluster for DuckLake's catalog.

``warehouse`` is parametrised over :data:`BACKENDS`, so every warehouse test runs on the
embedded DuckDB file and on DuckLake (a DuckDB-file catalog and Parquet files in ``tmp_path``).
The ingest tests of the warehouse tables import :func:`warehouse_on` for the same fixture.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import pytest

from quant_assets.resources.warehouse import Warehouse

BACKENDS = ("duckdb", "ducklake")


def warehouse_on(backend: str, root: Path, **config) -> Warehouse:
    """A warehouse on ``backend`` whose files all live under ``root``."""
    if backend == "ducklake":
        if importlib.util.find_spec("duckdb_extension_ducklake") is None:
            pytest.skip(
                "the DuckLake extension is not installed: pip install 'quant_assets[ducklake]'"
            )
        return Warehouse(
            backend="ducklake",
            catalog=str(root / "catalog.ducklake"),
            data_path=str(root / "lake_files"),
            **config,
        )
    return Warehouse(backend="duckdb", path=str(root / "warehouse.duckdb"), **config)


@pytest.fixture(params=BACKENDS)
def warehouse(request, tmp_path) -> Warehouse:
    return warehouse_on(request.param, tmp_path)


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory) -> Iterator[str]:
    """``postgresql://`` URL of a PostgreSQL cluster started for this session, then stopped.

    ``pgserver`` (pip, a self-contained PostgreSQL; the dev extra) first, else the system's
    ``initdb`` / ``pg_ctl``; skipped, saying so, only when neither is there.
    """
    folder = tmp_path_factory.mktemp("pgdata")
    try:
        import pgserver
    except ImportError:
        pgserver = None
    if pgserver is not None:
        server = pgserver.get_server(folder, cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()
        return
    if shutil.which("initdb") and shutil.which("pg_ctl"):
        yield from _system_postgres(folder)
        return
    pytest.skip(
        "no PostgreSQL for the DuckLake catalog tests: pip install pgserver "
        "(the dev extra) or put initdb/pg_ctl on PATH"
    )


@pytest.fixture
def postgres_database(postgres_url, request) -> str:
    """URL of a fresh database of the session's cluster, for one test's DuckLake catalog."""
    import psycopg2

    name = "lake_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    with contextlib.closing(psycopg2.connect(postgres_url)) as con:
        con.autocommit = True
        with con.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cursor.execute(f'CREATE DATABASE "{name}"')
    url = urlsplit(postgres_url)
    return urlunsplit(url._replace(path=f"/{name}"))


def _system_postgres(folder: Path) -> Iterator[str]:
    """A cluster of the system's PostgreSQL, on a Unix socket in ``folder``."""
    import subprocess

    data, socket_dir = folder / "data", folder / "socket"
    socket_dir.mkdir()
    subprocess.run(
        ["initdb", "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    options = f"-k {socket_dir} -c listen_addresses=''"
    subprocess.run(
        ["pg_ctl", "-D", str(data), "-o", options, "-w", "start", "-l", str(folder / "log")],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@/postgres?host={socket_dir}"
    finally:
        subprocess.run(["pg_ctl", "-D", str(data), "-m", "fast", "stop"], capture_output=True)


REAL_TICKERS = ("AAPL", "MSFT", "JPM", "XOM", "JNJ", "PG", "KO", "INTC", "CSCO", "WMT")


@pytest.fixture(scope="session")
def real_bars(shared_data: Path, tmp_path_factory) -> pd.DataFrame:
    """Validated real daily bars of :data:`REAL_TICKERS`, 2014-2017 (S&P 500 five-year file)."""
    from quant_assets.ingest import read_prices

    text = gzip.decompress((shared_data / "sp500_5yr_2013_2018.csv.gz").read_bytes()).decode()
    lines = text.splitlines()
    kept = [
        line
        for line in lines[1:]
        if line.split(",", 2)[1] in REAL_TICKERS and "2014" <= line[:4] <= "2017"
    ]
    path = tmp_path_factory.mktemp("real_bars") / "sp500_sample.csv"
    path.write_text("\n".join([lines[0], *kept]) + "\n")
    valid, rejected = read_prices(path, as_of=dt.date(2024, 1, 1))
    assert rejected.empty
    return valid
