"""The per-asset sequence interface shared by the recurrent momentum networks."""

from __future__ import annotations

from torch import Tensor, nn


class AssetSequenceNetwork(nn.Module):
    """A network that reads each asset's own feature sequence, shared across assets.

    Subclasses implement :meth:`sequence_scores` on ``[S, L, F]`` sequences. :meth:`forward`
    takes the panel layout ``[B, L, N, F]`` and returns scores ``[B, L, N]``; sequences of assets
    marked inactive (no data in the window) are skipped and score 0.
    """

    uses_sequence = True

    def sequence_scores(self, sequences: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor, active: Tensor | None = None) -> Tensor:
        batch, length, n_assets, n_features = x.shape
        sequences = x.permute(0, 2, 1, 3).reshape(batch * n_assets, length, n_features)
        if active is None:
            scores = self.sequence_scores(sequences)
        else:
            keep = active.reshape(-1).nonzero().squeeze(-1)
            scores = sequences.new_zeros(batch * n_assets, length)
            if len(keep):
                scores = scores.index_copy(
                    0, keep, self.sequence_scores(sequences[keep]).to(scores)
                )
        return scores.reshape(batch, n_assets, length).permute(0, 2, 1)


def init_position_head(head: nn.Linear, weight_std: float = 1e-3) -> nn.Linear:
    """Zero bias and near-zero weights on the layer that outputs scores.

    A fresh network then scores every asset about 0, i.e. holds almost no position, and training
    moves it away from flat only where that pays on the training windows.
    """
    nn.init.normal_(head.weight, std=weight_std)
    nn.init.zeros_(head.bias)
    return head


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
