"""The quality finders over ``prices`` moved to :mod:`quant_assets.warehouse.price_quality`.

SQL lives in ``quant_assets/warehouse/``; this name stays so that existing imports keep working.
"""

from __future__ import annotations

from quant_assets.warehouse.price_quality import (
    EXAMPLES,
    duplicate_keys,
    flat_bars,
    inconsistent_bars,
    invalid_dates,
    large_moves,
    malformed_tickers,
    non_finite_or_non_positive,
    trading_day_gaps,
    zero_volume,
)

__all__ = [
    "EXAMPLES",
    "duplicate_keys",
    "flat_bars",
    "inconsistent_bars",
    "invalid_dates",
    "large_moves",
    "malformed_tickers",
    "non_finite_or_non_positive",
    "trading_day_gaps",
    "zero_volume",
]
