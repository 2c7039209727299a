from __future__ import annotations

import numpy as np
import pytest
import torch

from quant_assets.models import (
    annualised_sharpe,
    l1_penalty,
    long_only_positions,
    masked_mse,
    positions_sharpe,
    sharpe_loss,
    strategy_returns,
)

# 3 dates x 2 assets; asset 1 is not tradeable on date 1
POSITIONS = torch.tensor([[0.5, -1.0], [1.0, 0.3], [-0.5, 0.5]])
RETURNS = torch.tensor([[0.01, -0.02], [0.02, float("nan")], [-0.01, 0.03]])
VOL = torch.tensor([[0.10, 0.30], [0.15, float("nan")], [0.20, 0.30]])
MASK = torch.tensor([[True, True], [True, False], [True, True]])


def hand_daily(cost_bps: float) -> np.ndarray:
    c = cost_bps / 1e4
    # scaled positions s = position * 0.15 / vol; s = 0 where not tradeable
    s = np.array([[0.75, -0.5], [1.0, 0.0], [-0.375, 0.25]])
    gross = np.array(
        [[0.75 * 0.01, -0.5 * -0.02], [1.0 * 0.02, 0.0], [-0.375 * -0.01, 0.25 * 0.03]]
    )
    cost = np.zeros_like(s)
    cost[1:] = c * np.abs(s[1:] - s[:-1])
    cost[1, 1] = 0.0  # not tradeable: no cost counted on that cell
    net = gross - cost
    return np.array([net[0].mean(), net[1, 0], net[2].mean()])


@pytest.mark.parametrize("cost_bps", [0.0, 10.0])
def test_strategy_returns_by_hand(cost_bps):
    daily, valid = strategy_returns(POSITIONS, RETURNS, VOL, MASK, cost_bps=cost_bps)
    assert valid.all()
    np.testing.assert_allclose(daily.numpy(), hand_daily(cost_bps), rtol=1e-5)


def test_sharpe_loss_is_negative_annualised_sharpe_by_hand():
    daily = hand_daily(10.0)
    expected = -daily.mean() / daily.std() * np.sqrt(252)  # population std
    loss = sharpe_loss(POSITIONS, RETURNS, VOL, MASK, cost_bps=10.0)
    assert np.isclose(loss.item(), expected, rtol=1e-5)


def test_sharpe_loss_gradient_is_finite_with_nan_in_masked_cells():
    positions = POSITIONS.clone().requires_grad_(True)
    sharpe_loss(positions, RETURNS, VOL, MASK, cost_bps=5.0).backward()
    assert torch.isfinite(positions.grad).all()
    assert positions.grad[1, 1] == 0


def test_sharpe_pools_a_batch_of_windows():
    batch = torch.stack([POSITIONS, -POSITIONS])
    daily, valid = strategy_returns(
        batch, RETURNS.expand(2, 3, 2), VOL.expand(2, 3, 2), MASK.expand(2, 3, 2)
    )
    pooled = torch.cat([daily[0], daily[1]])
    expected = pooled.mean() / pooled.std(unbiased=False) * np.sqrt(252)
    assert np.isclose(annualised_sharpe(daily, valid).item(), expected.item(), rtol=1e-5)


def test_masked_mse_ignores_unscored_cells():
    forecast = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    target = torch.tensor([[0.0, float("nan")], [1.0, 4.0]])
    mask = torch.tensor([[True, False], [True, True]])
    assert masked_mse(forecast, target, mask).item() == pytest.approx((1 + 4 + 0) / 3)


def test_l1_penalty_sums_absolute_weights_not_biases():
    layer = torch.nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, -1.5]]))
        layer.bias.fill_(10.0)
    assert l1_penalty(layer).item() == pytest.approx(2.0)


def test_positions_sharpe_scores_long_frames_like_the_loss(sp500_panel, sp500_closes):
    dates = sp500_panel.dates[300:320]
    positions = long_only_positions(sp500_closes, dates)
    rows = slice(300, 320)
    daily, valid = strategy_returns(
        torch.ones(20, 6, dtype=torch.float64),
        torch.as_tensor(sp500_panel.next_returns[rows]),
        torch.as_tensor(sp500_panel.ex_ante_vol[rows]),
        torch.as_tensor(sp500_panel.mask[rows]),
        cost_bps=3.0,
    )
    expected = annualised_sharpe(daily, valid).item()
    assert positions_sharpe(sp500_panel, positions, cost_bps=3.0) == pytest.approx(expected)
