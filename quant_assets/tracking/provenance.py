"""Where a tracked run came from (Dagster run, asset, partition, data range), kept free of secrets.

Every param and tag value written by :mod:`quant_assets.tracking` goes through
:func:`clean_params` or :func:`clean_tags`: the FMP API key (``$FMP_API_KEY``) and any
``apikey=`` query value are replaced by ``***``, and values under secret-looking keys are dropped
to ``***``, so a URL or config pasted into a tag cannot carry the key into the MLflow store.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from quant_assets.resources.fmp import API_KEY_ENV, REDACTED, redact
from quant_assets.settings import secret_value

# MLflow 3 limits: param values 6000 characters, tag values 8000.
MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 8000
SECRET_ENV_VARS = (API_KEY_ENV,)
_SECRET_KEY = re.compile(r"(api_?key|secret|token|password|credential)", re.IGNORECASE)


def redact_secrets(text: str) -> str:
    """``text`` with every secret of :data:`SECRET_ENV_VARS` and every ``apikey=`` value hidden."""
    for name in SECRET_ENV_VARS:
        text = redact(text, secret_value(name))
    return redact(text)


def _as_text(value: object) -> str:
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, dt.date):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    return str(value)


def _clean(values: Mapping[str, object], limit: int, keep_none: bool) -> dict[str, str]:
    cleaned = {}
    for key, value in values.items():
        if value is None and not keep_none:
            continue
        text = REDACTED if _SECRET_KEY.search(str(key)) else redact_secrets(_as_text(value))
        cleaned[redact_secrets(str(key))] = text[:limit]
    return cleaned


def clean_params(values: Mapping[str, object]) -> dict[str, str]:
    """Param values as strings (None as ``"None"``), secrets hidden, cut to MLflow's limit."""
    return _clean(values, MAX_PARAM_LENGTH, keep_none=True)


def clean_tags(values: Mapping[str, object]) -> dict[str, str]:
    """Tag values as strings, secrets hidden, None dropped, cut to MLflow's length limit."""
    return _clean(values, MAX_TAG_LENGTH, keep_none=False)


def _code_version(context: Any) -> str:
    """The code version of the context's asset when it declares one, else the package's."""
    from quant_assets import __version__

    try:
        declared = context.assets_def.code_versions_by_key.get(context.asset_key)
    except Exception:  # an op, or no single asset
        declared = None
    return declared or __version__


@dataclass(frozen=True)
class RunProvenance:
    """What produced a tracked model: the Dagster run, asset and partition, and the data range.

    Attributes
    ----------
    dagster_run_id, asset_key, partition_key : str, optional
        Logged as tags ``dagster_run_id``, ``dagster_asset_key``, ``dagster_partition``.
    code_version : str, optional
        The asset's Dagster code version, else the package version; tag ``code_version``.
    data_start, data_end : str, optional
        First and last trading date of the data the model saw (ISO ``YYYY-MM-DD``), logged as
        tags ``data_start`` and ``data_end``.
    """

    dagster_run_id: str | None = None
    asset_key: str | None = None
    partition_key: str | None = None
    code_version: str | None = None
    data_start: str | None = None
    data_end: str | None = None

    @classmethod
    def from_context(
        cls, context: Any, *, data_start: Any = None, data_end: Any = None
    ) -> RunProvenance:
        """Read run id, asset key and partition from a Dagster asset or op execution context."""
        try:
            asset_key = context.asset_key.to_user_string()
        except Exception:  # an op, or a multi-asset without a single key
            asset_key = None
        partition = context.partition_key if getattr(context, "has_partition_key", False) else None
        return cls(
            dagster_run_id=context.run_id,
            asset_key=asset_key,
            partition_key=None if partition is None else str(partition),
            code_version=_code_version(context),
            data_start=None if data_start is None else _as_text(data_start),
            data_end=None if data_end is None else _as_text(data_end),
        )

    def with_data_range(self, start: Any, end: Any) -> RunProvenance:
        """A copy whose missing data range is filled with ``start`` and ``end``."""
        return replace(
            self,
            data_start=self.data_start or _as_text(start),
            data_end=self.data_end or _as_text(end),
        )

    def tags(self) -> dict[str, str]:
        """The MLflow tags (only those that are set)."""
        return clean_tags(
            {
                "dagster_run_id": self.dagster_run_id,
                "dagster_asset_key": self.asset_key,
                "dagster_partition": self.partition_key,
                "code_version": self.code_version,
                "data_start": self.data_start,
                "data_end": self.data_end,
            }
        )

    def run_tags(
        self,
        kind: str,
        window: object = None,
        *,
        compute: Mapping[str, object] | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> dict[str, str]:
        """All tags of a model run: ``extra``, ``compute.*``, ``kind``, ``window``, provenance."""
        return clean_tags(
            {
                **(extra or {}),
                **{f"compute.{key}": value for key, value in (compute or {}).items()},
                "kind": kind,
                "window": window,
                **self.tags(),
            }
        )
