"""Ticker labels in every dtype a caller may hand the library, for the ticker-identity tests."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

# object and string dtype; categoricals with unused categories, shuffled, ordered in reverse.
TICKER_KINDS = [
    "object",
    "string",
    "categorical",
    "categorical_shuffled",
    "categorical_ordered_reversed",
]


def tickers_as(labels: Iterable, kind: str, extra: list[str], rng: np.random.Generator):
    """``labels`` as text in dtype ``kind``; categoricals also hold the unused ``extra``.

    Returns an array for ``pd.Series(..., index=...)`` or ``pd.Index(...)``; ``rng`` shuffles
    the categories of ``categorical_shuffled``.
    """
    text = np.asarray([str(label) for label in labels], dtype=object)
    if kind == "object":
        return text
    if kind == "string":
        return pd.array(text, dtype="string")
    categories = sorted(set(text) | set(extra))
    if kind == "categorical_shuffled":
        categories = list(rng.permutation(categories))
    ordered = kind == "categorical_ordered_reversed"
    if ordered:
        categories = categories[::-1]
    return pd.Categorical(text, categories=categories, ordered=ordered)
