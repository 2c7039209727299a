"""Giving memory freed by Python back to the operating system while a large file is read.

A file read in blocks allocates and frees many arrays of a block's size. glibc serves them
from its heap once its dynamic mmap threshold has grown, and keeps the freed pages mapped
(resident) as long as a later, still live allocation sits above them: after the reader's
first pass over a 1 GB file about 230 MB stayed resident although nothing held it any more
(``benchmarks/ingest.py --big``). :func:`return_freed_memory` hands those free pages back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim`` (None: another C library, which has no such call)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None


def return_freed_memory() -> bool:
    """Return the free pages of the C heap to the operating system (glibc's
    ``malloc_trim(0)``); False where the C library has no such call. Changes no data."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
