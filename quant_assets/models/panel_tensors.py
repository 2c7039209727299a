"""A :class:`~quant_assets.models.tensors.Panel` as torch tensors on a device, and window gathers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from quant_assets.models.tensors import Panel


class Windows(NamedTuple):
    """Windows of ``L`` consecutive dates for a batch of ``B`` window ends.

    ``features`` ``[B, L, N, F]`` (raw, NaN where unknown); the others ``[B, L, N]``.
    """

    features: Tensor
    next_returns: Tensor
    ex_ante_vol: Tensor
    mask: Tensor
    normalised_next_returns: Tensor


@dataclass(frozen=True)
class PanelTensors:
    """Panel arrays on one device; targets are zero (and vol one) wherever ``mask`` is False.

    ``features`` is laid out ``[T, N, F]`` (assets before factors), the networks' layout.
    """

    features: Tensor
    next_returns: Tensor
    ex_ante_vol: Tensor
    normalised_next_returns: Tensor
    mask: Tensor
    feature_mask: Tensor

    @property
    def device(self) -> torch.device:
        return self.features.device

    @classmethod
    def from_panel(cls, panel: Panel, device: torch.device | str = "cpu") -> PanelTensors:
        mask = panel.mask

        def put(array: np.ndarray, fill: float) -> Tensor:
            clean = np.where(mask, array, fill).astype(np.float32)
            return torch.as_tensor(clean, device=device)

        features = np.ascontiguousarray(panel.features.transpose(0, 2, 1))
        return cls(
            features=torch.as_tensor(features, device=device),
            next_returns=put(panel.next_returns, 0.0),
            ex_ante_vol=put(panel.ex_ante_vol, 1.0),
            normalised_next_returns=put(panel.normalised_next_returns(), 0.0),
            mask=torch.as_tensor(mask, device=device),
            feature_mask=torch.as_tensor(panel.feature_mask, device=device),
        )

    def windows(self, ends: Tensor, length: int) -> Windows:
        """The ``length`` dates ending at each of ``ends`` (dates before the panel: unknown)."""
        ends = torch.as_tensor(ends, device=self.device)
        index = ends[:, None] + torch.arange(1 - length, 1, device=self.device)[None, :]
        before = (index < 0)[..., None]
        index = index.clamp_min(0)
        # masked_fill rather than a data-dependent branch: no host sync per batch on a GPU
        return Windows(
            features=self.features[index].masked_fill(before[..., None], float("nan")),
            next_returns=self.next_returns[index],
            ex_ante_vol=self.ex_ante_vol[index],
            mask=self.mask[index] & ~before,
            normalised_next_returns=self.normalised_next_returns[index],
        )

    @torch.inference_mode()
    def scores_at(
        self,
        model: torch.nn.Module,
        positions: np.ndarray,
        batch_size: int,
        use_amp: bool,
        stride: int = 1,
    ) -> Tensor:
        """Model scores ``[D, N]`` on the dates ``positions``, reading nothing after each date.

        With ``stride == 1`` each date is scored from the ``context_length`` window ending on it,
        the way a live position is computed. A larger stride (contiguous dates only) scores
        ``stride`` dates per window, anchored on the last date: cheaper, and for a sequence model
        (``stride`` capped at its context) each date then sees between ``context - stride + 1`` and
        ``context`` dates of history, all of which it was trained on.
        """
        model.eval()
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) == 0:
            return torch.empty(0, self.features.shape[1], device=self.device)
        if model.network.uses_sequence:
            stride = min(stride, model.context_length)
        contiguous = np.array_equal(positions, np.arange(positions[0], positions[-1] + 1))
        stride = stride if contiguous and stride > 1 else 1
        if stride == 1:
            ends = torch.as_tensor(positions, device=self.device)
        else:
            ends = torch.arange(
                int(positions[-1]), int(positions[0]) - 1, -stride, device=self.device
            ).flip(0)
        length = max(model.context_length, stride)
        out = []
        for chunk in ends.split(batch_size):
            window = self.windows(chunk, length)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=use_amp):
                scores = model.scores(window.features, self._known(chunk, stride))
            out.append(scores[:, -stride:, :].float().reshape(-1, scores.shape[2]))
        first_scored = int(ends[0]) - stride + 1
        return torch.cat(out)[int(positions[0]) - first_scored :]

    def _known(self, ends: Tensor, length: int) -> Tensor:
        """``[B, N]``: assets with features on any of the ``length`` dates ending at each end."""
        index = (ends[:, None] + torch.arange(1 - length, 1, device=self.device)).clamp_min(0)
        return self.feature_mask[index].any(dim=1)
