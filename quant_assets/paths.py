"""Where the project keeps its files.

Everything generated lives under one data directory (default ``<repo>/data``), which a user
can move with the ``QUANT_ASSETS_DATA_DIR`` environment variable. Raw inputs are read from
``<data>/raw`` and are never modified, moved or deleted.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    """The repository root for an editable install, else the current directory."""
    candidate = PACKAGE_DIR.parent
    if (candidate / "pyproject.toml").exists():
        return candidate
    return Path.cwd()


def data_dir() -> Path:
    """The data directory: ``$QUANT_ASSETS_DATA_DIR`` or ``<repo>/data``."""
    env = os.environ.get("QUANT_ASSETS_DATA_DIR")
    return Path(env).resolve() if env else project_root() / "data"


def raw_dir() -> Path:
    """Where users drop price files (CSV, CSV.gz, FMP JSON)."""
    return data_dir() / "raw"


def default_warehouse_path() -> Path:
    return data_dir() / "warehouse.duckdb"
