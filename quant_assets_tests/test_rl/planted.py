"""A synthetic market with a planted, learnable signal (hand-checkable, for the agent tests).

Every day each ticker moves +1% or -1% at random, close to close, and opens at the last close.
The one factor, known at the close of ``t``, is the sign of the next day's move, right on 80% of
days, plus Gaussian noise: a policy that follows its sign earns about ``0.6%`` a day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_assets.models import Panel
from quant_assets.rl import TradingCosts, TradingData, trading_data

N_DATES, TICKERS = 700, ("S1", "S2", "S3")
TRAIN = np.arange(0, 400)
VALIDATION = np.arange(430, 560)
TEST = np.arange(590, 700)
EMBARGO = 29


def planted_market(seed: int = 42, accuracy: float = 0.8) -> tuple[Panel, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = len(TICKERS)
    moves = rng.choice([-0.01, 0.01], size=(N_DATES, n))
    moves[0] = 0.0
    dates = pd.bdate_range("2010-01-04", periods=N_DATES)
    closes = pd.DataFrame(
        100.0 * np.cumprod(1.0 + moves, axis=0), index=dates, columns=list(TICKERS)
    )
    right = rng.random((N_DATES, n)) < accuracy
    signal = np.sign(np.roll(moves, -1, axis=0)) * np.where(right, 1.0, -1.0)
    signal[-1] = rng.choice([-1.0, 1.0], size=n)
    features = signal + 0.3 * rng.standard_normal((N_DATES, n))
    panel = Panel(
        dates=dates,
        tickers=pd.Index(list(TICKERS), name="ticker"),
        factors=("planted",),
        features=features.astype(np.float32)[:, None, :],
        next_returns=closes.pct_change().shift(-1).to_numpy(),
        ex_ante_vol=np.full((N_DATES, n), 0.16),
        feature_mask=np.ones((N_DATES, n), dtype=bool),
        mask=np.ones((N_DATES, n), dtype=bool),
    )
    return panel, closes


def planted_data(costs: TradingCosts | None = None) -> tuple[Panel, pd.DataFrame, TradingData]:
    panel, closes = planted_market()
    opens = closes.shift(1).bfill()
    data = trading_data(
        panel, closes, opens=opens, fit_positions=TRAIN, costs=costs or TradingCosts(fee_bps=1.0)
    )
    return panel, closes, data
