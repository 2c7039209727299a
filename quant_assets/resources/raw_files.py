"""The folder users drop price files into, behind a small resource.

Files are only ever read: this module has no call that writes, moves or deletes inside the
folder. Paths handed in from run config or a sensor are resolved and refused when they would
leave the folder (``..``, absolute paths, links pointing outside).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from quant_assets.paths import raw_dir

SUPPORTED_SUFFIXES: tuple[str, ...] = (".csv", ".txt", ".json")


class UnsafePathError(ValueError):
    """A path that would escape the raw folder, or is not a supported price file."""


def is_price_file(path: Path) -> bool:
    name = path.name.lower()
    if name.startswith(".") or not path.is_file():
        return False
    stem = name[:-3] if name.endswith(".gz") else name
    return stem.endswith(SUPPORTED_SUFFIXES)


def file_sha256(path: Path) -> str:
    """Content hash, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class RawFileStore(ConfigurableResource):
    """Read-only access to ``data/raw`` (or ``root``).

    Attributes
    ----------
    root
        The folder scanned for ``.csv``, ``.txt`` and ``.json`` files, optionally ``.gz``.
    """

    root: str = Field(
        default_factory=lambda: str(raw_dir()),
        min_length=1,
        description="The folder scanned for price files (.csv, .txt, .json, optionally .gz); "
        "default <data>/raw ($QUANT_ASSETS_DATA_DIR). Only ever read.",
    )

    @property
    def root_path(self) -> Path:
        return Path(self.root).resolve()

    def list_files(self) -> list[Path]:
        """Every supported price file below the root, sorted by relative path."""
        root = self.root_path
        if not root.is_dir():
            return []
        # Hidden folders hold editor and notebook copies (.ipynb_checkpoints), not data.
        files = [
            p
            for p in root.rglob("*")
            if is_price_file(p)
            and self._inside(p)
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
        ]
        return sorted(files, key=lambda p: self.relative(p))

    def resolve(self, relative: str) -> Path:
        """The file for a path relative to the root; refuses anything outside it."""
        candidate = Path(relative)
        if candidate.is_absolute() or ".." in candidate.parts:
            raise UnsafePathError(f"refused {relative!r}: paths must stay inside {self.root_path}")
        path = self.root_path / candidate
        if not self._inside(path):
            raise UnsafePathError(f"refused {relative!r}: it resolves outside {self.root_path}")
        if not is_price_file(path):
            raise UnsafePathError(
                f"refused {relative!r}: not an existing .csv, .txt or .json file (optionally .gz) "
                f"in {self.root_path}"
            )
        return path

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root_path).as_posix()

    def source_name(self, path: Path) -> str:
        """How the warehouse names the file: ``raw/<path relative to the root>``."""
        return f"raw/{self.relative(path)}"

    def _inside(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self.root_path)
