"""Black-Litterman weights with a model's predictions as views, through skfolio.

On each rebalance date ``t`` the trailing ``lookback`` daily returns up to and including ``t``
feed skfolio's estimators:

1. a reference portfolio ``w_ref``: equal weights, or skfolio's long-only minimum-variance
   portfolio (:class:`skfolio.optimization.MeanRisk`, ``MINIMIZE_RISK``);
2. the prior: :class:`skfolio.prior.EmpiricalPrior` with Ledoit-Wolf covariance ``Sigma`` and
   implied returns ``pi = delta * Sigma @ w_ref`` (:class:`skfolio.moments.EquilibriumMu`);
3. the posterior: :class:`skfolio.prior.BlackLitterman` with one absolute view per ticker
   that has a signal on ``t``;
4. the weights: :class:`skfolio.optimization.MeanRisk` maximising ``mu' w - delta / 2 *
   w' Sigma w`` under the position and leverage limits. With no views this gives back
   ``w_ref`` (where the limits allow), so the views alone move the book away from the prior.

Each date is one optimisation, so dates are looped over (rebalance dates only); everything
inside is skfolio's. Returns are simple daily returns and every estimate is per day.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from skfolio.moments import EquilibriumMu, LedoitWolf
from skfolio.optimization import MeanRisk, ObjectiveFunction
from skfolio.prior import BasePrior, BlackLitterman, EmpiricalPrior
from sklearn.base import clone

from quant_assets.models.returns import TRADING_DAYS_PER_YEAR

__all__ = ["BlackLittermanModel", "black_litterman_weights"]

# A ticker joins the optimisation when it has returns on this share of the window's dates;
# its remaining gaps count as zero returns.
MIN_COVERAGE = 0.9


@dataclass(frozen=True)
class BlackLittermanModel:
    """Settings of the Black-Litterman allocation; :meth:`allocate` runs one date.

    Attributes
    ----------
    prior : {"equal_weight", "min_variance"}
        Reference portfolio whose implied returns are the prior mean.
    lookback : int
        Trailing daily returns per estimate; earlier dates get no weights.
    tau : float
        Uncertainty of the prior mean relative to ``Sigma`` (skfolio's ``tau``).
    risk_aversion : float
        ``delta`` of the implied returns; the optimiser uses the matching utility.
    view_kind : {"signal", "forecast"}
        ``forecast``: the signal is a daily expected return and is the view. ``signal``: a
        position in ``[-1, 1]``; the view is ``pi_i + s_i * view_sharpe * sigma_i / sqrt(252)``
        (``sigma_i`` the daily volatility), so 0 leaves the prior and 1 adds an annualised
        Sharpe ratio of ``view_sharpe``.
    view_sharpe : float
        Annualised Sharpe ratio of a full-strength signal.
    max_weight, max_gross, max_net : float
        Limits on ``|w_i|``, ``sum |w|`` and ``|sum w|``; the gross limit of a long-short book
        is enforced afterwards by :func:`~quant_assets.portfolio.constraints.apply_constraints`
        (skfolio bounds the long and the short side separately).
    long_only : bool
        No short weights.
    """

    prior: Literal["equal_weight", "min_variance"] = "equal_weight"
    lookback: int = 252
    tau: float = 0.05
    risk_aversion: float = 2.5
    view_kind: Literal["signal", "forecast"] = "signal"
    view_sharpe: float = 1.0
    max_weight: float = 1.0
    max_gross: float = 2.0
    max_net: float = 1.0
    long_only: bool = False

    def allocate(self, returns: pd.DataFrame, signals: pd.Series) -> pd.Series:
        """Black-Litterman weights from one window of returns and that date's signals.

        Parameters
        ----------
        returns : pandas.DataFrame
            Simple daily returns, dates x tickers, ending on the rebalance date.
        signals : pandas.Series
            Signals by ticker on the rebalance date (NaN = no view on that ticker).

        Returns
        -------
        pandas.Series
            Weights (fractions of equity) of the tickers with enough history; all NaN if
            skfolio fails to solve (a warning says why).
        """
        covered = returns.notna().mean() >= MIN_COVERAGE
        tickers = returns.columns[covered.to_numpy()]
        if len(tickers) == 0:
            return pd.Series(dtype=np.float64)
        # skfolio parses views like "a0 = 0.001"; tickers such as "BF-B" would not parse.
        names = [f"a{i}" for i in range(len(tickers))]
        x = pd.DataFrame(returns[tickers].fillna(0.0).to_numpy(), columns=names)
        prior = self._prior(x)
        views = self._views(x, prior, signals.reindex(tickers).to_numpy(dtype=np.float64))
        estimator = (
            BlackLitterman(views=views, prior_estimator=prior, tau=self.tau) if views else prior
        )
        optimiser = MeanRisk(
            objective_function=ObjectiveFunction.MAXIMIZE_UTILITY,
            risk_aversion=self.risk_aversion / 2.0,
            prior_estimator=estimator,
            raise_on_failure=False,
            **self._limits(),
        )
        weights = optimiser.fit(x).weights_
        if weights is None:
            return pd.Series(np.nan, index=tickers)
        return pd.Series(np.asarray(weights, dtype=np.float64), index=tickers)

    def _reference_weights(self, x: pd.DataFrame) -> np.ndarray:
        n = x.shape[1]
        if self.prior == "equal_weight":
            return np.full(n, 1.0 / n)
        min_variance = MeanRisk(
            objective_function=ObjectiveFunction.MINIMIZE_RISK,
            prior_estimator=EmpiricalPrior(covariance_estimator=LedoitWolf()),
            min_weights=0.0,
            max_weights=1.0,
            budget=1.0,
        )
        return np.asarray(min_variance.fit(x).weights_, dtype=np.float64)

    def _prior(self, x: pd.DataFrame) -> EmpiricalPrior:
        implied = EquilibriumMu(
            risk_aversion=self.risk_aversion,
            weights=self._reference_weights(x),
            covariance_estimator=LedoitWolf(),
        )
        return EmpiricalPrior(mu_estimator=implied, covariance_estimator=LedoitWolf())

    def _views(self, x: pd.DataFrame, prior: BasePrior, signals: np.ndarray) -> list[str]:
        live = np.flatnonzero(np.isfinite(signals))
        if len(live) == 0:
            return []
        if self.view_kind == "forecast":
            expected = signals
        else:
            moments = clone(prior).fit(x).return_distribution_
            daily_vol = np.sqrt(np.diag(moments.covariance))
            tilt = signals * self.view_sharpe / np.sqrt(TRADING_DAYS_PER_YEAR) * daily_vol
            expected = moments.mu + tilt
        return [f"{x.columns[i]} = {expected[i]:.17g}" for i in live]

    def _limits(self) -> dict[str, float | None]:
        if self.long_only:
            return {
                "min_weights": 0.0,
                "max_weights": self.max_weight,
                "budget": None,
                "max_budget": min(self.max_net, self.max_gross),
            }
        return {
            "min_weights": -self.max_weight,
            "max_weights": self.max_weight,
            "budget": None,
            "min_budget": -self.max_net,
            "max_budget": self.max_net,
            "max_long": self.max_gross,
            "max_short": self.max_gross,
        }


def black_litterman_weights(
    signals: pd.DataFrame,
    returns: pd.DataFrame,
    model: BlackLittermanModel | None = None,
    *,
    rebalance: np.ndarray | None = None,
) -> pd.DataFrame:
    """Black-Litterman target weights on the rebalance dates of ``signals``.

    Parameters
    ----------
    signals : pandas.DataFrame
        The model's predictions, dates x tickers (see ``model.view_kind``).
    returns : pandas.DataFrame
        Simple daily returns of at least the tickers of ``signals`` on a date index that holds
        every date of ``signals``; the row dated ``t`` is the return into the close of ``t``.
    model : BlackLittermanModel, optional
        Settings; defaults to ``BlackLittermanModel()``.
    rebalance : numpy.ndarray of bool, optional
        Dates of ``signals`` to optimise on; default every date.

    Returns
    -------
    pandas.DataFrame
        Weights on the axes of ``signals``; NaN on other dates, before ``model.lookback``
        returns exist, and for tickers without enough history in the window.
    """
    model = model or BlackLittermanModel()
    flags = np.ones(len(signals), dtype=bool) if rebalance is None else np.asarray(rebalance)
    positions = returns.index.get_indexer(signals.index)
    if (positions < 0).any():
        raise ValueError("returns must cover every date of signals")
    history = returns.reindex(columns=signals.columns)
    weights = np.full(signals.shape, np.nan)
    for row in np.flatnonzero(flags & (positions >= model.lookback - 1)):
        end = positions[row] + 1
        window = history.iloc[end - model.lookback : end]
        allocation = model.allocate(window, signals.iloc[row])
        weights[row] = allocation.reindex(signals.columns).to_numpy()
    return pd.DataFrame(weights, index=signals.index, columns=signals.columns)
