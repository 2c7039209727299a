"""``quant-assets ingest [PATHS...]``: raw files into the warehouse, as the raw-file sensor does.

Which files: every price file under the raw folder (``<data>/raw``), or those under the given
paths. A path must be a file or folder inside the raw folder: the project only reads price
files from there (they are never copied, moved or modified), so a path outside it is refused
with a message saying to copy it in first.

How: the raw-file sensor is evaluated once (new tickers become partitions; a new or changed
file becomes a run request for that file), and each request for a chosen file is run like the
daemon would, materializing ``price_files`` and ``prices`` in the Dagster instance. A file whose
content the warehouse already holds needs no run. The counts come from the warehouse's
``raw_files`` manifest.

One line per file: ``<path>: valid N, rejected M`` or ``<path>: refused: <reason>``. Whatever
goes wrong with one file (the reader's refusal, a failed run, even an unexpected exception) is
that file's line; the other files are still ingested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quant_assets.cli.dagster_runs import failure_message, materialize_assets, register_tickers
from quant_assets.ingest import TICKER_PATTERN, UnsupportedFileError, peek_tickers
from quant_assets.resources.raw_files import RawFileStore, file_sha256, is_price_file
from quant_assets.warehouse.status import file_counts

RAW_FILE_TAG = "quant_assets/raw_file"


@dataclass(frozen=True)
class FileOutcome:
    """What became of one file: its counts, or why it was refused."""

    shown: str
    rows_valid: int | None = None
    rows_rejected: int | None = None
    refused: str | None = None

    def line(self) -> str:
        if self.refused is not None:
            return f"{self.shown}: refused: {self.refused}"
        return f"{self.shown}: valid {self.rows_valid}, rejected {self.rows_rejected}"


def choose_files(
    raw_files: RawFileStore, paths: list[Path]
) -> tuple[list[Path], list[FileOutcome]]:
    """The price files under ``paths`` (default: the whole raw folder), and the refused paths."""
    listed = raw_files.list_files()
    if not paths:
        return listed, []
    root = raw_files.root_path
    chosen: list[Path] = []
    refused: list[FileOutcome] = []
    for given in paths:
        path = given.expanduser().resolve()
        if not path.exists():
            refused.append(FileOutcome(str(given), refused="no such file or folder"))
        elif not path.is_relative_to(root):
            reason = f"outside the raw folder {root}; copy it there first (files are read there)"
            refused.append(FileOutcome(str(given), refused=reason))
        elif path.is_dir():
            chosen += [p for p in listed if p.is_relative_to(path)]
        elif not is_price_file(path):
            reason = "not a .csv, .txt or .json file (optionally .gz)"
            refused.append(FileOutcome(str(given), refused=reason))
        else:
            chosen.append(path)
    return sorted(set(chosen), key=raw_files.relative), refused


def why_refused(path: Path) -> str:
    """Why the sensor requested no run for a file: what it says when it reads the tickers."""
    try:
        tickers = peek_tickers(path)
    except (UnsupportedFileError, ValueError) as exc:
        return str(exc).replace(f"{path}: ", "")
    except Exception as exc:  # noqa: BLE001 (the line names the file, the others go on)
        return f"{type(exc).__name__}: {exc}".replace(f"{path}: ", "")
    bad = sorted(t for t in tickers if not re.match(TICKER_PATTERN, t))
    if not tickers:
        return "no ticker found in the file"
    if bad:
        return f"tickers not matching {TICKER_PATTERN}: {bad[:5]}"
    return "not recorded in the raw_files manifest (see the run's logs in the Dagster UI)"


def run_requests_by_file(sensor_result) -> dict[str, list]:
    """The sensor's run requests, grouped by the raw file (relative path) each is for."""
    grouped: dict[str, list] = {}
    for request in sensor_result.run_requests:
        grouped.setdefault(request.tags[RAW_FILE_TAG], []).append(request)
    return grouped


def run_file(instance, resources: dict[str, Any], requests: list) -> str | None:
    """Run a file's requests as the daemon would; None when all succeed, else the failure."""
    from quant_assets.definitions import price_files, prices

    for request in requests:
        result = materialize_assets(
            instance,
            resources,
            [price_files, prices],
            tags=dict(request.tags),
            ops_config=request.run_config["ops"],
        )
        if not result.success:
            return f"run {result.run_id} failed: {failure_message(result)}"
    return None


def ingest(instance, resources: dict[str, Any], paths: list[Path]) -> list[FileOutcome]:
    """Ingest the chosen files; one outcome per file or refused path, in path order."""
    raw_files: RawFileStore = resources["raw_files"]
    chosen, refused = choose_files(raw_files, paths)
    requests = run_requests_by_file(register_tickers(instance, resources))
    failures = {path: _run_guarded(instance, resources, requests, path) for path in chosen}
    with resources["warehouse"].connect(read_only=True) as con:
        counts = file_counts(con, [raw_files.source_name(p) for p in chosen])
    outcomes = list(refused)
    for path in chosen:
        try:
            outcomes.append(_outcome(path, failures[path], counts.get(raw_files.source_name(path))))
        except Exception as exc:  # noqa: BLE001 (the line names the file, the others go on)
            outcomes.append(FileOutcome(str(path), refused=f"{type(exc).__name__}: {exc}"))
    return outcomes


def _run_guarded(instance, resources: dict[str, Any], requests: dict, path: Path) -> str | None:
    """:func:`run_file` for one file; an exception becomes its failure, not the command's."""
    try:
        relative = resources["raw_files"].relative(path)
        return run_file(instance, resources, requests.get(relative, []))
    except Exception as exc:  # noqa: BLE001 (one file's failure never stops the others)
        return f"{type(exc).__name__}: {exc}"


def _outcome(path: Path, failure: str | None, recorded) -> FileOutcome:
    if failure is not None:
        return FileOutcome(str(path), refused=failure)
    if recorded is None or recorded.sha256 != file_sha256(path):
        return FileOutcome(str(path), refused=why_refused(path))
    return FileOutcome(str(path), recorded.rows_valid, recorded.rows_rejected)
