"""Training objectives: Sharpe of vol-scaled positions net of costs, MSE, L1 on weights.

Tensors share one layout: ``[..., L, N]`` with ``L`` consecutive trading dates and ``N`` assets.
``positions[..., t, n]`` is taken at the close of ``t`` and earns ``next_returns[..., t, n]``
(close ``t`` to close ``t+1``, simple return) scaled by ``target_vol / ex_ante_vol[..., t, n]``
(annualised vol known at the close of ``t``). Cells where ``mask`` is False count nowhere.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

TRADING_DAYS_PER_YEAR = 252


def strategy_returns(
    positions: Tensor,
    next_returns: Tensor,
    ex_ante_vol: Tensor,
    mask: Tensor,
    *,
    target_vol: float = 0.15,
    cost_bps: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """Daily net returns of an equal-weight portfolio of vol-scaled positions.

    For each tradeable cell the scaled position is ``s = position * target_vol / ex_ante_vol``;
    it earns ``s * next_return`` and pays ``cost_bps / 1e4 * |s_t - s_{t-1}|`` (a cell that was not
    tradeable the day before counts as flat; the first date of the window pays nothing, since the
    position before it is unknown). The day's return is the mean over the tradeable assets.

    Returns
    -------
    daily : Tensor, shape ``[..., L]``
        Net portfolio return per date (0 where no asset is tradeable).
    valid : Tensor of bool, shape ``[..., L]``
        Dates with at least one tradeable asset.
    """
    mask = mask.bool()
    returns = torch.where(mask, next_returns, torch.zeros_like(next_returns))
    vol = torch.where(mask, ex_ante_vol, torch.ones_like(ex_ante_vol))
    scaled = torch.where(mask, positions * (target_vol / vol), torch.zeros_like(positions))
    net = scaled * returns
    if cost_bps:
        turnover = nn.functional.pad((scaled[..., 1:, :] - scaled[..., :-1, :]).abs(), (0, 0, 1, 0))
        net = net - cost_bps / 1e4 * turnover * mask
    count = mask.sum(dim=-1)
    daily = net.sum(dim=-1) / count.clamp_min(1)
    return daily, count > 0


def annualised_sharpe(
    daily: Tensor, valid: Tensor, periods_per_year: int = TRADING_DAYS_PER_YEAR
) -> Tensor:
    """``mean / std * sqrt(periods_per_year)`` over the valid dates (population std), a scalar."""
    weight = valid.to(daily.dtype)
    n = weight.sum().clamp_min(1)
    mean = (daily * weight).sum() / n
    variance = (((daily - mean) * weight) ** 2).sum() / n
    return mean / torch.sqrt(variance + 1e-12) * math.sqrt(periods_per_year)


def sharpe_loss(
    positions: Tensor,
    next_returns: Tensor,
    ex_ante_vol: Tensor,
    mask: Tensor,
    *,
    target_vol: float = 0.15,
    cost_bps: float = 0.0,
) -> Tensor:
    """Negative annualised Sharpe of :func:`strategy_returns` (Lim et al. 2019, eq. 11 with costs).

    All dates of all windows in the batch are pooled into one sample of daily returns.
    """
    daily, valid = strategy_returns(
        positions, next_returns, ex_ante_vol, mask, target_vol=target_vol, cost_bps=cost_bps
    )
    return -annualised_sharpe(daily, valid)


def masked_mse(forecast: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean squared error over the cells where ``mask`` is set (targets may be NaN elsewhere)."""
    mask = mask.bool()
    error = torch.where(mask, forecast - torch.nan_to_num(target), torch.zeros_like(forecast))
    return (error**2).sum() / mask.sum().clamp_min(1)


def l1_penalty(module: nn.Module) -> Tensor:
    """Sum of absolute weights of ``module`` (matrices and embeddings; biases and norms excluded)."""
    weights = [p.abs().sum() for p in module.parameters() if p.requires_grad and p.ndim >= 2]
    return torch.stack(weights).sum() if weights else torch.zeros(())
