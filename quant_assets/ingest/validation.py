"""Parse raw string rows and split them into valid prices and quarantined rows.

Nothing is dropped silently: every row read ends up either in ``valid`` or in ``rejected``
(``len(valid) + len(rejected) == len(raw)``), and each rejected row names the rules it broke
(see :data:`quant_assets.ingest.schemas.RULES`). Exact duplicate rows keep their first copy
and quarantine the others as ``duplicate_exact``; rows that share a ticker and date but
disagree are all quarantined as ``duplicate_conflict`` because picking one would be a guess.
A row whose line the reader found damaged (``field_count``, ``nul_byte``,
``unterminated_last_line``: see :attr:`quant_assets.ingest.readers.RawPrices.line_issues`) is
quarantined for that damage alone: its values cannot be trusted, so they are not judged, and it
is no duplicate of anything.

Numbers: a price or volume that is ``inf``, ``-inf``, ``NaN`` (as text or JSON literal) or
overflows a float (``1e999``) is ``non_finite``; one outside (0, 1e7] (prices) or [0, 1e13]
(volume) is quarantined (``price_not_positive``, ``volume_negative``, ``out_of_range``). Text
that is a number with thousands separators (``"1,234.50"``, or ``1.234,50`` in a file with
decimal commas) is that number; nothing else is guessed. Dates are parsed per value by
:func:`quant_assets.ingest.dates.parse_dates`. Where the file's name claims a ticker
(:attr:`RawPrices.name_ticker`), rows whose ticker column says otherwise are ``ticker_conflict``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd
import pandera.pandas as pa

from quant_assets.ingest.dates import parse_dates
from quant_assets.ingest.readers import PRICE_FIELDS, RawPrices
from quant_assets.ingest.schemas import (
    DELIVERY_RULES,
    MAX_PRICE,
    MAX_VOLUME,
    NOT_NULLABLE_RULES,
    PRICES_TABLE_SCHEMA,
    RULES,
    parsed_prices_schema,
)

VALID_COLUMNS: list[str] = list(PRICES_TABLE_SCHEMA.columns)
REJECTED_COLUMNS: list[str] = [
    "source",
    "location",
    "ticker",
    "date",
    "rule",
    "reason",
    "raw_values",
]
__all__ = ["REJECTED_COLUMNS", "VALID_COLUMNS", "parse_dates", "validate_prices"]

_NON_FINITE_TEXT = r"(?i)[+-]?(nan|inf|infinity)"
_FLOAT_TEXT = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"
# Thousands separators, strictly grouped by three: "1,234.50" or, with decimal commas, "1.234,50".
_GROUPED = {
    ".": (r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", ","),
    ",": (r"[+-]?\d{1,3}(\.\d{3})*(,\d+)?|[+-]?\d+,\d+", "."),
}


def _issues(pos: np.ndarray, rule: str, detail: pd.Series | str) -> pd.DataFrame:
    detail = detail if isinstance(detail, pd.Series) else pd.Series(detail, index=range(len(pos)))
    return pd.DataFrame(
        {"pos": pos, "rule": rule, "reason": rule + ": " + detail.to_numpy(dtype=object)}
    )


def _line_issues(raw: RawPrices) -> pd.DataFrame:
    """The reader's findings on the text of the rows' lines, as issues."""
    found = raw.line_issues
    if found.empty:
        return _issues(np.array([], dtype=np.int64), "", "")
    return pd.DataFrame(
        {
            "pos": found["pos"].to_numpy(dtype=np.int64),
            "rule": found["rule"].to_numpy(dtype=object),
            "reason": (found["rule"] + ": " + found["detail"]).to_numpy(dtype=object),
        }
    )


def _parse_tickers(values: pd.Series) -> pd.Series:
    cat = values.astype("category")
    cleaned = pd.Index(cat.cat.categories.astype(str)).str.strip().str.upper()
    # Code -1 (a missing ticker) picks the trailing "": safe even when no ticker is present.
    # Recoded on the categories (``aapl`` and ``AAPL `` become one), not on every row.
    labels, new_codes = np.unique(
        np.append(np.asarray(cleaned, dtype=object), ""), return_inverse=True
    )
    codes = new_codes.astype(np.int32)[cat.cat.codes.to_numpy()]
    return pd.Series(pd.Categorical.from_codes(codes, labels), index=values.index)


def _parse_date_column(values: pd.Series, day_first: bool | None) -> pd.Series:
    cat = values.astype("category")
    text = pd.Series(pd.Index(cat.cat.categories.astype(str)).str.strip())
    parsed = parse_dates(text, day_first=day_first).to_numpy()
    codes = cat.cat.codes.to_numpy()
    # Code -1 (a missing date) picks the trailing NaT: safe even when no date is present.
    out = np.append(parsed, np.datetime64("NaT", "ns"))[codes]
    return pd.Series(out, index=values.index, dtype="datetime64[ns]")


def _text_to_numbers(s: pd.Series, given: pd.Series, decimal: str) -> pd.Series:
    """Numbers of a text column: plain, then grouped by thousands, then overflowing (inf)."""
    numbers = pd.to_numeric(s.where(given), errors="coerce").astype("float64")
    failed = given & numbers.isna()
    if failed.any():
        pattern, group_mark = _GROUPED[decimal]
        text = s[failed]
        grouped = text.str.fullmatch(pattern)
        if grouped.any():
            plain = text[grouped].str.replace(group_mark, "", regex=False)
            if decimal == ",":
                plain = plain.str.replace(",", ".", regex=False)
            numbers[grouped[grouped].index] = pd.to_numeric(plain, errors="coerce")
        overflow = text.str.fullmatch(_FLOAT_TEXT) & numbers[failed].isna()
        if overflow.any():  # 1e999: a float literal too large for a float
            sign = np.where(text[overflow].str.startswith("-"), -np.inf, np.inf)
            numbers[overflow[overflow].index] = sign
    return numbers


def _parse(raw: RawPrices) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    text = raw.frame
    columns: dict[str, pd.Series] = {
        "ticker": _parse_tickers(text["ticker"]),
        "date": _parse_date_column(text["date"], raw.day_first),
    }
    issues: list[pd.DataFrame] = []
    for col in PRICE_FIELDS:
        values = text[col]
        if values.dtype == object:
            s = values.fillna("").astype(str).str.strip()
            given = s != ""
            numbers = _text_to_numbers(s, given, raw.decimal)
            nan_text = given & numbers.isna() & s.str.fullmatch(_NON_FINITE_TEXT)
            bad = np.flatnonzero(given & numbers.isna() & ~nan_text)
            if len(bad):
                detail = col + "=" + s.iloc[bad].map(repr).reset_index(drop=True)
                issues.append(_issues(bad, "number_unparsable", detail))
            shown = s
        else:
            numbers = values.astype("float64")
            nan_text = pd.Series(False, index=values.index)
            shown = None
        non_finite = np.flatnonzero(np.isinf(numbers.to_numpy()) | nan_text.to_numpy())
        if len(non_finite):
            written = (
                numbers.iloc[non_finite].map(repr) if shown is None else shown.iloc[non_finite]
            )
            detail = col + "=" + written.map(repr).reset_index(drop=True)
            issues.append(_issues(non_finite, "non_finite", detail))
            numbers = numbers.copy()
            numbers.iloc[non_finite] = np.nan  # never stored; judged no further
        # Upper bounds here, one numpy pass (the schema's lower bounds name their own rules).
        limit = MAX_VOLUME if col == "volume" else MAX_PRICE
        above = np.flatnonzero(numbers.to_numpy() > limit)
        if len(above):
            detail = col + "=" + numbers.iloc[above].map(repr).map(repr).reset_index(drop=True)
            issues.append(_issues(above, "out_of_range", detail))
        columns[col] = numbers.astype("float64")
    # Built in one go: the price columns share one float block, so that later row selections
    # and copies move one array instead of consolidating six (about 0.15 s on 619k rows).
    parsed = pd.DataFrame(columns)
    return parsed, issues


def _ticker_conflicts(raw: RawPrices, tickers: pd.Series) -> list[pd.DataFrame]:
    """Rows whose ticker column disagrees with the ticker the file name claims."""
    if raw.name_ticker is None:
        return []
    text = tickers.astype(str)
    conflict = np.flatnonzero(((text != raw.name_ticker) & (text != "")).to_numpy())
    if not len(conflict):
        return []
    detail = f"file name gives {raw.name_ticker!r}, the ticker column says " + text.iloc[
        conflict
    ].map(repr).reset_index(drop=True)
    return [_issues(conflict, "ticker_conflict", detail)]


def _text(frame: pd.DataFrame, column: str, pos: np.ndarray) -> pd.Series:
    """Values of ``column`` at row positions, as display text (``''`` for empty)."""
    values = frame[column].iloc[pos]
    if values.dtype.kind == "f":
        text = values.map(lambda v: "" if np.isnan(v) else repr(v))
    else:
        text = values.astype(object).fillna("").astype(str)
    return text.reset_index(drop=True)


def _schema_issues(parsed: pd.DataFrame, raw: pd.DataFrame, as_of: dt.date) -> list[pd.DataFrame]:
    try:
        parsed_prices_schema(as_of).validate(parsed, lazy=True, inplace=True)
        return []
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    cases = cases[cases["index"].notna()]
    issues = []
    for (column, check), group in cases.groupby(["column", "check"], sort=False):
        pos = group["index"].astype(np.int64).drop_duplicates().to_numpy()
        show = {c: _text(raw, c, pos) for c in ("ticker", "date", *PRICE_FIELDS)}
        if check == "high_below_open_close_low":
            if column != "high":
                continue  # a frame-wide check reports each of its columns; one issue is enough
            detail = (
                "high="
                + show["high"]
                + " < max(open="
                + show["open"]
                + ", close="
                + show["close"]
                + ", low="
                + show["low"]
                + ")"
            )
        elif check == "low_above_open_close":
            if column != "low":
                continue
            detail = (
                "low="
                + show["low"]
                + " > min(open="
                + show["open"]
                + ", close="
                + show["close"]
                + ")"
            )
        elif check == "not_nullable":
            check = NOT_NULLABLE_RULES[column]
            detail = column + "=" + show[column].map(repr)
        else:
            detail = column + "=" + show[column].map(repr)
            if check == "date_in_future":
                detail = detail + f" is after {as_of.isoformat()}"
        issues.append(_issues(pos, str(check), detail))
    return issues


def _duplicate_issues(
    parsed: pd.DataFrame, locations: Callable[[np.ndarray], np.ndarray], candidates: np.ndarray
) -> list[pd.DataFrame]:
    """Exact copies keep the first row; conflicting rows for one (ticker, date) all go."""
    frame = parsed.iloc[candidates]
    dup = frame.duplicated(["ticker", "date"], keep=False).to_numpy()
    if not dup.any():
        return []
    sub = frame[dup].copy()
    # Plain strings: a categorical ticker cannot be concatenated into the reason, and grouping
    # by it would span every category.
    sub["ticker"] = sub["ticker"].astype(str)
    sub["pos"] = candidates[dup]
    sub["location"] = locations(sub["pos"].to_numpy())
    values = sub[list(PRICE_FIELDS)].fillna(-np.inf)
    distinct = values.groupby([sub["ticker"], sub["date"]]).transform("nunique")
    conflicting_cols = distinct.gt(1)
    sub["conflict"] = conflicting_cols.any(axis=1)
    keys = sub.groupby(["ticker", "date"], sort=False)
    sub["first_location"] = keys["location"].transform("first")
    sub["all_locations"] = keys["location"].transform(", ".join)
    names = pd.Series([f"{c}, " for c in PRICE_FIELDS], index=list(PRICE_FIELDS))
    sub["differs_in"] = conflicting_cols.astype(object).dot(names).str.rstrip(", ")
    issues = []
    conflict = sub[sub["conflict"]]
    if len(conflict):
        detail = (
            conflict["ticker"]
            + " "
            + conflict["date"].dt.strftime("%Y-%m-%d")
            + " appears at "
            + conflict["all_locations"]
            + " with different "
            + conflict["differs_in"]
        )
        issues.append(
            _issues(conflict["pos"].to_numpy(), "duplicate_conflict", detail.reset_index(drop=True))
        )
    exact = sub[~sub["conflict"]]
    extra = exact[exact.duplicated(["ticker", "date"], keep="first")]
    if len(extra):
        detail = "same values as " + extra["first_location"]
        issues.append(
            _issues(extra["pos"].to_numpy(), "duplicate_exact", detail.reset_index(drop=True))
        )
    return issues


def validate_prices(
    raw: RawPrices, *, as_of: dt.date | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the rows of one file into ``(valid, rejected)``.

    Parameters
    ----------
    raw
        Rows as read by :func:`quant_assets.ingest.readers.read_raw`.
    as_of
        The ingestion date; rows dated after it are rejected as ``date_in_future``.
        Defaults to today.

    Returns
    -------
    valid
        Columns ``ticker, date, open, high, low, close, adj_close, volume, source`` in file
        order; one row per (ticker, date); prices as float64 in the file's currency units, NaN where absent.
    rejected
        Columns ``source, location, ticker, date, rule, reason, raw_values``; ``rule`` lists the
        broken rules (comma-separated), ``reason`` explains each with the offending values,
        ``raw_values`` is the row exactly as the file had it (JSON object text).
    """
    as_of = as_of or dt.date.today()
    parsed, issues = _parse(raw)
    issues += _ticker_conflicts(raw, parsed["ticker"])
    damaged = _line_issues(raw)
    if len(damaged):
        # The values of a damaged line are not judged: only the damage is reported.
        issues = [i[~i["pos"].isin(damaged["pos"])] for i in issues] + [damaged]
        # Row labels stay row positions, which is what the schema's failure cases report.
        judged = parsed.drop(index=np.unique(damaged["pos"].to_numpy()))
    else:
        judged = parsed
    # A close that is there but no number (or not finite) is reported as such, not as missing.
    unreadable_close = np.concatenate(
        [i["pos"].to_numpy()[i["reason"].str.contains(": close=", regex=False)] for i in issues]
        or [np.array([], dtype=np.int64)]
    )
    schema_issues = _schema_issues(judged, raw.frame, as_of)
    if len(unreadable_close):
        schema_issues = [
            i[~((i["rule"] == "close_missing") & i["pos"].isin(unreadable_close))]
            for i in schema_issues
        ]
    issues += schema_issues
    bad = (
        np.unique(np.concatenate([i["pos"].to_numpy() for i in issues]))
        if issues
        else np.array([], dtype=np.int64)
    )
    # A mask, not np.setdiff1d: that hashes every row position (about half a second here).
    unjudged = np.ones(len(parsed), dtype=bool)
    unjudged[bad] = False
    candidates = np.flatnonzero(unjudged)
    issues += _duplicate_issues(parsed, raw.locations, candidates)

    all_issues = pd.concat(issues, ignore_index=True) if issues else pd.DataFrame()
    rejected_pos, rejected = quarantined_rows(raw, all_issues)

    keep = np.ones(len(parsed), dtype=bool)
    keep[rejected_pos] = False
    sources = raw.source if raw.row_sources is None else raw.row_sources[keep]
    valid = parsed[keep] if len(rejected_pos) else parsed
    valid = valid.reset_index(drop=True)
    valid["source"] = sources  # in place: no copy of the whole frame
    return valid[VALID_COLUMNS] if list(valid.columns) != VALID_COLUMNS else valid, rejected


