"""The RL trader's warehouse writes: its model versions (opens are read by :func:`~quant_assets.
warehouse.models.load_opens`, as predictions need them too).

``rl_agents`` trains beside the newest supervised training (the one ``predictions`` serves):
its ``ppo`` rows join that training's ``model_versions``, replacing any earlier ``ppo`` rows.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from quant_assets.warehouse.models import insert_model_versions


def replace_model_versions(
    con: duckdb.DuckDBPyConnection, training_id: str, model: str, versions: pd.DataFrame
) -> int:
    """Replace ``model``'s rows of ``training_id`` in ``model_versions``; rows inserted."""
    con.execute(
        "DELETE FROM model_versions WHERE training_id = ? AND model = ?", [training_id, model]
    )
    insert_model_versions(con, versions.assign(training_id=training_id, model=model))
    return len(versions)
