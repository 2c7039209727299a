"""quant_assets: a Dagster lineage graph from raw prices to backtest reports."""

from __future__ import annotations

__version__ = "0.1.0"
