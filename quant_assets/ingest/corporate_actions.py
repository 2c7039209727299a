"""Splits and unit changes found in unadjusted closes, and the split-adjusted series they imply.

Conventions
-----------
``factor`` is shares after per share before: a 4:1 split has factor 4, a 1:10 reverse split
0.1, a cents-to-dollars unit change 100 (dollars to cents 0.01). On the action's date the raw
close divides by ``factor``, so the day-over-day close ratio is ``1 / factor``. Back-adjusted
prices divide every earlier row by the product of the later actions' factors (volumes
multiply), leaving the newest prices as delivered.

Detection rules (every ticker at once, each ticker from its own rows only)
--------------------------------------------------------------------------
A day is a corporate action when its close ratio ``r = close / previous close`` is within
:data:`RATIO_LOG_TOLERANCE` (in log terms) of ``1 / f`` for a split factor ``f`` in
:data:`SPLIT_FACTORS` (and their reverses) or of ``1 / 100`` / ``100`` (unit change), and:

* ``adj_close`` does not explain it: where adj_close is present on both days and moves
  less than :data:`JUMP_THRESHOLD`, the vendor already adjusted for the jump;
* the next day does not revert it (a ratio near ``f`` again): that is a bad tick;
* for a split, the share volume agrees: the median volume of the :data:`VOLUME_WINDOW` days
  after vs before must move by about ``f`` (:data:`VOLUME_SHIFT_TOLERANCE`), because a split
  changes the share count and a genuine -33 % or +52 % day on news does not. Without volume
  on both sides, only factors of :data:`MIN_FACTOR_WITHOUT_VOLUME` or more count.

Which detections adjust the series (``applied``)
------------------------------------------------
A detection is evidence, not proof. It is *applied* (the split-adjusted series divides by it)
when it is a unit change (x100 or /100: no share count moves that way), or a split of at
least :data:`MIN_APPLIED_SPLIT_FACTOR` (2:1, 1:2 and beyond) whose share volume shifted by
the factor. A 3:2 or 2:3 ratio (-33 % / +50 % is an ordinary news day as often as a split;
seen on CHK and SIG in real data), or any split without volume on both sides (a close-only
file: AAPL's real -52 % of 2000-09-29 looks like 2:1), is stored but left unapplied until
FMP's split history confirms it.

A close-to-close move beyond :data:`JUMP_THRESHOLD` (|return| > 50 %) that is left after
adjustment and not explained by adj_close is *unexplained* (:func:`unexplained_jumps`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SPLIT_FACTORS: tuple[float, ...] = (1.5, 2.0, 3.0, 4.0, 5.0, 7.0, 8.0, 10.0, 20.0)
"""Common forward split ratios; their reciprocals are the reverse splits."""
UNIT_CHANGE_FACTOR = 100.0
"""Cents <-> dollars: the close moves by x100 or /100 while the share count does not."""
RATIO_LOG_TOLERANCE = 0.05
"""A close ratio is 'near' 1/factor when |log(ratio * factor)| is below this (about 5 %)."""
VOLUME_WINDOW = 10
"""Trading days of volume compared before (t-10..t-1) and after (t+1..t+10) a candidate split."""
VOLUME_SHIFT_TOLERANCE = 0.5
"""The log volume shift must be within this fraction of log(factor) of log(factor): a split
of 2 needs after/before volume in (1.41, 2.83); no shift at all never agrees."""
MIN_FACTOR_WITHOUT_VOLUME = 2.0
"""Without volume on both sides, only factors at least this far from 1 (2:1, 1:2 and beyond)
count: a 3:2 ratio (-33 %) is an ordinary crash as often as a split."""
JUMP_THRESHOLD = 0.5
"""A close-to-close move beyond +/-50 % is a jump to explain."""
MIN_APPLIED_SPLIT_FACTOR = 2.0
"""A detected split adjusts the series without FMP's confirmation only when its factor is at
least this far from 1 and the share volume shifted by it (see the module docstring)."""

ACTION_COLUMNS = ("ticker", "date", "kind", "factor", "applied")


def _candidate_factors() -> tuple[np.ndarray, np.ndarray]:
    splits = np.array(SPLIT_FACTORS)
    factors = np.concatenate([splits, 1.0 / splits, [UNIT_CHANGE_FACTOR, 1.0 / UNIT_CHANGE_FACTOR]])
    kinds = np.array(["split"] * (2 * len(splits)) + ["unit_change"] * 2, dtype=object)
    return factors, kinds


def _ordered(prices: pd.DataFrame) -> pd.DataFrame:
    """Rows by ticker label (as text, whatever its dtype) then date, with a per-ticker group id."""
    frame = pd.DataFrame(
        {
            "ticker": prices["ticker"].astype(str).to_numpy(),
            "date": pd.to_datetime(prices["date"]).to_numpy(),
            "close": prices["close"].to_numpy(dtype=float),
            "adj_close": (
                prices["adj_close"].to_numpy(dtype=float) if "adj_close" in prices else np.nan
            ),
            "volume": prices["volume"].to_numpy(dtype=float) if "volume" in prices else np.nan,
        }
    )
    frame = frame.sort_values(["ticker", "date"], kind="stable", ignore_index=True)
    frame["group"] = pd.factorize(frame["ticker"])[0]
    return frame


def _shifted(values: np.ndarray, group: np.ndarray, by: int) -> np.ndarray:
    """``values`` moved ``by`` rows within each group (NaN across a group boundary)."""
    out = np.full(len(values), np.nan)
    if by > 0:
        same = group[by:] == group[:-by]
        out[by:] = np.where(same, values[:-by], np.nan)
    else:
        same = group[:by] == group[-by:]
        out[:by] = np.where(same, values[-by:], np.nan)
    return out


def _median_volume(
    volume: np.ndarray, group: np.ndarray, rows: np.ndarray, offsets: range
) -> np.ndarray:
    """Median volume of rows ``row + offset`` in the same group, for each candidate row."""
    index = rows[:, None] + np.array(offsets)[None, :]
    inside = (index >= 0) & (index < len(volume))
    safe = np.clip(index, 0, len(volume) - 1)
    window = np.where(inside & (group[safe] == group[rows][:, None]), volume[safe], np.nan)
    window = np.where(window > 0, window, np.nan)
    with np.errstate(all="ignore"):
        counts = np.isfinite(window).sum(axis=1)
        medians = np.full(len(rows), np.nan)
        has = counts > 0
        if has.any():
            medians[has] = np.nanmedian(window[has], axis=1)
    return medians


def _log_ratios(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    group = frame["group"].to_numpy()
    close = frame["close"].to_numpy()
    adj = frame["adj_close"].to_numpy()
    with np.errstate(all="ignore"):
        log_ratio = np.log(close / _shifted(close, group, 1))
        log_adj = np.log(adj / _shifted(adj, group, 1))
    return group, log_ratio, log_adj


def detect_corporate_actions(prices: pd.DataFrame) -> pd.DataFrame:
    """Splits and unit changes in unadjusted closes, for every ticker at once.

    Parameters
    ----------
    prices : DataFrame
        Columns ``ticker``, ``date``, ``close`` and optionally ``adj_close`` and ``volume``
        (raw, as delivered), any row order, one row per (ticker, date).

    Returns
    -------
    DataFrame
        ``ticker`` (str), ``date`` (datetime64), ``kind`` (``split`` or ``unit_change``),
        ``factor`` (shares after per share before; the close divides by it that day),
        ``applied`` (bool: adjust the series without FMP's confirmation), sorted.
    """
    frame = _ordered(prices)
    group, log_ratio, log_adj = _log_ratios(frame)
    factors, kinds = _candidate_factors()
    # The close ratio of an action with factor f is 1/f: distance to each candidate.
    distance = np.abs(log_ratio[:, None] + np.log(factors)[None, :])
    nearest = np.nanargmin(np.where(np.isfinite(distance), distance, np.inf), axis=1)
    near = distance[np.arange(len(frame)), nearest] < RATIO_LOG_TOLERANCE
    rows = np.flatnonzero(near)
    factor, kind = factors[nearest[rows]], kinds[nearest[rows]]

    adj_explains = np.abs(log_adj[rows]) < np.log1p(JUMP_THRESHOLD)
    next_log_ratio = _shifted(log_ratio, group, -1)[rows]
    reverts = np.abs(next_log_ratio - np.log(factor)) < RATIO_LOG_TOLERANCE
    volume = frame["volume"].to_numpy()
    before = _median_volume(volume, group, rows, range(-VOLUME_WINDOW, 0))
    after = _median_volume(volume, group, rows, range(1, VOLUME_WINDOW + 1))
    with np.errstate(all="ignore"):
        volume_shift = np.log(after / before)
    log_factor = np.log(factor)
    volume_agrees = np.where(
        np.isfinite(volume_shift),
        np.abs(volume_shift - log_factor) < VOLUME_SHIFT_TOLERANCE * np.abs(log_factor),
        np.abs(log_factor) >= np.log(MIN_FACTOR_WITHOUT_VOLUME) - 1e-12,
    )
    keep = ~adj_explains & ~reverts & ((kind != "split") | volume_agrees)
    large = np.abs(log_factor) >= np.log(MIN_APPLIED_SPLIT_FACTOR) - 1e-12
    applied = (kind != "split") | (np.isfinite(volume_shift) & volume_agrees & large)
    found = frame.loc[rows[keep], ["ticker", "date"]].reset_index(drop=True)
    found["kind"] = kind[keep].astype(str)
    found["factor"] = factor[keep]
    found["applied"] = applied[keep].astype(bool)
    return found


def adjustment_factors(prices: pd.DataFrame, actions: pd.DataFrame) -> pd.Series:
    """Per row of ``prices`` (same index): product of the factors of its ticker's later actions.

    Raw price / adjustment = back-adjusted price; raw volume * adjustment = adjusted volume.
    Rows on or after a ticker's last action have adjustment 1.
    """
    out = pd.Series(np.ones(len(prices)), index=prices.index, name="adjustment")
    if len(actions) == 0 or len(prices) == 0:
        return out
    acts = pd.DataFrame(
        {
            "ticker": actions["ticker"].astype(str).to_numpy(),
            "date": pd.to_datetime(actions["date"]).to_numpy(),
            "factor": actions["factor"].to_numpy(dtype=float),
        }
    ).sort_values(["ticker", "date"], ignore_index=True)
    # Product of this and every later action of the ticker (a reversed cumulative product).
    later = acts.iloc[::-1].groupby("ticker", sort=False)["factor"].cumprod().iloc[::-1].to_numpy()
    labels = pd.Index(acts["ticker"].unique())
    act_code = labels.get_indexer(acts["ticker"])
    row_code = labels.get_indexer(prices["ticker"].astype(str))
    day = np.timedelta64(1, "D")
    act_key = act_code * 10**6 + (acts["date"].to_numpy() - np.datetime64("1900-01-01")) // day
    row_days = (pd.to_datetime(prices["date"]).to_numpy() - np.datetime64("1900-01-01")) // day
    # The first action of the row's ticker strictly after the row's date.
    position = np.searchsorted(act_key, row_code * 10**6 + row_days, side="right")
    inside = (row_code >= 0) & (position < len(acts))
    first = np.minimum(position, len(acts) - 1)
    applies = inside & (act_code[first] == row_code)
    out[:] = np.where(applies, later[first], 1.0)
    return out


def split_adjusted_closes(prices: pd.DataFrame, actions: pd.DataFrame) -> pd.Series:
    """Closes back-adjusted for ``actions`` (same index as ``prices``); raw closes untouched."""
    return (prices["close"] / adjustment_factors(prices, actions)).rename("close")


def unexplained_jumps(prices: pd.DataFrame, actions: pd.DataFrame) -> pd.DataFrame:
    """Close-to-close moves beyond :data:`JUMP_THRESHOLD` that ``actions`` and adj_close leave.

    Computed on the split-adjusted closes, so a detected split or unit change is no jump. A
    jump whose next day reverts it (ratio product within :data:`RATIO_LOG_TOLERANCE` of 1)
    is a bad tick: its row is returned with reason ``reverting_tick`` and the reverting row
    is not returned. Others have reason ``jump_not_a_split_factor``.

    Returns
    -------
    DataFrame
        ``ticker``, ``date``, ``previous_close``, ``close`` (adjusted), ``ratio``, ``reason``.
    """
    frame = _ordered(prices)
    frame["close"] = split_adjusted_closes(frame, actions).to_numpy()
    group, log_ratio, log_adj = _log_ratios(frame)
    limit = np.abs(np.log1p(np.array([JUMP_THRESHOLD, -JUMP_THRESHOLD])))
    with np.errstate(invalid="ignore"):
        jump = (log_ratio > limit[0]) | (log_ratio < -limit[1])
        adj_explains = np.abs(log_adj) < np.log1p(JUMP_THRESHOLD)
    jump &= ~adj_explains
    next_log_ratio = _shifted(log_ratio, group, -1)
    reverts = jump & (np.abs(log_ratio + next_log_ratio) < RATIO_LOG_TOLERANCE)
    reverted = _shifted(reverts.astype(float), group, 1) == 1.0
    keep = jump & ~reverted
    close = frame["close"].to_numpy()
    out = pd.DataFrame(
        {
            "ticker": frame["ticker"].to_numpy()[keep],
            "date": frame["date"].to_numpy()[keep],
            "previous_close": _shifted(close, group, 1)[keep],
            "close": close[keep],
            "ratio": np.exp(log_ratio[keep]),
            "reason": np.where(reverts[keep], "reverting_tick", "jump_not_a_split_factor"),
        }
    )
    return out.reset_index(drop=True)


class SplitPayloadError(ValueError):
    """An FMP split-history payload that is not shaped like one (the symbol is in the message)."""


def parse_fmp_splits(symbol: str, payload: object) -> pd.DataFrame:
    """FMP's split history for ``symbol`` as ``date`` (datetime64) and ``factor`` columns.

    Accepts the v3 object ``{"symbol": ..., "historical": [{"date", "numerator",
    "denominator", ...}]}`` and the stable list ``[{"symbol", "date", "numerator",
    "denominator"}]``; ``{}``, ``[]`` and ``{"historical": []}`` mean no splits. ``factor``
    is numerator / denominator (4:1 -> 4). Anything else raises :class:`SplitPayloadError`.
    """
    if isinstance(payload, dict):
        if "Error Message" in payload:
            raise SplitPayloadError(f"{symbol}: FMP error: {payload['Error Message']}")
        records = payload.get("historical", [])
    else:
        records = payload
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise SplitPayloadError(
            f"{symbol}: split history is not a list of records: {payload!r:.200}"
        )
    frame = pd.DataFrame(records, columns=["date", "numerator", "denominator"])
    dates = pd.to_datetime(frame["date"], format="%Y-%m-%d", errors="coerce")
    numerator = pd.to_numeric(frame["numerator"], errors="coerce")
    denominator = pd.to_numeric(frame["denominator"], errors="coerce")
    factor = numerator / denominator
    bad = dates.isna() | ~np.isfinite(factor) | ~(factor > 0)
    if bad.any():
        raise SplitPayloadError(
            f"{symbol}: {int(bad.sum())} split record(s) without a date or a positive "
            f"numerator/denominator, e.g. {records[int(np.flatnonzero(bad)[0])]!r:.200}"
        )
    return pd.DataFrame({"date": dates, "factor": factor.astype(float)})
