"""Cross-sectional MLP: spatio-temporal momentum (Tan, Roberts & Zohren 2023)."""

from __future__ import annotations

from torch import Tensor, nn

from quant_assets.models.networks.base import init_position_head


class CrossSectionalMLP(nn.Module):
    """Reads every asset's features on a date and outputs a score per asset.

    The input is the concatenation of all ``N`` assets' ``F`` features on one date (missing assets
    contribute zeros), so the network can combine time-series and cross-sectional momentum. Dates
    are processed independently: the model needs no history beyond the current date.

    Parameters
    ----------
    n_features, n_assets : int
        ``F`` and ``N``; the asset universe is fixed at construction.
    hidden_size : int
        Width of each hidden layer.
    n_layers : int
        Number of hidden layers (ELU activations, dropout after each).
    dropout : float
        Dropout rate.
    """

    uses_sequence = False

    def __init__(
        self,
        n_features: int,
        n_assets: int,
        *,
        hidden_size: int = 64,
        n_layers: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features * n_assets
        for _ in range(n_layers):
            layers += [nn.Linear(width, hidden_size), nn.ELU(), nn.Dropout(dropout)]
            width = hidden_size
        layers.append(init_position_head(nn.Linear(width, n_assets)))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor, active: Tensor | None = None) -> Tensor:
        """Scores ``[B, L, N]`` from features ``[B, L, N, F]`` (``active`` is not needed here)."""
        batch, length, n_assets, n_features = x.shape
        return self.layers(x.reshape(batch, length, n_assets * n_features))
