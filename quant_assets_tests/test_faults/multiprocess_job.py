"""The project's ``price_files`` asset as a job on the multiprocess executor, reconstructable.

The multiprocess executor runs each step in a child process, which rebuilds the job from a
code pointer; :func:`price_files_multiprocess` is that pointer's target. It holds the asset and
the two resources it needs, not the whole code location, so that step processes do not import
the model stack (torch). Resources keep their defaults here; tests point them at a temporary
warehouse and raw folder through run config, the way a deployment would.

Importing this module (which every step process does to rebuild the job) also installs a
probe: when the warehouse backs off from a lock held by another process, the step process
appends its pid to ``<warehouse>.lockwaits`` if a test created that file. That is how a test
knows every step has met the lock, without reading logs across processes.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from dagster import Definitions, JobDefinition, define_asset_job, multiprocess_executor

from quant_assets.assets.ingest import price_files
from quant_assets.resources import warehouse as warehouse_module
from quant_assets.resources.raw_files import RawFileStore
from quant_assets.resources.warehouse import Warehouse

JOB_NAME = "price_files_multiprocess"
LOCK_WAITS_SUFFIX = ".lockwaits"


def price_files_multiprocess() -> JobDefinition:
    """``price_files`` alone: one step, so one child process, per run."""
    defs = Definitions(
        assets=[price_files],
        jobs=[define_asset_job(JOB_NAME, selection=[price_files])],
        resources={"warehouse": Warehouse(), "raw_files": RawFileStore()},
        executor=multiprocess_executor,
    )
    return defs.resolve_job_def(JOB_NAME)


class _LockWaitRecorder(logging.Handler):
    """Appends this process's pid to ``<warehouse>.lockwaits`` on each lock back-off."""

    def emit(self, record: logging.LogRecord) -> None:
        if "is locked by another process" not in str(record.msg) or not record.args:
            return
        marker = Path(f"{record.args[0]}{LOCK_WAITS_SUFFIX}")
        if marker.exists():  # opt-in: only warehouses whose test asked for it
            with open(marker, "a") as fh:
                fh.write(f"{os.getpid()}\n")


def _install_lock_wait_recorder() -> None:
    logger = warehouse_module.log
    if not any(isinstance(h, _LockWaitRecorder) for h in logger.handlers):
        logger.addHandler(_LockWaitRecorder(logging.INFO))
        logger.setLevel(logging.INFO)


_install_lock_wait_recorder()
