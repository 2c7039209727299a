"""Momentum networks: cross-sectional MLP, LSTM deep momentum network, TFT-style transformer.

Every network maps standardised features ``[B, L, N, F]`` (batch, dates, assets, factors) to
scores ``[B, L, N]``; the score at date ``t`` uses features up to ``t`` only.
:class:`PositionModel` wraps a network with its scaling and turns scores into positions.
"""

from __future__ import annotations

from quant_assets.models.networks.base import AssetSequenceNetwork, count_parameters
from quant_assets.models.networks.lstm import DeepMomentumLSTM
from quant_assets.models.networks.mlp import CrossSectionalMLP
from quant_assets.models.networks.position_model import (
    NETWORK_KINDS,
    PositionModel,
    SeedAveragedModel,
    build_network,
)
from quant_assets.models.networks.tft import MomentumTransformer

__all__ = [
    "NETWORK_KINDS",
    "AssetSequenceNetwork",
    "CrossSectionalMLP",
    "DeepMomentumLSTM",
    "MomentumTransformer",
    "PositionModel",
    "SeedAveragedModel",
    "build_network",
    "count_parameters",
]
