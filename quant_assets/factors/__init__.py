"""Factor library: a registry of price-based features and their vectorised computation.

``compute_factors(prices, names=None, *, since=None)`` returns a long ``ticker, date, factor,
value`` table for every ticker at once; ``FACTOR_REGISTRY`` says what each factor is, what columns
it needs and how many rows it looks back. See :mod:`quant_assets.factors.panel` for the missing-day
rule and :mod:`quant_assets.factors.windows` for EWMA seeding, finite memory and incremental
exactness.
"""

from __future__ import annotations

from quant_assets.factors.compute import (
    compute_factors,
    to_wide,
    trim_to_lookback,
)
from quant_assets.factors.registry import (
    FACTOR_REGISTRY,
    GROUPS,
    FactorDefinition,
    available_factors,
    factor_definitions_frame,
    required_lookback,
)

__all__ = [
    "FACTOR_REGISTRY",
    "GROUPS",
    "FactorDefinition",
    "available_factors",
    "compute_factors",
    "factor_definitions_frame",
    "required_lookback",
    "to_wide",
    "trim_to_lookback",
]
