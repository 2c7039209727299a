"""The embedded default data: 20 real S&P 500 stocks and the S&P 500 index, 1990–2022.

They ship with skfolio (``load_sp500_dataset``, ``load_sp500_index``): daily closes, adjusted
for splits and dividends by skfolio's source. We write them to ``data/raw/sp500_default/`` as
ordinary per-ticker CSV files (``date,close``) so that they enter the warehouse exactly like a
user's files, through the sensor and the ``price_files`` asset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

DEFAULT_SUBDIR = "sp500_default"
BENCHMARK_TICKER = "SP500"


@dataclass(frozen=True)
class SeedReport:
    written: list[Path]
    already_present: list[Path]
    left_alone: list[Path]  # a different file of the same name: never overwritten


def default_price_frames() -> dict[str, pd.DataFrame]:
    """``{ticker: DataFrame(date, close)}`` for the 20 stocks and the index (``SP500``)."""
    from skfolio.datasets import load_sp500_dataset, load_sp500_index

    wide = pd.concat([load_sp500_dataset(), load_sp500_index()], axis=1)
    frames = {}
    for ticker in wide.columns:
        series = wide[ticker].dropna()
        frames[str(ticker)] = pd.DataFrame(
            {"date": series.index.strftime("%Y-%m-%d"), "close": series.to_numpy()}
        )
    return frames


def seed_default_data(raw_root: Path) -> SeedReport:
    """Write the default files under ``raw_root/sp500_default``; idempotent.

    A file that already exists with the same content is left as is; one with different
    content is never overwritten (it may be the user's) and is reported in ``left_alone``.
    """
    folder = raw_root / DEFAULT_SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    written, present, left = [], [], []
    for ticker, frame in default_price_frames().items():
        target = folder / f"{ticker}.csv"
        content = frame.to_csv(index=False, lineterminator="\n").encode()
        if target.exists():
            (present if target.read_bytes() == content else left).append(target)
            continue
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(content)
        os.replace(tmp, target)  # atomic: the sensor never sees half a file
        written.append(target)
    return SeedReport(written, present, left)
