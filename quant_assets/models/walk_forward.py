"""Walk-forward training: a fresh network per split, test positions stitched end to end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from quant_assets.models.evaluation import positions_sharpe
from quant_assets.models.splits import Split
from quant_assets.models.tensors import Panel
from quant_assets.models.training import TrainConfig, TrainResult, train_model


@dataclass
class WalkForwardResult:
    """Per-split results and the stitched out-of-sample positions and Sharpe."""

    results: list[TrainResult]
    positions: pd.DataFrame
    sharpe: float


def train_walk_forward(
    kind: str,
    panel: Panel,
    splits: list[Split],
    config: TrainConfig | None = None,
    *,
    on_split_end: Callable[[TrainResult], None] | None = None,
) -> WalkForwardResult:
    """Train a fresh network on each walk-forward split and stitch the test positions.

    The stitched Sharpe scores the concatenated test periods as one strategy (with costs).
    """
    config = config or TrainConfig()
    results = []
    for split in splits:
        result = train_model(kind, panel, split, config)
        results.append(result)
        if on_split_end is not None:
            on_split_end(result)
    positions = pd.concat([r.positions for r in results], ignore_index=True)
    sharpe = positions_sharpe(
        panel, positions, target_vol=config.target_vol, cost_bps=config.cost_bps
    )
    return WalkForwardResult(results=results, positions=positions, sharpe=sharpe)
