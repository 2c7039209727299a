"""A trained network bundled with its feature scaling and output map."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from quant_assets.models.networks.lstm import DeepMomentumLSTM
from quant_assets.models.networks.mlp import CrossSectionalMLP
from quant_assets.models.networks.tft import MomentumTransformer
from quant_assets.models.tensors import Panel

NETWORK_KINDS = ("mlp", "lstm", "tft")
OUTPUTS = ("position", "forecast")


def build_network(
    kind: str,
    n_features: int,
    n_assets: int,
    *,
    hidden_size: int = 32,
    n_layers: int | None = None,
    n_heads: int = 4,
    dropout: float = 0.1,
) -> nn.Module:
    """A fresh network: ``"mlp"``, ``"lstm"`` or ``"tft"``.

    ``n_layers`` (hidden layers of the MLP, stacked LSTM layers) defaults to each network's own.
    """
    layers = {} if n_layers is None else {"n_layers": n_layers}
    if kind == "mlp":
        return CrossSectionalMLP(
            n_features, n_assets, hidden_size=hidden_size, dropout=dropout, **layers
        )
    if kind == "lstm":
        return DeepMomentumLSTM(n_features, hidden_size=hidden_size, dropout=dropout, **layers)
    if kind == "tft":
        return MomentumTransformer(
            n_features, hidden_size=hidden_size, n_heads=n_heads, dropout=dropout
        )
    raise ValueError(f"unknown network kind {kind!r}; expected one of {NETWORK_KINDS}")


class PositionModel(nn.Module):
    """Raw features in, positions in ``[-1, 1]`` out: scaling, network and output map in one module.

    The training-period mean and scale live in buffers, so the module's ``state_dict`` is all a
    caller needs to reproduce positions.

    Parameters
    ----------
    network : Module
        Maps standardised ``[B, L, N, F]`` features to scores ``[B, L, N]``.
    feature_mean, feature_scale : array of shape (F,)
        Training-period statistics (see :class:`~quant_assets.models.scaling.PanelStandardScaler`).
    context_length : int
        Dates of history one position reads (1 for the MLP, the sequence length otherwise).
    output : {"position", "forecast"}
        ``"position"``: positions are ``tanh(score)`` (trained on Sharpe); ``"forecast"``: the score
        forecasts the vol-normalised next-day return and the position is its sign.
    clip : float
        Bound on standardised features.
    factors, tickers : tuple of str, optional
        The panel layout the model was trained on, checked by :meth:`check_panel`.
    """

    def __init__(
        self,
        network: nn.Module,
        feature_mean: np.ndarray,
        feature_scale: np.ndarray,
        *,
        context_length: int,
        output: str = "position",
        clip: float = 5.0,
        factors: tuple[str, ...] | None = None,
        tickers: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}")
        self.network = network
        self.register_buffer("feature_mean", torch.as_tensor(feature_mean, dtype=torch.float32))
        self.register_buffer("feature_scale", torch.as_tensor(feature_scale, dtype=torch.float32))
        self.context_length = context_length
        self.output = output
        self.clip = clip
        self.factors = None if factors is None else tuple(factors)
        self.tickers = None if tickers is None else tuple(tickers)

    def check_panel(self, panel: Panel) -> None:
        """Refuse a panel whose factors (or, for the cross-sectional MLP, tickers) differ.

        The sequence networks share weights across assets, so they accept any universe.
        """
        if self.factors is not None and tuple(panel.factors) != self.factors:
            raise ValueError(f"the model expects factors {self.factors}, got {panel.factors}")
        uses_sequence = getattr(self.network, "uses_sequence", True)
        if not uses_sequence and self.tickers is not None and tuple(panel.tickers) != self.tickers:
            raise ValueError("the cross-sectional model expects the tickers it was trained on")

    def scores(self, features: Tensor, active: Tensor | None = None) -> Tensor:
        """Network scores ``[B, L, N]`` from raw features ``[B, L, N, F]`` (NaN allowed)."""
        scaled = ((features - self.feature_mean) / self.feature_scale).clamp(-self.clip, self.clip)
        return self.network(torch.nan_to_num(scaled, nan=0.0), active)

    def positions_from_scores(self, scores: Tensor) -> Tensor:
        """``tanh(score)`` for a position network, ``sign(score)`` for a forecaster."""
        return torch.tanh(scores) if self.output == "position" else torch.sign(scores)

    def forward(self, features: Tensor, active: Tensor | None = None) -> Tensor:
        """Positions ``[B, L, N]`` in ``[-1, 1]``."""
        return self.positions_from_scores(self.scores(features, active))


class SeedAveragedModel(nn.Module):
    """Several :class:`PositionModel` of one network kind and split (one per seed), averaged.

    The position is the mean of the members' positions, exactly what the walk-forward training
    reports for a model x window trained from several seeds. The members share the split, so
    they share the feature scaling, context length, output map and panel layout; the ensemble
    exposes those (``context_length``, ``feature_mean``, ``network``, :meth:`check_panel`) so it
    stands wherever a single :class:`PositionModel` does (``predict_positions``, MLflow logging).

    Its :meth:`scores` are already positions (the members' mean position) and
    :meth:`positions_from_scores` is the identity: an average of ``tanh`` (or ``sign``) outputs
    has no single score behind it.
    """

    def __init__(self, members: list[PositionModel]) -> None:
        super().__init__()
        if not members:
            raise ValueError("a seed average needs at least one model")
        first = members[0]
        for other in members[1:]:
            same = (
                other.context_length == first.context_length
                and other.output == first.output
                and other.factors == first.factors
                and other.tickers == first.tickers
                and type(other.network) is type(first.network)
            )
            if not same:
                raise ValueError("seed members must share network kind, context, output, layout")
        self.members = nn.ModuleList(members)

    @property
    def n_seeds(self) -> int:
        return len(self.members)

    @property
    def network(self) -> nn.Module:
        """The first member's network (its kind and ``uses_sequence`` stand for all)."""
        return self.members[0].network

    @property
    def context_length(self) -> int:
        return self.members[0].context_length

    @property
    def feature_mean(self) -> Tensor:
        return self.members[0].feature_mean

    @property
    def output(self) -> str:
        return self.members[0].output

    @property
    def factors(self) -> tuple[str, ...] | None:
        return self.members[0].factors

    @property
    def tickers(self) -> tuple[str, ...] | None:
        return self.members[0].tickers

    def check_panel(self, panel: Panel) -> None:
        self.members[0].check_panel(panel)

    def scores(self, features: Tensor, active: Tensor | None = None) -> Tensor:
        """The members' mean position ``[B, L, N]`` (see the class docstring)."""
        stacked = torch.stack(
            [m.positions_from_scores(m.scores(features, active).float()) for m in self.members]
        )
        return stacked.mean(dim=0)

    def positions_from_scores(self, scores: Tensor) -> Tensor:
        return scores

    def forward(self, features: Tensor, active: Tensor | None = None) -> Tensor:
        """Mean positions ``[B, L, N]`` in ``[-1, 1]``."""
        return self.scores(features, active)
