"""Every scenario on every installed engine, compared with a reference engine to the cent.

The reference of a scenario is our engine where it can run it, else vectorbt (whole shares and
per-share fees, which ours does not model). Two books agree *to the cent* when their equity
curves never differ by half a cent or more; their trades match when they have the same
(date, ticker) fills with shares within 1e-6 and price and fee within half a cent.
"""

from __future__ import annotations

import importlib
import importlib.util
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from quant_assets.validation.common import EngineRun, Unsupported
from quant_assets.validation.scenarios import Scenario

__all__ = ["ENGINES", "CENT", "installed_engines", "parity_table", "compare_runs"]

# engine name -> (adapter module, the package it needs; None: always there)
ENGINES = {
    "ours": ("quant_assets.validation.ours", None),
    "vectorbt": ("quant_assets.validation.vectorbt_engine", "vectorbt"),
    "backtrader": ("quant_assets.validation.backtrader_engine", "backtrader"),
    "zipline": ("quant_assets.validation.zipline_engine", "zipline"),
}
REFERENCE_ORDER = ("ours", "vectorbt")
CENT = 0.005  # half a cent: below it, two amounts print the same to the cent
SHARE_TOLERANCE = 1e-6

COLUMNS = [
    "scenario",
    "engine",
    "status",
    "reason",
    "trades",
    "final_value",
    "reference",
    "max_abs_equity_diff",
    "final_value_diff",
    "trades_match",
    "to_the_cent",
    "seconds",
]


def installed_engines(engines: Sequence[str] = tuple(ENGINES)) -> dict[str, bool]:
    """Whether each engine's package can be imported here."""
    return {
        name: ENGINES[name][1] is None or importlib.util.find_spec(ENGINES[name][1]) is not None
        for name in engines
    }


def compare_runs(run: EngineRun, reference: EngineRun) -> dict:
    """Differences of ``run`` against ``reference``: equity, final value and trades."""
    equity_diff = float((run.equity - reference.equity).abs().max())
    ours, theirs = run.trades, reference.trades
    keyed = ours.merge(theirs, on=["date", "ticker"], how="outer", indicator=True)
    both = keyed["_merge"] == "both"
    trades_match = bool(
        both.all()
        and (np.abs(keyed["shares_x"] - keyed["shares_y"]) <= SHARE_TOLERANCE).all()
        and (np.abs(keyed["price_x"] - keyed["price_y"]) < CENT).all()
        and (np.abs(keyed["fee_x"] - keyed["fee_y"]) < CENT).all()
    )
    final_diff = run.final_value - reference.final_value
    return {
        "max_abs_equity_diff": equity_diff,
        "final_value_diff": float(final_diff),
        "trades_match": trades_match,
        "to_the_cent": bool(equity_diff < CENT and abs(final_diff) < CENT and trades_match),
    }


def _run(name: str, scenario: Scenario, zipline_root: Path) -> EngineRun:
    module = importlib.import_module(ENGINES[name][0])
    if name == "zipline":
        if not scenario.costs.whole_shares:
            raise Unsupported("zipline trades whole shares only")
        bundle = module.ingest_bundle(scenario.market, zipline_root)
        return module.run(
            scenario.market, scenario.weights, scenario.costs, bundle=(bundle, zipline_root)
        )
    return module.run(scenario.market, scenario.weights, scenario.costs)


def parity_table(
    scenarios: Sequence[Scenario], engines: Sequence[str] = tuple(ENGINES)
) -> pd.DataFrame:
    """One row per scenario x engine (``COLUMNS``).

    ``status`` is ``ran``, ``unsupported`` (the engine cannot represent the settings; ``reason``
    says why) or ``not installed``. Differences are against the scenario's ``reference``.
    """
    available = installed_engines(engines)
    rows = []
    with tempfile.TemporaryDirectory(prefix="zipline_root_") as root:
        for scenario in scenarios:
            runs: dict[str, EngineRun] = {}
            status: dict[str, tuple[str, str]] = {}
            for name in engines:
                if not available[name]:
                    status[name] = ("not installed", f"package {ENGINES[name][1]!r} not importable")
                    continue
                try:
                    runs[name] = _run(name, scenario, Path(root))
                    status[name] = ("ran", "")
                except Unsupported as why:
                    status[name] = ("unsupported", str(why))
            reference = next((n for n in REFERENCE_ORDER if n in runs), next(iter(runs), None))
            for name in engines:
                row = dict.fromkeys(COLUMNS)
                row.update(
                    scenario=scenario.name,
                    engine=name,
                    status=status[name][0],
                    reason=status[name][1],
                    reference=reference,
                )
                if name in runs:
                    run = runs[name]
                    row.update(
                        trades=len(run.trades),
                        final_value=run.final_value,
                        seconds=run.seconds,
                        **compare_runs(run, runs[reference]),
                    )
                rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)
