from __future__ import annotations

import numpy as np
import pytest
import torch

from quant_assets.models import NETWORK_KINDS, PanelStandardScaler, PositionModel, build_network
from quant_assets.models.losses import sharpe_loss
from quant_assets.models.networks import MomentumTransformer
from quant_assets.models.panel_tensors import PanelTensors


def make_model(kind, panel, train, seed=0, hidden=16, dropout=0.0):
    torch.manual_seed(seed)
    scaler = PanelStandardScaler().fit(panel.features, panel.feature_mask, train)
    network = build_network(
        kind, len(panel.factors), len(panel.tickers), hidden_size=hidden, dropout=dropout
    )
    return PositionModel(network, scaler.mean_, scaler.scale_, context_length=10)


@pytest.fixture(scope="module")
def tiny_batch(sp500_panel):
    """Four real 10-date windows of six assets in 2005-2006."""
    return PanelTensors.from_panel(sp500_panel).windows(torch.tensor([400, 450, 500, 550]), 10)


@pytest.mark.parametrize("kind", NETWORK_KINDS)
def test_positions_have_the_panel_layout_and_lie_in_unit_interval(
    kind, sp500_panel, sp500_split, tiny_batch
):
    model = make_model(kind, sp500_panel, sp500_split.train).eval()
    positions = model(tiny_batch.features * 50)  # large inputs: still bounded
    assert positions.shape == (4, 10, 6)
    assert positions.abs().max() <= 1.0


@pytest.mark.parametrize("kind", NETWORK_KINDS)
def test_a_date_s_position_ignores_later_features(kind, sp500_panel, sp500_split, tiny_batch):
    model = make_model(kind, sp500_panel, sp500_split.train).eval()
    changed = tiny_batch.features.clone()
    changed[:, 6:] = torch.randn_like(changed[:, 6:])
    before, after = model(tiny_batch.features), model(changed)
    torch.testing.assert_close(before[:, :6], after[:, :6])
    assert not torch.allclose(before[:, 6:], after[:, 6:])


@pytest.mark.parametrize("kind", ["lstm", "tft"])
def test_inactive_assets_are_skipped_without_changing_the_others(
    kind, sp500_panel, sp500_split, tiny_batch
):
    model = make_model(kind, sp500_panel, sp500_split.train).eval()
    active = torch.ones(4, 6, dtype=torch.bool)
    active[:, 2] = False
    full, partial = model(tiny_batch.features), model(tiny_batch.features, active)
    assert (partial[:, :, 2] == 0).all()
    keep = [0, 1, 3, 4, 5]
    torch.testing.assert_close(full[:, :, keep], partial[:, :, keep])


@pytest.mark.parametrize("kind", NETWORK_KINDS)
def test_each_network_overfits_a_tiny_batch(kind, sp500_panel, sp500_split, tiny_batch):
    model = make_model(kind, sp500_panel, sp500_split.train)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    args = (tiny_batch.next_returns, tiny_batch.ex_ante_vol, tiny_batch.mask)
    sharpes = []
    for _ in range(120):
        loss = sharpe_loss(model(tiny_batch.features), *args)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        sharpes.append(-loss.item())
    # an annualised in-sample Sharpe this high on 40 real dates is memorisation
    assert max(sharpes) > max(40.0, sharpes[0] + 30.0)


def test_tft_variable_weights_are_a_distribution_over_factors(sp500_panel, tiny_batch):
    network = MomentumTransformer(len(sp500_panel.factors), hidden_size=8, n_heads=2)
    weights = network.variable_weights(torch.nan_to_num(tiny_batch.features[:, :, 0]))
    assert weights.shape == (4, 10, 8)
    np.testing.assert_allclose(weights.sum(-1).detach().numpy(), 1.0, rtol=1e-5)


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown network kind"):
        build_network("gru", 3, 2)
