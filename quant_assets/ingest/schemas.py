"""Every validation rule for prices, in one place, as pandera schemas.

A rule has a stable name (it is what ``rejected_rows.rule`` holds and what users filter on)
and a one-line meaning. :func:`parsed_prices_schema` judges rows after parsing; rows it fails
are quarantined with the rule named. :data:`PRICES_TABLE_SCHEMA` is the contract of what the
validator hands to the warehouse; the test suite holds the validator's output to it on the
real data sets, and at write time DuckDB's primary key and CHECK constraints
(:mod:`quant_assets.warehouse.schema`) enforce the same invariants without a second pandas
pass over every row.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pandera.pandas as pa

TICKER_PATTERN = r"^[A-Z0-9.\-^=]{1,15}$"
MAX_PRICE = 1e7
"""Largest price stored: a larger one is a unit error or damage (``out_of_range``)."""
MAX_VOLUME = 1e13
"""Largest volume stored (``out_of_range``)."""

RULES: dict[str, str] = {
    "ticker_format": f"ticker must match {TICKER_PATTERN}",
    "date_unparsable": "date is empty or not a calendar date",
    "date_in_future": "date is after the ingestion date",
    "date_on_weekend": "date falls on a Saturday or Sunday",
    "number_unparsable": "a price or volume field is not a number",
    "non_finite": "a price or volume is inf, -inf, NaN or overflows (1e999): never stored",
    "out_of_range": f"a price is above {MAX_PRICE:g} or a volume above {MAX_VOLUME:g}",
    "close_missing": "close is empty (open/high/low/volume may be empty, close may not)",
    "price_not_positive": "open, high, low, close and adj_close must be > 0",
    "high_below_open_close_low": "high must be >= max(open, close, low) where present",
    "low_above_open_close": "low must be <= min(open, close) where present",
    "volume_negative": "volume must be >= 0",
    "duplicate_exact": "an identical row for the same ticker and date appears earlier",
    "duplicate_conflict": "rows for the same ticker and date disagree; none is kept",
    "ticker_conflict": (
        "the row's ticker column disagrees with the ticker the file name gives (see "
        "quant_assets.ingest.names); neither is guessed"
    ),
    # The text of a CSV line, checked by the reader: such a row's values are not judged.
    "field_count": "a CSV line has more or fewer fields than the header (e.g. cut mid-line)",
    "nul_byte": "a CSV line contains a NUL byte (pandas would end the field there)",
    "unterminated_last_line": (
        "the file does not end with a line break, so its last line may be cut (re-ingested in "
        "full once the file is complete)"
    ),
}

# Rules judged on a whole delivery rather than a row of one file: a reply that is not price data,
# and rows that disagree between sources (quant_assets.warehouse.deliveries).
DELIVERY_RULES: dict[str, str] = {
    "source_conflict": (
        "two sources (files, FMP) deliver different values for the same ticker and date; both "
        "are quarantined unless source_priority ranks one above the other"
    ),
    "fmp_payload": (
        "an FMP reply that is not price data (error object, HTML page, wrong shape): the whole "
        "request is quarantined and the other symbols land"
    ),
    "unexplained_jump": (
        "a close moves beyond +/-50 % from the day before, no applied split or unit change "
        "explains it, and the next day undoes it: a bad tick, taken out of prices (a jump that "
        "stays is kept and warned about: a real crash looks the same)"
    ),
}

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close")


def _column(df: pd.DataFrame, name: str) -> np.ndarray:
    return df[name].to_numpy(dtype="float64", na_value=np.nan)


def _high_ok(df: pd.DataFrame) -> pd.Series:
    # np.fmax skips NaN like max(skipna=True); numpy instead of a row-wise frame reduction.
    others = np.fmax(np.fmax(_column(df, "open"), _column(df, "close")), _column(df, "low"))
    return pd.Series(~(_column(df, "high") < others), index=df.index)


def _low_ok(df: pd.DataFrame) -> pd.Series:
    others = np.fmin(_column(df, "open"), _column(df, "close"))
    return pd.Series(~(_column(df, "low") > others), index=df.index)


def _weekday(dates: pd.Series) -> pd.Series:
    # 1970-01-01 was a Thursday: (days + 3) % 7 is 0 on Mondays. NaT is judged elsewhere.
    days = dates.to_numpy(dtype="datetime64[D]").astype(np.int64)
    return pd.Series(((days + 3) % 7 < 5) | np.isnat(dates.to_numpy()), index=dates.index)


def parsed_prices_schema(as_of: dt.date) -> pa.DataFrameSchema:
    """Row rules for parsed prices; ``as_of`` is the day after which dates are 'in the future'.

    Checks carry the rule name as their ``error`` so that failures map back to :data:`RULES`.
    Empty optional fields (NaN) pass every check: close-only data is valid.
    """
    as_of_ts = pd.Timestamp(as_of)
    # The upper bounds (``out_of_range``) are checked by the validator in one numpy pass
    # while it parses numbers; the table contract below holds them too.
    price = pa.Check.gt(0, error="price_not_positive")
    return pa.DataFrameSchema(
        {
            # dtype left open: the validator hands tickers over as a categorical (fast regex).
            "ticker": pa.Column(
                None, pa.Check.str_matches(TICKER_PATTERN, error="ticker_format"), nullable=False
            ),
            "date": pa.Column(
                "datetime64[ns]",
                [
                    pa.Check.le(as_of_ts, error="date_in_future"),
                    pa.Check(_weekday, error="date_on_weekend"),
                ],
                nullable=False,
            ),
            "open": pa.Column(float, price, nullable=True),
            "high": pa.Column(float, price, nullable=True),
            "low": pa.Column(float, price, nullable=True),
            "close": pa.Column(float, price, nullable=False),
            "adj_close": pa.Column(float, price, nullable=True),
            "volume": pa.Column(float, pa.Check.ge(0, error="volume_negative"), nullable=True),
        },
        checks=[
            pa.Check(_high_ok, error="high_below_open_close_low"),
            pa.Check(_low_ok, error="low_above_open_close"),
        ],
        strict=False,
        coerce=False,
    )


# pandera's own names for the nullability failures, mapped to our rules.
NOT_NULLABLE_RULES: dict[str, str] = {
    "ticker": "ticker_format",
    "date": "date_unparsable",
    "close": "close_missing",
}

PRICES_TABLE_SCHEMA = pa.DataFrameSchema(
    {
        "ticker": pa.Column(None, pa.Check.str_matches(TICKER_PATTERN)),
        "date": pa.Column("datetime64[ns]", nullable=False),
        **{
            c: pa.Column(float, [pa.Check.gt(0), pa.Check.le(MAX_PRICE)], nullable=c != "close")
            for c in PRICE_COLUMNS
        },
        "volume": pa.Column(float, [pa.Check.ge(0), pa.Check.le(MAX_VOLUME)], nullable=True),
        "source": pa.Column(str),
    },
    unique=["ticker", "date"],
    strict=True,
    ordered=True,
)
"""Contract of the ``prices`` table: what every writer must hand to the warehouse."""
