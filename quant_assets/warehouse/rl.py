"""The RL trader's warehouse reads and writes: opens on the closes' basis, its model versions.

``rl_agents`` trains beside the newest supervised training (the one ``predictions`` serves):
its ``ppo`` rows join that training's ``model_versions``, replacing any earlier ``ppo`` rows.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from quant_assets.ingest.seed import BENCHMARK_TICKER
from quant_assets.models import wide_closes
from quant_assets.warehouse.models import insert_model_versions


def load_opens(
    con: duckdb.DuckDBPyConnection,
    end: dt.date | None = None,
    *,
    exclude: tuple[str, ...] = (BENCHMARK_TICKER,),
) -> pd.DataFrame:
    """Wide opens on :func:`~quant_assets.warehouse.models.load_closes`' basis.

    A ticker with adjusted closes has its opens scaled by the same day's ``adj_close / close``
    (the ratio the closes were adjusted by), so opens and closes of a day share one basis.
    """
    bars = con.execute(
        "SELECT ticker, date, open AS close, "
        "CASE WHEN adj_close IS NOT NULL AND close > 0 THEN open * adj_close / close END "
        "AS adj_close FROM adjusted_prices "
        "WHERE ($end IS NULL OR date <= $end) AND NOT list_contains($exclude, ticker)",
        {"end": end, "exclude": list(exclude)},
    ).df()
    return wide_closes(bars)


def replace_model_versions(
    con: duckdb.DuckDBPyConnection, training_id: str, model: str, versions: pd.DataFrame
) -> int:
    """Replace ``model``'s rows of ``training_id`` in ``model_versions``; rows inserted."""
    con.execute(
        "DELETE FROM model_versions WHERE training_id = ? AND model = ?", [training_id, model]
    )
    insert_model_versions(con, versions.assign(training_id=training_id, model=model))
    return len(versions)
