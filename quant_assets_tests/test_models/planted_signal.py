"""A synthetic panel with a planted, predictable component (unit tests with known answers).

Next-day return in units of daily vol: ``strength * planted + noise``, both unit normal and
independent across dates and tickers; the other factors are pure noise. Holding
``sign(planted)`` earns ``strength * E|z| = 0.8 * strength`` daily vol units per asset on average
against a std of about one, so over ``N`` equally weighted assets its annualised Sharpe is about
``0.8 * strength * sqrt(N) * sqrt(252)``: about 10 for the defaults (strength 0.3, 8 assets).
A forecaster that learned the planted factor clears a bar of 3 easily; one that did not is at
0 ± 1.2 (sqrt(252 / 190) on a 190-day test block).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_assets.models import Panel, Split

PLANTED_FACTORS = ("planted", "noise_a", "noise_b", "noise_c")
PLANTED_SHARPE_BAR = 3.0
DAILY_VOL = 0.16 / np.sqrt(252)


def planted_signal_panel(
    n_dates: int = 900, n_tickers: int = 8, *, strength: float = 0.3, seed: int = 0
) -> Panel:
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n_dates, len(PLANTED_FACTORS), n_tickers)).astype(np.float32)
    noise = rng.standard_normal((n_dates, n_tickers))
    next_returns = DAILY_VOL * (strength * features[:, 0, :].astype(np.float64) + noise)
    next_returns[-1] = np.nan  # no close after the last date
    feature_mask = np.ones((n_dates, n_tickers), dtype=bool)
    return Panel(
        dates=pd.bdate_range("2010-01-04", periods=n_dates),
        tickers=pd.Index([f"T{i}" for i in range(n_tickers)], name="ticker"),
        factors=PLANTED_FACTORS,
        features=features,
        next_returns=next_returns,
        ex_ante_vol=np.full((n_dates, n_tickers), 0.16),
        feature_mask=feature_mask,
        mask=feature_mask & np.isfinite(next_returns),
    )


def planted_split(n_dates: int = 900, embargo: int = 10) -> Split:
    """Train on the first 500 dates, validate on the next 190, test on the last 190."""
    block = np.arange
    return Split(
        train=block(0, 500),
        validation=block(500 + embargo, 700),
        test=block(700 + embargo, n_dates),
        embargo=embargo,
    )
