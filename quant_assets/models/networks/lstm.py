"""LSTM deep momentum network (Lim, Zohren & Roberts 2019)."""

from __future__ import annotations

from torch import Tensor, nn

from quant_assets.models.networks.base import AssetSequenceNetwork, init_position_head


class DeepMomentumLSTM(AssetSequenceNetwork):
    """An LSTM over each asset's feature sequence, one score per date (sequence-to-sequence).

    Weights are shared across assets, as in the paper; the score at date ``t`` depends only on
    the asset's features up to ``t``.

    Parameters
    ----------
    n_features : int
        ``F``.
    hidden_size : int
        LSTM state size.
    n_layers : int
        Stacked LSTM layers.
    dropout : float
        Dropout on the LSTM outputs (and between layers).
    """

    def __init__(
        self, n_features: int, *, hidden_size: int = 32, n_layers: int = 1, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            n_features,
            hidden_size,
            num_layers=n_layers,
            batch_first=True,
            dropout=dropout if n_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = init_position_head(nn.Linear(hidden_size, 1))

    def sequence_scores(self, sequences: Tensor) -> Tensor:
        """Scores ``[S, L]`` from sequences ``[S, L, F]``."""
        hidden, _ = self.lstm(sequences)
        return self.head(self.dropout(hidden)).squeeze(-1)
