"""What every subcommand shares: the settings, the Dagster instance, resources, one run.

The resources are those of the code location (:data:`quant_assets.definitions.RESOURCES`) with
the warehouse and the raw folder built now, so ``QUANT_ASSETS_DATA_DIR`` set in the shell is
honoured even though the definitions were imported before. Runs go to the instance in
``$DAGSTER_HOME``, so they show in the UI.
"""

from __future__ import annotations

import warnings
from typing import Any

import typer

from quant_assets.settings import DAGSTER_HOME_ENV, Settings, SettingsError, load_settings


class RunFailed(RuntimeError):
    """A Dagster run of the command failed; the message names the run and its first error."""


class BadOption(ValueError):
    """An option the command cannot honour (unknown ticker, day outside the partitions...)."""


QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def current_settings() -> Settings:
    """The settings, or exit 2 with the variable named when one is refused."""
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def open_instance():
    """The Dagster instance in ``$DAGSTER_HOME``; exit 2 with a hint when it is not set."""
    from dagster import DagsterInstance

    if current_settings().dagster_home is None:
        typer.echo(
            f"error: {DAGSTER_HOME_ENV} is not set; export {DAGSTER_HOME_ENV}=<repo>/dagster_home "
            "(as make does) so runs are recorded where the UI reads them",
            err=True,
        )
        raise typer.Exit(2)
    warnings.filterwarnings("ignore", category=Warning, module="dagster")
    return DagsterInstance.get()


def resources() -> dict[str, Any]:
    """The code location's resources, with the warehouse and raw folder of the current settings."""
    from quant_assets.definitions import RESOURCES
    from quant_assets.resources.raw_files import RawFileStore
    from quant_assets.resources.warehouse import Warehouse

    warehouse = Warehouse(lock_timeout_s=RESOURCES["warehouse"].lock_timeout_s)
    return {**RESOURCES, "warehouse": warehouse, "raw_files": RawFileStore()}


def register_tickers(instance, resources: dict[str, Any]):
    """Evaluate the raw-file sensor once, add the ticker partitions it asks for, return it.

    The sensor's result (its run requests per changed file) is returned for ``ingest``.
    """
    from dagster import build_sensor_context

    from quant_assets.definitions import raw_files_sensor

    with build_sensor_context(instance=instance, resources=resources) as context:
        result = raw_files_sensor(context)
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def materialize_assets(
    instance,
    resources: dict[str, Any],
    assets: list,
    tags: dict[str, str],
    ops_config: dict[str, Any] | None = None,
):
    """One run of ``assets`` with the checks on them; the result, success or not."""
    from dagster import materialize

    from quant_assets.definitions import checks_for

    return materialize(
        [*assets, *checks_for(assets)],
        instance=instance,
        resources=resources,
        tags=tags,
        run_config={**QUIET_LOGS, "ops": ops_config or {}},
        raise_on_error=False,
    )


def failure_message(result) -> str:
    """The first step failure of a run, in one line."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            return event.step_failure_data.error.message.strip().splitlines()[0]
    return "the run failed (see its logs in the Dagster UI)"
