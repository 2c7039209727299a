"""The DuckLake backend of the warehouse: the same DuckDB SQL, Parquet data files, a catalog
database (a DuckDB file on one machine, PostgreSQL when several machines write), snapshots and
time travel.

The extensions come from pip packages (the ``ducklake`` extra: ``duckdb-extension-ducklake``,
``duckdb-extension-postgres-scanner``), built for one DuckDB release: the ``duckdb`` pin in
``pyproject.toml`` must match their version. They are LOADed from the package's file, never
INSTALLed from the network; autoloading is switched off so DuckDB cannot fetch one either.

DuckLake takes no PRIMARY KEY / UNIQUE / CHECK constraints (and no indexes or sequences):
:func:`ducklake_ddl` strips them from the warehouse DDL, so every upsert in this package is a
``DELETE`` + ``INSERT`` (or ``WHERE NOT EXISTS``), never ``ON CONFLICT`` / ``INSERT OR
REPLACE``. The CHECK rules stay enforced upstream by the pandera contracts; the DuckDB backend
keeps them in the table as a second line.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import duckdb

CATALOG_ALIAS = "warehouse"
"""The name the DuckLake catalog is attached as (and made the default with ``USE``)."""

EXTENSION_PACKAGES: dict[str, str] = {
    "ducklake": "duckdb_extension_ducklake",
    # The file must be named after the extension's entry point (postgres_scanner): the
    # ``duckdb-extension-postgres`` package names it postgres.duckdb_extension, which LOAD refuses.
    "postgres_scanner": "duckdb_extension_postgres_scanner",
}
"""DuckDB extension -> the pip package (``ducklake`` extra) that ships its binary."""

POSTGRES_PREFIXES = ("postgres://", "postgresql://", "postgres:")


class ExtensionMissingError(RuntimeError):
    """A DuckDB extension the DuckLake backend needs is not installed (the ``ducklake`` extra)."""


def extension_file(name: str) -> Path:
    """The ``.duckdb_extension`` file the pip package for ``name`` ships for this DuckDB."""
    package = EXTENSION_PACKAGES[name]
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise ExtensionMissingError(
            f"the DuckLake backend needs the {name!r} DuckDB extension: "
            f"pip install 'quant_assets[ducklake]' (package {package.replace('_', '-')})"
        ) from None
    wanted = Path(module.__path__[0]) / "extensions" / f"v{duckdb.__version__}"
    path = wanted / f"{name}.duckdb_extension"
    if not path.is_file():
        built = sorted(p.parent.name for p in Path(module.__path__[0]).glob("extensions/*/*"))
        raise ExtensionMissingError(
            f"{package} ships the {name} extension for DuckDB {', '.join(built) or 'nothing'}, "
            f"but DuckDB is {duckdb.__version__}: install the matching versions (the duckdb pin "
            "in pyproject.toml)"
        )
    return path


def is_postgres(catalog: str) -> bool:
    return catalog.startswith(POSTGRES_PREFIXES)


def attach_target(catalog: str) -> str:
    """``ATTACH`` target of a catalog: ``ducklake:postgres:<libpq string>`` or ``ducklake:<file>``."""
    if catalog.startswith(("postgres://", "postgresql://")):
        return f"ducklake:postgres:{catalog}"
    return f"ducklake:{catalog}"


def open_ducklake(catalog: str, data_path: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the DuckLake catalog attached and in use."""
    con = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    try:
        con.execute(f"LOAD '{extension_file('ducklake')}'")
        if is_postgres(catalog):
            con.execute(f"LOAD '{extension_file('postgres_scanner')}'")
        else:
            Path(catalog).parent.mkdir(parents=True, exist_ok=True)
        if "://" not in data_path:
            Path(data_path).mkdir(parents=True, exist_ok=True)
        _attach(con, catalog, data_path, read_only=False)
    except BaseException:
        con.close()
        raise
    return con


def reattach_read_only(con: duckdb.DuckDBPyConnection, catalog: str, data_path: str) -> None:
    """Attach the catalog again, read-only (after the schema was made on the writable one)."""
    con.execute("USE memory")
    con.execute(f"DETACH {CATALOG_ALIAS}")
    _attach(con, catalog, data_path, read_only=True)


def _attach(con: duckdb.DuckDBPyConnection, catalog: str, data_path: str, read_only: bool) -> None:
    options = [f"DATA_PATH '{_quote(data_path)}'"] + (["READ_ONLY"] if read_only else [])
    con.execute(
        f"ATTACH '{_quote(attach_target(catalog))}' AS {CATALOG_ALIAS} ({', '.join(options)})"
    )
    con.execute(f"USE {CATALOG_ALIAS}")


def _quote(text: str) -> str:
    return text.replace("'", "''")


def is_ducklake(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``con``'s default database is a DuckLake catalog."""
    row = con.execute(
        "SELECT type FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return row is not None and row[0] == "ducklake"


def current_snapshot_id(con: duckdb.DuckDBPyConnection) -> int | None:
    """The DuckLake snapshot ``con`` reads (inside a transaction: the one it began on);
    None on the DuckDB backend, which keeps no snapshots."""
    if not is_ducklake(con):
        return None
    database = con.execute("SELECT current_database()").fetchone()[0]
    return int(con.execute(f'SELECT id FROM "{database}".current_snapshot()').fetchone()[0])


def at_snapshot(con: duckdb.DuckDBPyConnection, snapshot_id: int, tables: tuple[str, ...]) -> None:
    """Shadow ``tables`` with temporary views of their state at ``snapshot_id``.

    Every query of the warehouse package on ``con`` then reads that snapshot (``AT (VERSION
    => id)``), which is how a backtest or training is rebuilt from the data it once read.
    """
    database = con.execute("SELECT current_database()").fetchone()[0]
    for table in tables:
        con.execute(
            f'CREATE OR REPLACE TEMP VIEW "{table}" AS '
            f'SELECT * FROM "{database}"."{table}" AT (VERSION => {int(snapshot_id)})'
        )


_PRIMARY_KEY_CLAUSE = re.compile(r",\s*PRIMARY\s+KEY\s*\([^)]*\)", re.IGNORECASE)
_INLINE_PRIMARY_KEY = re.compile(r"\bPRIMARY\s+KEY\b", re.IGNORECASE)
_CHECK = re.compile(r"\s*\bCHECK\s*\(", re.IGNORECASE)


def ducklake_ddl(statement: str) -> str:
    """``statement`` without what DuckLake refuses: PRIMARY KEY / UNIQUE and CHECK constraints.

    A column that was an inline primary key stays ``NOT NULL``.
    """
    text = _PRIMARY_KEY_CLAUSE.sub("", statement)
    text = _INLINE_PRIMARY_KEY.sub("NOT NULL", text)
    while match := _CHECK.search(text):
        depth, end = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        text = text[: match.start()] + text[end:]
    return text
