"""What the warehouse holds beyond the newest training: the facts the retrain sensor weighs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb


@dataclass(frozen=True)
class DataSinceTraining:
    """The newest training (if any) and the factor data that landed after its data end.

    ``new_days`` is None when there is no training yet; ``newest`` is None when there are no
    factor values at all.
    """

    training_id: str | None
    data_end: dt.date | None
    new_tickers: list[str] = field(default_factory=list)
    new_days: int | None = None
    newest: dt.date | None = None


def data_since_training(
    con: duckdb.DuckDBPyConnection, exclude_ticker: str | None = None
) -> DataSinceTraining:
    """The newest training's data end, the tickers with factors it did not see, the trading
    days with factors after its end (``exclude_ticker``, say the benchmark, is not a ticker
    to train on)."""
    last = con.execute(
        "SELECT training_id, data_end, tickers FROM trainings ORDER BY created_at DESC LIMIT 1"
    ).fetchone()
    tickers, newest = con.execute(
        "SELECT list(DISTINCT ticker ORDER BY ticker), max(date) FROM factor_values "
        "WHERE ticker IS DISTINCT FROM ?",
        [exclude_ticker],
    ).fetchone()
    tickers = tickers or []
    if last is None:
        return DataSinceTraining(None, None, new_tickers=tickers, newest=newest)
    training_id, data_end, seen = last
    new_days = con.execute(
        "SELECT count(DISTINCT date) FROM factor_values WHERE date > ?", [data_end]
    ).fetchone()[0]
    return DataSinceTraining(
        training_id=training_id,
        data_end=data_end,
        new_tickers=sorted(set(tickers) - set(seen)),
        new_days=int(new_days),
        newest=newest,
    )
