"""Cross-engine validation: the same target weights on our engine, vectorbt, backtrader and zipline.

Adapters (one module per engine) take a :class:`Market`, a target-weight frame and a
:class:`CostConfig` and return an :class:`EngineRun`; :func:`parity_table` runs
:func:`standard_scenarios` on every installed engine and compares each with the reference to the
cent. vectorbt, backtrader and zipline-reloaded come with the optional ``validation`` extra.
"""

from quant_assets.validation.common import CostConfig, EngineRun, Market, Unsupported
from quant_assets.validation.parity import ENGINES, compare_runs, installed_engines, parity_table
from quant_assets.validation.scenarios import (
    Scenario,
    market_from_bars,
    scenarios_from_closes,
    standard_scenarios,
)

__all__ = [
    "ENGINES",
    "CostConfig",
    "EngineRun",
    "Market",
    "Scenario",
    "Unsupported",
    "compare_runs",
    "installed_engines",
    "market_from_bars",
    "parity_table",
    "scenarios_from_closes",
    "standard_scenarios",
]
