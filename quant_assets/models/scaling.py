"""Per-factor standardisation fitted on the training period only."""

from __future__ import annotations

import numpy as np


class PanelStandardScaler:
    """Standardise each factor with the mean and std of its training-period values.

    Statistics pool every (date, ticker) cell of the training dates where the mask is set, so no
    value from the validation or test period can influence them. After scaling, values are
    clipped to ``+-clip`` and missing values become 0 (the training mean).

    Parameters
    ----------
    clip : float
        Bound on standardised values (5 follows the winsorising of Lim et al. 2019).

    Attributes
    ----------
    mean_, scale_ : ndarray of shape (F,)
        Learned per-factor mean and standard deviation (1 where the std is 0).
    """

    def __init__(self, clip: float = 5.0) -> None:
        self.clip = clip

    def fit(
        self, features: np.ndarray, mask: np.ndarray, positions: np.ndarray
    ) -> PanelStandardScaler:
        """Learn statistics from ``features[positions]`` ``[T', F, N]`` where ``mask[positions]``."""
        block = features[positions].astype(np.float64)
        valid = mask[positions][:, None, :] & np.isfinite(block)
        counts = valid.sum(axis=(0, 2))
        if (counts == 0).any():
            raise ValueError("a factor has no valid training value")
        values = np.where(valid, block, 0.0)
        mean = values.sum(axis=(0, 2)) / counts
        centred = np.where(valid, block - mean[None, :, None], 0.0)
        std = np.sqrt((centred**2).sum(axis=(0, 2)) / counts)
        self.mean_ = mean.astype(np.float32)
        self.scale_ = np.where(std > 0, std, 1.0).astype(np.float32)
        return self

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Standardise a ``[..., F, N]`` array; NaN becomes 0 after clipping."""
        scaled = (features - self.mean_[:, None]) / self.scale_[:, None]
        return np.nan_to_num(np.clip(scaled, -self.clip, self.clip), nan=0.0).astype(np.float32)
