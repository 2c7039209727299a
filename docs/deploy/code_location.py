"""The quant_assets code location with the executor a deployment chooses.

``QUANT_ASSETS_EXECUTOR`` picks one of Dagster's executors for every job of the code location,
configured from ``executor.<name>.yaml`` beside this file (its ``execution.config`` block):

* ``multiprocess`` (default): ``dagster.multiprocess_executor``, one process per step;
* ``celery``: ``dagster_celery.celery_executor``, steps as tasks for Celery workers;
* ``k8s``: ``dagster_k8s.k8s_job_executor``, one Kubernetes pod per step.

Because the executor is configured here rather than in run config, runs started by the
schedule and the sensors get it too. ``{env: NAME}`` values in the YAML are read when a run
starts. Everything else (assets, checks, jobs, schedules, sensors, resources) is
``quant_assets.definitions.defs`` unchanged. Load this file as the code location, e.g.
``dagster api grpc --python-file docs/deploy/code_location.py`` or, in a workspace,
``python_file: docs/deploy/code_location.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from dagster import Definitions, ExecutorDefinition, multiprocess_executor

from quant_assets.definitions import defs as project_defs

EXECUTOR_ENV = "QUANT_ASSETS_EXECUTOR"
CONFIG_DIR = Path(__file__).resolve().parent


def executor_named(name: str) -> ExecutorDefinition:
    """Dagster's executor called ``name``, not yet configured."""
    if name == "multiprocess":
        return multiprocess_executor
    if name == "celery":
        from dagster_celery import celery_executor

        return celery_executor
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    raise ValueError(f"{EXECUTOR_ENV}={name!r}: expected multiprocess, celery or k8s")


def executor_config(name: str) -> dict:
    """The ``execution.config`` block of ``executor.<name>.yaml``."""
    document = yaml.safe_load((CONFIG_DIR / f"executor.{name}.yaml").read_text())
    return document["execution"]["config"]


def build_defs(name: str) -> Definitions:
    """The project's definitions with every job on the executor called ``name``."""
    executor = executor_named(name).configured(executor_config(name))
    return Definitions.merge(project_defs, Definitions(executor=executor))


defs = build_defs(os.environ.get(EXECUTOR_ENV, "").strip().lower() or "multiprocess")
