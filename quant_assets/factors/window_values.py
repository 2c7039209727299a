"""The factor values of one run's window of trading days, from the price rows it read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from quant_assets.factors.compute import compute_factors
from quant_assets.factors.registry import available_factors

__all__ = ["WindowFactors", "factors_for_window"]

VALUE_COLUMNS = ["ticker", "date", "factor", "value"]


@dataclass(frozen=True)
class WindowFactors:
    """Long values dated in the window, the factors computed and those skipped (with why)."""

    values: pd.DataFrame
    names: list[str]
    skipped: dict[str, str] = field(default_factory=dict)


def factors_for_window(bars: pd.DataFrame, names: Iterable[str], start) -> WindowFactors:
    """Compute ``names`` on ``bars`` (the window's rows plus each ticker's lookback before
    ``start``) and keep the values dated from ``start`` on.

    A factor needing a column that no row has a value for (close-only files have no high, low
    or volume) is skipped with its reason, not computed as all-missing.
    """
    present = {c for c in bars.columns if bars[c].notna().any()}
    computable, skipped = available_factors(present | {"close"}, list(names))
    if len(bars) == 0:
        return WindowFactors(pd.DataFrame(columns=VALUE_COLUMNS), computable, skipped)
    values = compute_factors(bars, computable, since=pd.Timestamp(start))
    return WindowFactors(values, computable, skipped)