# The order rules are listed in when a row breaks several (row rules, then delivery rules).
RULE_ORDER: dict[str, int] = {rule: i for i, rule in enumerate([*RULES, *DELIVERY_RULES])}


def quarantined_rows(raw, issues: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """The rows ``issues`` name, as ``rejected_rows``: each row once, its rules and reasons joined.

    ``issues`` has one row per broken rule: ``pos`` (the row's position in ``raw``), ``rule``
    and ``reason``; a row breaking several rules is reported once, its rules in the order of
    :data:`RULES` and the reasons of one rule sorted, so that the text does not depend on the
    order the checks ran in (a file read whole or in blocks reports the same). Returns the sorted
    positions and the frame of :data:`REJECTED_COLUMNS`.
    """
    if issues.empty:
        per_row = pd.DataFrame({"rule": [], "reason": []}, index=pd.Index([], dtype=np.int64))
    else:
        rank = issues["rule"].map(RULE_ORDER).fillna(len(RULE_ORDER))
        per_row = (
            issues.assign(rank=rank)
            .sort_values(["pos", "rank", "reason"], kind="stable")
            .groupby("pos", sort=True)
            .agg(rule=("rule", lambda s: ",".join(dict.fromkeys(s))), reason=("reason", "; ".join))
        )
    positions = per_row.index.to_numpy(dtype=np.int64)
    frame = pd.DataFrame(
        {
            "source": raw.source if raw.row_sources is None else raw.row_sources[positions],
            "location": raw.locations(positions),
            "ticker": raw.frame["ticker"].iloc[positions].to_numpy(dtype=object),
            "date": raw.frame["date"].iloc[positions].to_numpy(dtype=object),
            "rule": per_row["rule"].to_numpy(dtype=object),
            "reason": per_row["reason"].to_numpy(dtype=object),
            "raw_values": np.asarray(raw.raw_values(positions), dtype=object),
        },
        columns=REJECTED_COLUMNS,
    )
    return positions, frame
