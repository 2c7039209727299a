"""Where the project keeps its files.

Everything generated lives under one data directory (default ``<repo>/data``), which a user
can move with the ``QUANT_ASSETS_DATA_DIR`` environment variable (read through
:mod:`quant_assets.settings` at every call). Raw inputs are read from ``<data>/raw`` and are never
modified, moved or deleted.
"""

from __future__ import annotations

from pathlib import Path

from quant_assets.settings import DATA_DIR_ENV, project_root, read_setting

PACKAGE_DIR = Path(__file__).resolve().parent
__all__ = ["PACKAGE_DIR", "data_dir", "default_warehouse_path", "project_root", "raw_dir"]


def data_dir() -> Path:
    """The data directory: ``$QUANT_ASSETS_DATA_DIR`` or ``<repo>/data``."""
    return read_setting(DATA_DIR_ENV)


def raw_dir() -> Path:
    """Where users drop price files (CSV, CSV.gz, FMP JSON)."""
    return data_dir() / "raw"


def default_warehouse_path() -> Path:
    return data_dir() / "warehouse.duckdb"
