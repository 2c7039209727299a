"""Positions of a trained model on any dates of a panel."""

from __future__ import annotations

import pandas as pd
import torch

from quant_assets.models.evaluation import positions_frame
from quant_assets.models.networks import PositionModel
from quant_assets.models.panel_tensors import PanelTensors
from quant_assets.models.tensors import Panel


def predict_positions(
    model: PositionModel,
    panel: Panel,
    dates: pd.DatetimeIndex | None = None,
    *,
    batch_size: int = 256,
) -> pd.DataFrame:
    """Positions of a trained model on ``dates`` (default: every panel date), long form.

    The position on ``date`` reads features up to that date's close only (the model's
    ``context_length`` dates) and is meant to earn the next close-to-close return. Cells without
    features are left out.

    Returns
    -------
    DataFrame
        Columns ``date, ticker, position`` with positions in ``[-1, 1]``.
    """
    model.check_panel(panel)
    device = next(model.parameters()).device
    positions = panel.date_positions(dates)
    tensors = PanelTensors.from_panel(panel, device)
    model.eval()
    scores = tensors.scores_at(model, positions, batch_size, use_amp=False)
    held = model.positions_from_scores(scores)
    index = torch.as_tensor(positions, device=device)
    held = torch.where(tensors.feature_mask[index], held, torch.full_like(held, float("nan")))
    return positions_frame(held.cpu().numpy(), panel, positions)
