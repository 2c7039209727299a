"""Checking run config against the assets' own ``Config`` classes before a run is launched.

Dagster checks a run's config against the schema it derives from each ``Config`` class (names
and types), but not the ranges and patterns those classes declare (``Field(ge=..., le=...)``):
those are checked when the step builds its config object, so a bad value fails the run's first
step. :func:`run_config_errors` applies the same classes to a run config up front, so a launcher
(``quant-assets run``) refuses the run before it starts, naming each bad field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pydantic
from dagster import AssetsDefinition, Config


def config_classes(assets: Iterable[AssetsDefinition]) -> dict[str, type[Config]]:
    """``{op name: Config class}`` for every asset whose function takes a ``config``."""
    classes = {}
    for asset in assets:
        compute = asset.op.compute_fn
        if compute.has_config_arg():
            classes[asset.op.name] = compute.get_config_arg().annotation
    return classes


def run_config_errors(
    run_config: Mapping[str, Any], classes: Mapping[str, type[Config]]
) -> list[str]:
    """One ``op.config.field: message`` line per value its ``Config`` class refuses.

    Ops without a ``Config`` class, and values given as ``{"env": NAME}`` (resolved only when
    the run starts), are left to Dagster.
    """
    errors = []
    for op_name, op_config in (run_config.get("ops") or {}).items():
        config_class = classes.get(op_name)
        values = (op_config or {}).get("config") or {}
        if config_class is None:
            continue
        concrete = {k: v for k, v in values.items() if not _is_env_reference(v)}
        try:
            config_class(**concrete)
        except pydantic.ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"])
                errors.append(f"{op_name}.config.{where}: {error['msg']}")
    return errors


def _is_env_reference(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"env"}
