"""The one kind of error the price-file reader lets out: it names the file and the reason.

:class:`PriceFileError` subclasses :class:`UnsupportedFileError` (the reader's older error,
still importable and still what callers catch), so ``except UnsupportedFileError`` keeps
catching every refusal. Anything unexpected inside the reader is turned into a
:class:`PriceFileError` too (see :func:`quant_assets.ingest.readers.read_raw`), so no
``TypeError``, ``AttributeError`` or bare ``ValueError`` leaves it naming no file.
"""

from __future__ import annotations

from pathlib import Path


class UnsupportedFileError(ValueError):
    """A price file the reader refuses; the message starts with the file's path."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    def __reduce__(self):  # picklable across processes (dagster, multiprocessing)
        return (type(self), (self.path, self.reason))


class PriceFileError(UnsupportedFileError):
    """Any refusal of a price file: ``path`` says which file, ``reason`` why."""


class PriceFileNotFoundError(PriceFileError, FileNotFoundError):
    """The path does not exist or is not a file (also a :class:`FileNotFoundError`)."""
