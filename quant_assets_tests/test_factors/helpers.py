"""Comparison helpers for the factor tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def as_sorted(factors: pd.DataFrame) -> pd.DataFrame:
    """Long factor rows with plain string columns in a canonical order, for exact comparison."""
    out = factors.astype({"ticker": str, "factor": str})
    return out.sort_values(["factor", "ticker", "date"], ignore_index=True)


def one_ticker(factors: pd.DataFrame, ticker: str, factor: str, dates: pd.Series) -> np.ndarray:
    """``factor`` for ``ticker`` aligned to ``dates`` (NaN where no value was emitted)."""
    rows = factors[(factors["ticker"] == ticker) & (factors["factor"] == factor)]
    return rows.set_index("date")["value"].reindex(pd.DatetimeIndex(dates)).to_numpy()
