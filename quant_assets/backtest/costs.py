"""Trading costs beyond the flat fee: slippage and square-root market impact.

Costs move the execution price against the trader. A buy of ``q`` shares at a reference price
``p`` (that bar's close, or open under next-open execution) fills at

    p * (1 + slippage + impact(q)),

and a sell at ``p * (1 - slippage - impact(q))``. The fee (``fee_bps``) is then charged on the
notional at that execution price, the convention vectorbt uses, so the three costs compound.

References
----------
Almgren, R., Thum, C., Hauptmann, E. and Li, H. (2005). "Direct estimation of equity market
impact." *Risk*, 18(7), 58-62.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

__all__ = ["SquareRootImpact", "impact_fraction"]


@dataclass(frozen=True)
class SquareRootImpact:
    """Square-root market impact, as in Almgren-Chriss style cost models.

    The price concession of an order for ``q`` shares is

        coefficient * sigma * sqrt(q / adv)

    as a fraction of the reference price, where ``sigma`` is the daily volatility of simple
    close-to-close returns (sample standard deviation over ``volatility_window`` bars) and
    ``adv`` the average daily volume in shares over ``volume_window`` bars. Both estimates end at
    the bar *before* the trade, so an order never uses that day's own volume or return. Where
    either estimate is missing (the first bars of a series, or zero volume) the impact is zero.

    Parameters
    ----------
    coefficient : float, default 1.0
        The dimensionless constant ``Y`` of the square-root law; empirical estimates lie
        between about 0.5 and 1.
    volatility_window : int, default 20
        Bars in the rolling volatility estimate.
    volume_window : int, default 20
        Bars in the rolling average volume.
    """

    coefficient: float = 1.0
    volatility_window: int = 20
    volume_window: int = 20

    def __post_init__(self) -> None:
        if not np.isfinite(self.coefficient) or self.coefficient < 0:
            raise ValueError("coefficient must be finite and non-negative")
        if self.volatility_window < 2 or self.volume_window < 1:
            raise ValueError("volatility_window must be >= 2 and volume_window >= 1")

    def estimates(
        self, closes: pd.DataFrame, volumes: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray]:
        """Daily volatility and average volume known before each bar.

        Parameters
        ----------
        closes, volumes : pandas.DataFrame
            Wide panels (dates x tickers) of closes and share volumes on the same axes.

        Returns
        -------
        (sigma, adv) : tuple of numpy.ndarray
            Float arrays shaped like ``closes``; row ``t`` uses bars up to ``t - 1``.
        """
        returns = closes.ffill().pct_change(fill_method=None)
        sigma = returns.rolling(self.volatility_window).std(ddof=1).shift(1)
        adv = volumes.where(volumes > 0).rolling(self.volume_window).mean().shift(1)
        return (
            np.ascontiguousarray(sigma.to_numpy(dtype=np.float64)),
            np.ascontiguousarray(adv.to_numpy(dtype=np.float64)),
        )


@njit(cache=True, inline="always")
def impact_fraction(coefficient: float, sigma: float, adv: float, shares: float) -> float:
    """Price concession ``coefficient * sigma * sqrt(|shares| / adv)``; 0 where unknown."""
    if coefficient == 0.0 or not (sigma >= 0.0) or not (adv > 0.0):
        return 0.0
    return coefficient * sigma * np.sqrt(abs(shares) / adv)
