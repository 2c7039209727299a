"""Every environment variable the project reads, defined once: name, description, default, rule.

This is the only module of ``quant_assets`` that touches ``os.environ``. The environment is read
when :func:`load_settings` (or :func:`read_setting`) is called, never at import, so a test that
sets a variable with ``monkeypatch.setenv`` is seen by the next call.

A bad value raises :class:`SettingsError` (a ``ValueError``) naming the variable, the rule and the
value, e.g. ``QUANT_ASSETS_CATCH_UP_DAYS must be a whole number of days, got 'ten'``. A blank
value counts as unset. The FMP key is a :class:`pydantic.SecretStr`: it never shows in a repr,
a print or :meth:`Settings.effective`.

The variables:

========================== ====================================================================
``QUANT_ASSETS_DATA_DIR``  everything generated (warehouse, MLflow store, reports) and ``raw/``
``QUANT_ASSETS_HISTORY_START`` first day of the trading-day partitions (read once, at import of
                           :mod:`quant_assets.partitions`, as Dagster needs a fixed definition)
``QUANT_ASSETS_CATCH_UP_DAYS`` how far the evening run reaches back for missed days
``QUANT_ASSETS_RETRAIN_DAYS`` new trading days that make ``retrain_sensor`` retrain
``FMP_API_KEY``            Financial Modeling Prep key (secret)
``MLFLOW_TRACKING_URI``    MLflow store; default ``sqlite:///<data>/mlflow/mlflow.db``
``MLFLOW_REGISTRY_URI``    MLflow model registry; default the tracking URI
``QUANT_ASSETS_WAREHOUSE_BACKEND`` ``duckdb`` (one file, default) or ``ducklake``
``QUANT_ASSETS_DUCKLAKE_CATALOG`` DuckLake catalog: a DuckDB file or ``postgres://...``
``QUANT_ASSETS_DUCKLAKE_DATA_PATH`` DuckLake data files: a folder or an object store URL
``DAGSTER_HOME``           the Dagster instance folder (read by Dagster itself; shown by
                           ``quant-assets status``)
========================== ====================================================================
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

DATA_DIR_ENV = "QUANT_ASSETS_DATA_DIR"
HISTORY_START_ENV = "QUANT_ASSETS_HISTORY_START"
CATCH_UP_DAYS_ENV = "QUANT_ASSETS_CATCH_UP_DAYS"
RETRAIN_DAYS_ENV = "QUANT_ASSETS_RETRAIN_DAYS"
FMP_API_KEY_ENV = "FMP_API_KEY"
MLFLOW_TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
MLFLOW_REGISTRY_URI_ENV = "MLFLOW_REGISTRY_URI"
DAGSTER_HOME_ENV = "DAGSTER_HOME"
WAREHOUSE_BACKEND_ENV = "QUANT_ASSETS_WAREHOUSE_BACKEND"
DUCKLAKE_CATALOG_ENV = "QUANT_ASSETS_DUCKLAKE_CATALOG"
DUCKLAKE_DATA_PATH_ENV = "QUANT_ASSETS_DUCKLAKE_DATA_PATH"

MASK = "***"


class SettingsError(ValueError):
    """An environment variable holds a value its setting refuses; the message names it."""


def project_root() -> Path:
    """The repository root for an editable install, else the current directory."""
    candidate = Path(__file__).resolve().parent.parent
    if (candidate / "pyproject.toml").exists():
        return candidate
    return Path.cwd()


def _whole_days(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise ValueError("must be a whole number of days") from None
    return value


WholeDays = Annotated[int, BeforeValidator(_whole_days)]


class Settings(BaseModel):
    """The effective settings, one field per environment variable (the field's alias)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    data_dir: Path = Field(
        default_factory=lambda: project_root() / "data",
        alias=DATA_DIR_ENV,
        description="Folder of everything generated (warehouse.duckdb, mlflow/, reports/) and "
        "of raw/, the price files users drop in. Default <repo>/data.",
    )
    history_start: dt.date = Field(
        default=dt.date(1990, 1, 1),
        alias=HISTORY_START_ENV,
        ge=dt.date(1900, 1, 1),
        description="First day (YYYY-MM-DD) of the trading-day partitions.",
    )
    catch_up_days: WholeDays = Field(
        default=10,
        alias=CATCH_UP_DAYS_ENV,
        ge=0,
        le=5000,
        description="Trading days the evening run may reach back to fill days a failed run "
        "missed; older gaps are left to a backfill.",
    )
    retrain_days: WholeDays = Field(
        default=21,
        alias=RETRAIN_DAYS_ENV,
        ge=1,
        le=5000,
        description="New trading days since the last training that make retrain_sensor "
        "request trained_models.",
    )
    fmp_api_key: SecretStr | None = Field(
        default=None,
        alias=FMP_API_KEY_ENV,
        description="Financial Modeling Prep API key (secret; never shown). Unset: FMP bars "
        "are skipped.",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None,
        alias=MLFLOW_TRACKING_URI_ENV,
        description="MLflow tracking store; unset: sqlite:///<data>/mlflow/mlflow.db.",
    )
    mlflow_registry_uri: str | None = Field(
        default=None,
        alias=MLFLOW_REGISTRY_URI_ENV,
        description="MLflow model registry; unset: the tracking URI.",
    )
    warehouse_backend: Literal["duckdb", "ducklake"] = Field(
        default="duckdb",
        alias=WAREHOUSE_BACKEND_ENV,
        description="The warehouse: duckdb (one embedded file, one writer at a time) or "
        "ducklake (Parquet files + a catalog database; several writers, snapshots).",
    )
    ducklake_catalog: str | None = Field(
        default=None,
        alias=DUCKLAKE_CATALOG_ENV,
        description="DuckLake catalog: a DuckDB file path or postgres://user@host/db "
        "(several machines); unset: <data>/warehouse.ducklake.",
    )
    ducklake_data_path: str | None = Field(
        default=None,
        alias=DUCKLAKE_DATA_PATH_ENV,
        description="Where DuckLake writes its Parquet files: a folder or an object store "
        "URL (s3://bucket/prefix/); unset: <data>/warehouse_files/.",
    )
    dagster_home: Path | None = Field(
        default=None,
        alias=DAGSTER_HOME_ENV,
        description="Dagster's instance folder (runs, event logs, sensor cursors), read by "
        "Dagster itself; `make` sets it to dagster_home/, and quant-assets needs it set.",
    )

    @field_validator("data_dir", "dagster_home")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().resolve()

    @field_validator("history_start")
    @classmethod
    def _not_in_future(cls, value: dt.date) -> dt.date:
        if value > dt.date.today():
            raise ValueError("must not be in the future")
        return value

    @property
    def raw_dir(self) -> Path:
        """Where users drop price files (CSV, CSV.gz, FMP JSON)."""
        return self.data_dir / "raw"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    def fmp_key(self) -> str | None:
        """The FMP key in clear text, for the HTTP request only."""
        return self.fmp_api_key.get_secret_value() if self.fmp_api_key else None

    def effective(self) -> dict[str, str]:
        """``{variable: value}`` for display: the key masked, unset values described."""
        shown: dict[str, str] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                text = f"{MASK} (set)"
            elif value is None:
                text = "(not set)"
            else:
                text = str(value)
            shown[field.alias or name] = text
        return shown


