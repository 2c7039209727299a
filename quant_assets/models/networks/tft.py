"""Temporal-Fusion-Transformer-style momentum network (Wood, Giegerich, Roberts & Zohren 2021).

Variable selection with gated residual networks, an LSTM encoder, and causal interpretable
multi-head attention (heads share the value projection and are averaged), following the
Momentum Transformer; there are no static covariates, so static enrichment takes no context.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional

from quant_assets.models.networks.base import AssetSequenceNetwork, init_position_head


class FeatureWiseLinear(nn.Module):
    """``F`` independent linear maps applied to ``[..., F, in]`` inputs (one per variable)."""

    def __init__(self, n_features: int, in_size: int, out_size: int, bias: bool = True) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_size)
        self.weight = nn.Parameter(
            torch.empty(n_features, in_size, out_size).uniform_(-bound, bound)
        )
        self.bias = (
            nn.Parameter(torch.empty(n_features, out_size).uniform_(-bound, bound))
            if bias
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        out = torch.einsum("...fi,fio->...fo", x, self.weight)
        return out + self.bias if self.bias is not None else out


def _linear(in_size: int, out_size: int, n_features: int | None) -> nn.Module:
    if n_features is None:
        return nn.Linear(in_size, out_size)
    return FeatureWiseLinear(n_features, in_size, out_size)


class GatedLinearUnit(nn.Module):
    """Dropout, then ``sigmoid(W1 x) * (W2 x)``."""

    def __init__(
        self, in_size: int, out_size: int, dropout: float, n_features: int | None = None
    ) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = _linear(in_size, 2 * out_size, n_features)

    def forward(self, x: Tensor) -> Tensor:
        value, gate = self.linear(self.dropout(x)).chunk(2, dim=-1)
        return torch.sigmoid(gate) * value


class GateAddNorm(nn.Module):
    """``LayerNorm(residual + GLU(x))``: the gated skip connection of the TFT."""

    def __init__(self, size: int, dropout: float) -> None:
        super().__init__()
        self.gate = GatedLinearUnit(size, size, dropout)
        self.norm = nn.LayerNorm(size)

    def forward(self, x: Tensor, residual: Tensor) -> Tensor:
        return self.norm(residual + self.gate(x))


class GatedResidualNetwork(nn.Module):
    """``LayerNorm(skip(a) + GLU(W1 ELU(W2 a + b2) + b1))`` (Lim et al. 2021, eqs. 2-4).

    With ``n_features`` set, every variable gets its own weights (inputs ``[..., F, in]``).
    """

    def __init__(
        self,
        in_size: int,
        hidden_size: int,
        out_size: int,
        dropout: float,
        n_features: int | None = None,
    ) -> None:
        super().__init__()
        self.skip = _linear(in_size, out_size, n_features) if in_size != out_size else nn.Identity()
        self.hidden = _linear(in_size, hidden_size, n_features)
        self.project = _linear(hidden_size, hidden_size, n_features)
        self.gate = GatedLinearUnit(hidden_size, out_size, dropout, n_features)
        self.norm = nn.LayerNorm(out_size)

    def forward(self, a: Tensor) -> Tensor:
        eta = self.project(functional.elu(self.hidden(a)))
        return self.norm(self.skip(a) + self.gate(eta))


class VariableSelectionNetwork(nn.Module):
    """Embeds each scalar feature, transforms it with its own GRN and mixes them with softmax weights.

    Returns the selected embedding ``[..., d]`` and the variable weights ``[..., F]``.
    """

    def __init__(self, n_features: int, hidden_size: int, dropout: float) -> None:
        super().__init__()
        self.embedding = FeatureWiseLinear(n_features, 1, hidden_size)
        self.variable_grns = GatedResidualNetwork(
            hidden_size, hidden_size, hidden_size, dropout, n_features
        )
        self.weight_grn = GatedResidualNetwork(
            n_features * hidden_size, hidden_size, n_features, dropout
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        embedded = self.embedding(x.unsqueeze(-1))  # [..., F, d]
        weights = torch.softmax(self.weight_grn(embedded.flatten(-2)), dim=-1)
        selected = (self.variable_grns(embedded) * weights.unsqueeze(-1)).sum(dim=-2)
        return selected, weights


class InterpretableMultiHeadAttention(nn.Module):
    """Causal multi-head attention whose heads share one value projection and are averaged."""

    def __init__(self, hidden_size: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        if hidden_size % n_heads:
            raise ValueError("hidden_size must be a multiple of n_heads")
        self.n_heads, self.head_size = n_heads, hidden_size // n_heads
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, self.head_size)
        self.out = nn.Linear(self.head_size, hidden_size)
        self.dropout = dropout

    def forward(self, x: Tensor) -> Tensor:
        size, length, _ = x.shape
        q = self.query(x).view(size, length, self.n_heads, self.head_size).transpose(1, 2)
        k = self.key(x).view(size, length, self.n_heads, self.head_size).transpose(1, 2)
        v = self.value(x).unsqueeze(1).expand(size, self.n_heads, length, self.head_size)
        heads = functional.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out(heads.mean(dim=1))


class MomentumTransformer(AssetSequenceNetwork):
    """TFT-style momentum network over each asset's feature sequence, shared across assets.

    Parameters
    ----------
    n_features : int
        ``F``.
    hidden_size : int
        Model width ``d`` (a multiple of ``n_heads``).
    n_heads : int
        Attention heads.
    dropout : float
        Dropout rate in the gates and attention.
    """

    def __init__(
        self, n_features: int, *, hidden_size: int = 32, n_heads: int = 4, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.selection = VariableSelectionNetwork(n_features, hidden_size, dropout)
        self.encoder = nn.LSTM(hidden_size, hidden_size, batch_first=True)
        self.encoder_gate = GateAddNorm(hidden_size, dropout)
        self.enrichment = GatedResidualNetwork(hidden_size, hidden_size, hidden_size, dropout)
        self.attention = InterpretableMultiHeadAttention(hidden_size, n_heads, dropout)
        self.attention_gate = GateAddNorm(hidden_size, dropout)
        self.feed_forward = GatedResidualNetwork(hidden_size, hidden_size, hidden_size, dropout)
        self.output_gate = GateAddNorm(hidden_size, dropout)
        self.head = init_position_head(nn.Linear(hidden_size, 1))

    def sequence_scores(self, sequences: Tensor) -> Tensor:
        """Scores ``[S, L]`` from sequences ``[S, L, F]``."""
        selected, _ = self.selection(sequences)
        encoded, _ = self.encoder(selected)
        temporal = self.encoder_gate(encoded, selected)
        enriched = self.enrichment(temporal)
        attended = self.attention_gate(self.attention(enriched), enriched)
        return self.head(self.output_gate(self.feed_forward(attended), temporal)).squeeze(-1)

    def variable_weights(self, sequences: Tensor) -> Tensor:
        """Variable-selection weights ``[S, L, F]`` (rows sum to 1), for interpretation."""
        return self.selection(sequences)[1]
