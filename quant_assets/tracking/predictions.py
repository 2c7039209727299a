"""Out-of-sample positions from the registered versions of one training: the body of ``predictions``.

Each date is predicted by the version whose walk-forward test block holds it; the newest block
has no end (``test_end`` NULL) and serves every later date. Networks and forecasters are loaded
back from the MLflow registry; rules are recomputed from closes (their signals need the history
before the date). Dates before the first test block get no prediction: they were seen in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_assets.models.baselines import RULES, forecast_positions
from quant_assets.models.prediction import predict_positions
from quant_assets.models.tensors import Panel, build_panel
from quant_assets.tracking.registry import load_registered_model
from quant_assets.tracking.store import MlflowTracker

PREDICTION_COLUMNS = ["date", "ticker", "position", "model", "model_version", "training_id"]


def served_dates(versions: pd.DataFrame, dates: pd.DatetimeIndex) -> list[pd.DatetimeIndex]:
    """For each row of ``versions`` (``test_start``, ``test_end``), the ``dates`` its block holds."""
    starts = pd.to_datetime(versions["test_start"])
    ends = pd.to_datetime(versions["test_end"]).fillna(pd.Timestamp.max)
    return [
        dates[(dates >= start) & (dates <= end)] for start, end in zip(starts, ends, strict=True)
    ]


def _ppo_positions(row, panel, prices, dates, tracker, device) -> pd.DataFrame:
    """A registered PPO agent's positions on ``dates``: its observations rebuilt with the
    scaler of its training block; its book starts flat on the first date and its orders fill at
    the next open as in training (at the next close when ``prices`` has no opens)."""
    from quant_assets.rl import ppo_positions, trading_data
    from quant_assets.tracking.rl import load_ppo_agent

    agent, scaler = load_ppo_agent(tracker, row.registered_name, int(row.version), device=device)
    data = trading_data(panel, prices.closes, scaler=scaler, opens=prices.opens)
    return ppo_positions(agent, data, dates)


@dataclass(frozen=True)
class _Prices:
    closes: pd.DataFrame
    opens: pd.DataFrame | None = None


def _positions_of(row, panel, prices, dates, in_window, tracker, device, rules) -> pd.DataFrame:
    closes = prices.closes
    if row.family == "rule":
        if row.model not in rules:
            rules[row.model] = RULES[row.model](closes, in_window)
        got = rules[row.model]
        return got[got["date"].isin(dates)]
    if row.family == "ensemble":
        from quant_assets.tracking.baselines import ensemble_positions

        return ensemble_positions(
            tracker,
            row.mlflow_run_id,
            lambda m: _positions_of(m, panel, prices, dates, in_window, tracker, device, rules),
        )
    if row.family == "rl":
        return _ppo_positions(row, panel, prices, dates, tracker, device)
    model = load_registered_model(tracker, row.registered_name, int(row.version), device=device)
    if row.family == "network":
        return predict_positions(model, panel, dates)
    return forecast_positions(model, panel, dates)


def predict_with_versions(
    versions: pd.DataFrame,
    panel: Panel,
    closes: pd.DataFrame,
    in_window: pd.DatetimeIndex,
    tracker: MlflowTracker,
    *,
    training_id: str,
    device: str = "cpu",
    opens: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Positions on ``in_window`` of every model version of a training (:data:`PREDICTION_COLUMNS`).

    Parameters
    ----------
    versions : DataFrame
        ``model_versions`` rows of one training.
    panel : Panel
        Features from enough dates before ``in_window`` for the networks' context.
    closes : DataFrame
        Wide closes up to the last date, for the rules.
    in_window : DatetimeIndex
        The trading days to predict.
    tracker : MlflowTracker
        The store holding the registered versions.
    training_id : str
    device : str
        Where networks run.
    opens : DataFrame, optional
        Wide opens on the closes' basis: where the PPO agent's orders fill (else at closes).

    Returns
    -------
    DataFrame
        Finite positions only; one version per model, ticker and date.
    """
    frames, rules, prices = [], {}, _Prices(closes, opens)
    for row, dates in zip(versions.itertuples(), served_dates(versions, in_window), strict=True):
        if not len(dates):
            continue
        got = _positions_of(row, panel, prices, dates, in_window, tracker, device, rules)
        frames.append(
            got[["date", "ticker", "position"]].assign(
                model=row.model, model_version=row.model_version, training_id=training_id
            )
        )
    if not frames:
        return pd.DataFrame(columns=PREDICTION_COLUMNS)
    positions = pd.concat(frames, ignore_index=True)[PREDICTION_COLUMNS]
    return positions[np.isfinite(positions["position"].astype(float))]


def predictions_by_version(positions: pd.DataFrame) -> pd.DataFrame:
    """Rows, first and last date and mean absolute position per model version."""
    if positions.empty:
        return pd.DataFrame()
    return positions.groupby(["model", "model_version"], as_index=False).agg(
        rows=("position", "size"),
        first=("date", "min"),
        last=("date", "max"),
        mean_abs_position=("position", lambda p: float(np.abs(p).mean())),
    )


def predict_window(
    training: dict,
    versions: pd.DataFrame,
    closes: pd.DataFrame,
    features: pd.DataFrame,
    in_window: pd.DatetimeIndex,
    tracker: MlflowTracker,
    *,
    device: str = "cpu",
    opens: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """:func:`predict_with_versions` on ``in_window`` from what ``load_prediction_inputs`` read.

    The panel is built from the features' dates on (the history the networks read); the rules
    see every close.
    """
    if not len(in_window):
        return pd.DataFrame(columns=PREDICTION_COLUMNS)
    first = features["date"].min() if len(features) else in_window[0]
    panel = build_panel(features, closes.loc[first:], factors=tuple(training["factors"]))
    return predict_with_versions(
        versions,
        panel,
        closes,
        in_window,
        tracker,
        training_id=training["training_id"],
        device=device,
        opens=opens,
    )