ENV_NAMES: tuple[str, ...] = tuple(f.alias for f in Settings.model_fields.values() if f.alias)


def _environment(names: tuple[str, ...]) -> dict[str, str]:
    """The named variables that are set to something other than blanks."""
    values = {name: os.environ.get(name) for name in names}
    return {name: value.strip() for name, value in values.items() if value and value.strip()}


def _explain(exc: ValidationError) -> SettingsError:
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "settings"
        message = error["msg"].removeprefix("Value error, ").replace("Input should", "should", 1)
        ctx = error.get("ctx") or {}
        if error["type"] == "greater_than_equal":
            message = f"must be at least {ctx['ge']}"
        elif error["type"] == "less_than_equal":
            message = f"must be at most {ctx['le']}"
        lines.append(f"{name} {message}, got {error['input']!r}")
    return SettingsError("; ".join(lines))


def load_settings() -> Settings:
    """Every setting, read from the environment now and validated.

    Raises
    ------
    SettingsError
        Naming each variable whose value is refused.
    """
    try:
        return Settings.model_validate(_environment(ENV_NAMES))
    except ValidationError as exc:
        raise _explain(exc) from None


def read_setting(env_name: str) -> Any:
    """The value of one setting (by its variable's name), reading and validating only it.

    Other variables are not looked at, so a bad value elsewhere does not break this read.
    """
    if env_name not in ENV_NAMES:
        raise KeyError(f"{env_name} is not a setting; the settings are {', '.join(ENV_NAMES)}")
    try:
        settings = Settings.model_validate(_environment((env_name,)))
    except ValidationError as exc:
        raise _explain(exc) from None
    field = next(n for n, f in Settings.model_fields.items() if f.alias == env_name)
    return getattr(settings, field)


def fmp_api_key() -> str | None:
    """``$FMP_API_KEY`` in clear text (for the HTTP request and for redaction), or None."""
    key = read_setting(FMP_API_KEY_ENV)
    return key.get_secret_value() if key else None


def secret_value(env_name: str) -> str | None:
    """The clear text of a secret setting (one whose value is a ``SecretStr``), or None."""
    value = read_setting(env_name)
    return value.get_secret_value() if isinstance(value, SecretStr) else None


@contextlib.contextmanager
def preserved_environment(*names: str) -> Iterator[dict[str, str | None]]:
    """Yield the current values of ``names`` and put them back, set or unset, on exit.

    For MLflow, whose ``set_tracking_uri`` / ``set_registry_uri`` export ``MLFLOW_*_URI`` to the
    environment (for subprocesses): a block that points MLflow elsewhere must leave the
    environment as it found it. The only writes to ``os.environ`` in the package.
    """
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield dict(saved)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
