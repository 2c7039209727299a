"""Scoring long-form positions on a panel: daily strategy returns and out-of-sample Sharpe.

Positions are long frames ``date, ticker, position`` with the position in ``[-1, 1]`` taken at
the close of ``date``; they are scored exactly as the Sharpe loss scores them (vol-scaled to the
target, net of turnover costs, equal-weighted across the assets held that day).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from quant_assets.models.losses import annualised_sharpe, strategy_returns
from quant_assets.models.tensors import Panel


def positions_frame(
    positions: np.ndarray, panel: Panel, date_positions: np.ndarray
) -> pd.DataFrame:
    """``[D, N]`` positions on ``panel.dates[date_positions]`` to a long frame (NaN cells dropped)."""
    t, n = np.nonzero(np.isfinite(positions))
    return pd.DataFrame(
        {
            "date": panel.dates[np.asarray(date_positions, dtype=np.int64)[t]],
            "ticker": panel.tickers[n].astype(str),
            "position": positions[t, n].astype(np.float64),
        }
    )


def positions_array(panel: Panel, positions: pd.DataFrame) -> np.ndarray:
    """A long position frame on the panel grid: ``[T, N]`` float64, NaN where no position."""
    array = np.full((len(panel.dates), len(panel.tickers)), np.nan)
    t = panel.dates.get_indexer(pd.to_datetime(positions["date"]))
    n = panel.tickers.get_indexer(positions["ticker"])
    keep = (t >= 0) & (n >= 0)
    array[t[keep], n[keep]] = positions["position"].to_numpy(dtype=np.float64)[keep]
    return array


def strategy_daily_returns(
    panel: Panel, positions: pd.DataFrame, *, target_vol: float = 0.15, cost_bps: float = 0.0
) -> pd.Series:
    """Daily net returns of the vol-scaled, equal-weighted positions, indexed by position date.

    The return on ``date`` is earned from its close to the next close. Dates run from the first
    to the last position date; a missing position counts as flat.
    """
    array = positions_array(panel, positions)
    held = np.nonzero(np.isfinite(array).any(axis=1))[0]
    if len(held) == 0:
        return pd.Series(dtype=np.float64, name="strategy_return")
    span = np.arange(held[0], held[-1] + 1)
    block = array[span]
    mask = torch.as_tensor(panel.mask[span] & np.isfinite(block))
    daily, valid = strategy_returns(
        torch.as_tensor(np.nan_to_num(block)),
        torch.as_tensor(panel.next_returns[span]),
        torch.as_tensor(panel.ex_ante_vol[span]),
        mask,
        target_vol=target_vol,
        cost_bps=cost_bps,
    )
    index = panel.dates[span][valid.numpy()]
    return pd.Series(daily[valid].numpy(), index=index, name="strategy_return")


def positions_sharpe(
    panel: Panel, positions: pd.DataFrame, *, target_vol: float = 0.15, cost_bps: float = 0.0
) -> float:
    """Annualised Sharpe (sqrt(252), population std) of :func:`strategy_daily_returns`."""
    daily = strategy_daily_returns(panel, positions, target_vol=target_vol, cost_bps=cost_bps)
    if daily.empty:
        return float("nan")
    values = torch.as_tensor(daily.to_numpy())
    return float(annualised_sharpe(values, torch.ones_like(values, dtype=torch.bool)))
