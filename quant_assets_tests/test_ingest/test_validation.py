"""One hand-built file per validation rule, the quarantine's columns, duplicates, and a property test.

The good rows are AAPL's real bars of early January 2023 (FMP); each bad row changes one field.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_assets.ingest import MAX_PRICE, MAX_VOLUME, RULES, TICKER_PATTERN, read_prices
from quant_assets.ingest.schemas import PRICES_TABLE_SCHEMA
from quant_assets.ingest.validation import REJECTED_COLUMNS, VALID_COLUMNS

AS_OF = dt.date(2024, 1, 2)
HEADER = "date,ticker,open,high,low,close,volume\n"
GOOD = "2023-01-03,AAPL,130.28,130.9,124.17,125.07,112117500\n"


@pytest.fixture
def validate_csv(write_file):
    """``validate_csv(text)`` -> ``(valid, rejected)`` of ``text`` written to ``prices.csv``."""

    def validate(text: str, *, as_of: dt.date | None = AS_OF):
        return read_prices(write_file("prices.csv", text), as_of=as_of)

    return validate


# --- one rule each -----------------------------------------------------------------------------

RULE_CASES = [
    pytest.param(
        "2023-01-04,AAPL!,126.89,128.66,125.08,126.36,89113600\n",
        "ticker_format",
        "ticker_format: ticker='AAPL!'",
        id="ticker_format",
    ),
    pytest.param(
        "2023-02-30,AAPL,126.89,128.66,125.08,126.36,89113600\n",
        "date_unparsable",
        "date_unparsable: date='2023-02-30'",
        id="date_unparsable",
    ),
    pytest.param(
        "2024-01-03,AAPL,126.89,128.66,125.08,126.36,89113600\n",
        "date_in_future",
        "date_in_future: date='2024-01-03' is after 2024-01-02",
        id="date_in_future",
    ),
    pytest.param(
        "2023-01-07,AAPL,126.89,128.66,125.08,126.36,89113600\n",  # a Saturday
        "date_on_weekend",
        "date_on_weekend: date='2023-01-07'",
        id="date_on_weekend",
    ),
    pytest.param(
        "2023-01-04,AAPL,126.89,128.66,125.08,126.36,abc\n",
        "number_unparsable",
        "number_unparsable: volume='abc'",
        id="number_unparsable",
    ),
    pytest.param(
        "2023-01-04,AAPL,126.89,128.66,125.08,,89113600\n",
        "close_missing",
        "close_missing: close=''",
        id="close_missing",
    ),
    pytest.param(
        "2023-01-04,AAPL,126.89,128.66,0,126.36,89113600\n",
        "price_not_positive",
        "price_not_positive: low='0.0'",
        id="price_not_positive",
    ),
    pytest.param(
        "2023-01-04,AAPL,126.89,126.5,125.08,126.36,89113600\n",
        "high_below_open_close_low",
        "high_below_open_close_low: high=126.5 < max(open=126.89, close=126.36, low=125.08)",
        id="high_below_open_close_low",
    ),
    pytest.param(
        "2023-01-04,AAPL,126.89,128.66,126.5,126.36,89113600\n",
        "low_above_open_close",
        "low_above_open_close: low=126.5 > min(open=126.89, close=126.36)",
        id="low_above_open_close",
    ),
    pytest.param(
        "2023-01-04,AAPL,126.89,128.66,125.08,126.36,-1\n",
        "volume_negative",
        "volume_negative: volume='-1.0'",
        id="volume_negative",
    ),
    pytest.param(
        "2023-01-04,AAPL,126.89,128.66,125.08,126.36,inf\n",
        "non_finite",
        "non_finite: volume='inf'",
        id="non_finite",
    ),
    pytest.param(
        "2023-01-04,AAPL,126.89,128.66,125.08,126.36,2e13\n",
        "out_of_range",
        "out_of_range: volume='20000000000000.0'",
        id="out_of_range",
    ),
    # The text of the line itself (checked by the reader): only the damage is reported.
    pytest.param(
        "2023-01-04,AAPL,126.89,128.66,125.08\n",  # cut inside its close
        "field_count",
        "field_count: line has 5 fields, header has 7",
        id="field_count",
    ),
    pytest.param(
        "2023-01-04,AAPL,126.89,128.66,125.08,126.36,8911\x003600\n",
        "nul_byte",
        "nul_byte: volume='8911\\x003600' contains a NUL byte",
        id="nul_byte",
    ),
    pytest.param(
        "2023-01-04,AAPL,126.89,128.66,125.08,126.36,891",  # cut inside its volume
        "unterminated_last_line",
        "unterminated_last_line: the file does not end with a line break, so its last line "
        "may be cut (a copy still being written, or interrupted); if the line is complete, "
        "add a line break at the end",
        id="unterminated_last_line",
    ),
]


@pytest.mark.parametrize(("bad_row", "rule", "reason"), RULE_CASES)
def test_row_breaking_one_rule_is_rejected_with_that_rule(validate_csv, bad_row, rule, reason):
    valid, rejected = validate_csv(HEADER + GOOD + bad_row)
    assert len(valid) == 1 and len(rejected) == 1
    bad = rejected.iloc[0]
    assert (bad["location"], bad["rule"], bad["reason"]) == ("line 3", rule, reason)


def test_rule_cases_cover_every_rule_but_duplicates_and_ticker_conflicts():
    # ticker_conflict needs a file name that claims a ticker: see test_ticker_identity.py.
    covered = {case.values[1] for case in RULE_CASES}
    assert covered == set(RULES) - {"duplicate_exact", "duplicate_conflict", "ticker_conflict"}


def test_row_breaking_several_rules_names_each_rule(validate_csv):
    _, rejected = validate_csv(HEADER + "2023-01-07,AAPL,,,,126.36,-5\n")
    assert set(rejected.iloc[0]["rule"].split(",")) == {"date_on_weekend", "volume_negative"}
    assert "date_on_weekend: date='2023-01-07'" in rejected.iloc[0]["reason"]


def test_high_is_checked_only_against_the_fields_present(validate_csv):
    valid, rejected = validate_csv(
        HEADER + "2023-01-04,AAPL,,125,,126.36,\n" + "2023-01-05,AAPL,,128,,126.36,\n"
    )
    assert rejected["rule"].tolist() == ["high_below_open_close_low"]
    assert rejected["location"].tolist() == ["line 2"]
    assert valid["date"].tolist() == [pd.Timestamp("2023-01-05")]


def test_file_without_any_ticker_value_rejects_every_row_as_ticker_format(validate_csv):
    valid, rejected = validate_csv("date,ticker,close\n2023-01-03,,125.07\n")
    assert len(valid) == 0
    assert rejected[["location", "rule"]].values.tolist() == [["line 2", "ticker_format"]]


def test_file_without_any_date_value_rejects_every_row_as_date_unparsable(validate_csv):
    valid, rejected = validate_csv("date,ticker,close\n,AAPL,125.07\n")
    assert len(valid) == 0
    assert rejected[["location", "rule"]].values.tolist() == [["line 2", "date_unparsable"]]


def test_header_only_file_has_no_rows(validate_csv):
    valid, rejected = validate_csv(HEADER)
    assert (len(valid), len(rejected)) == (0, 0)


def test_row_dated_on_the_as_of_day_is_valid(validate_csv):
    valid, rejected = validate_csv(HEADER + "2024-01-02,AAPL,,,,185.64,\n")
    assert (len(valid), len(rejected)) == (1, 0)


def test_as_of_defaults_to_today(validate_csv):
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    valid, rejected = validate_csv(HEADER + f"{tomorrow.isoformat()},AAPL,,,,1,\n", as_of=None)
    assert len(valid) == 0
    assert "date_in_future" in rejected.iloc[0]["rule"].split(",")


def test_tickers_are_upper_cased_and_class_and_index_symbols_are_valid(validate_csv):
    rows = [
        "2023-01-04,aapl,,,,126.36,\n",
        "2023-01-04,BRK.B,,,,330.0,\n",
        "2023-01-04,BF-B,,,,62.0,\n",
        "2023-01-04,^GSPC,,,,3852.97,\n",
    ]
    valid, rejected = validate_csv(HEADER + "".join(rows))
    assert len(rejected) == 0
    assert valid["ticker"].astype(str).tolist() == ["AAPL", "BRK.B", "BF-B", "^GSPC"]
    assert all(re.match(TICKER_PATTERN, t) for t in valid["ticker"].astype(str))


# --- what a rejected row carries --------------------------------------------------------------


def test_rejected_row_has_source_location_ticker_date_rule_reason_and_raw_values(
    write_file,
):
    path = write_file("prices.csv", HEADER + "2023-01-07,AAPL,,,,126.36,\n")
    _, rejected = read_prices(path, as_of=AS_OF)
    assert list(rejected.columns) == REJECTED_COLUMNS
    assert rejected.iloc[0][["source", "ticker", "date"]].tolist() == [
        str(path),
        "AAPL",
        "2023-01-07",
    ]


def test_location_counts_the_header_as_line_1_and_blank_lines(validate_csv):
    text = (
        HEADER
        + GOOD  # line 2
        + "\n"  # line 3
        + "2023-01-04,AAPL,126.89,128.66,125.08,126.36,89113600\n"  # line 4
        + "\n"  # line 5
        + "2023-01-07,AAPL,126.01,130.29,124.89,129.62,87754700\n"  # line 6: a Saturday
    )
    valid, rejected = validate_csv(text)
    assert len(valid) == 2
    saturday = rejected[rejected["date"] == "2023-01-07"]
    assert saturday["location"].tolist() == ["line 6"]


def test_raw_values_keep_the_exact_text_of_the_file(validate_csv):
    valid, rejected = validate_csv(HEADER + "2023-01-07,AAPL,0045.10,46,44.5,45.50,6.3890796E7\n")
    assert len(valid) == 0
    assert json.loads(rejected.iloc[0]["raw_values"]) == {
        "date": "2023-01-07",
        "ticker": "AAPL",
        "open": "0045.10",
        "high": "46",
        "low": "44.5",
        "close": "45.50",
        "volume": "6.3890796E7",
    }


def test_fmp_record_is_located_by_record_number_with_its_json(write_file):
    records = [
        {"symbol": "AAPL", "date": "2023-01-04", "close": 126.36},
        {"symbol": "AAPL", "date": "2023-01-03", "close": -125.07, "volume": 6.3890796e7},
    ]
    _, rejected = read_prices(write_file("aapl.json", json.dumps(records)), as_of=AS_OF)
    bad = rejected.iloc[0]
    assert (bad["location"], bad["rule"]) == ("record 2", "price_not_positive")
    assert json.loads(bad["raw_values"]) == {
        "symbol": "AAPL",
        "date": "2023-01-03",
        "close": -125.07,
        "volume": 63890796.0,
    }


# --- duplicates -------------------------------------------------------------------------------


def test_exact_duplicate_keeps_the_first_copy_and_rejects_the_extra(validate_csv):
    valid, rejected = validate_csv(HEADER + GOOD + GOOD)
    assert len(valid) == 1
    bad = rejected.iloc[0]
    assert (bad["location"], bad["rule"]) == ("line 3", "duplicate_exact")
    assert bad["reason"] == "duplicate_exact: same values as line 2"


def test_rows_equal_after_parsing_are_exact_duplicates(validate_csv):
    copy = "2023-01-03,aapl,130.280,130.9,124.17,125.07,1.121175E8\n"
    valid, rejected = validate_csv(HEADER + GOOD + copy)
    assert len(valid) == 1
    assert rejected["rule"].tolist() == ["duplicate_exact"]


def test_conflicting_duplicates_are_all_rejected_naming_lines_and_column(validate_csv):
    other = "2023-01-03,MSFT,243.08,245.75,237.4,239.58,25740000\n"
    conflict = "2023-01-03,AAPL,130.28,130.9,124.17,125.08,112117500\n"
    valid, rejected = validate_csv(HEADER + GOOD + other + conflict)
    assert valid["ticker"].astype(str).tolist() == ["MSFT"]
    assert rejected["location"].tolist() == ["line 2", "line 4"]
    assert rejected["rule"].tolist() == ["duplicate_conflict", "duplicate_conflict"]
    reason = "duplicate_conflict: AAPL 2023-01-03 appears at line 2, line 4 with different close"
    assert rejected["reason"].tolist() == [reason, reason]


def test_conflict_names_every_differing_column(validate_csv):
    conflict = "2023-01-03,AAPL,130.28,131,124.17,125.07,1\n"
    _, rejected = validate_csv(HEADER + GOOD + conflict)
    assert rejected["reason"].iloc[0].endswith("with different high, volume")


def test_a_row_rejected_for_a_rule_does_not_make_its_twin_a_duplicate(validate_csv):
    broken = "2023-01-03,AAPL,130.28,120,124.17,125.07,112117500\n"  # high below low
    valid, rejected = validate_csv(HEADER + broken + GOOD)
    assert len(valid) == 1
    assert rejected["rule"].tolist() == ["high_below_open_close_low"]


def test_valid_table_has_the_prices_contract_columns(validate_csv):
    valid, _ = validate_csv(HEADER + GOOD)
    assert list(valid.columns) == VALID_COLUMNS
    assert valid["date"].dtype == "datetime64[ns]"
    assert valid[["open", "high", "low", "close", "adj_close", "volume"]].dtypes.eq("float64").all()


# --- property: nothing lost, and the verdict matches a plain re-statement of the rules --------

DATES = ["2023-01-03", "2023-01-04", "2023-01-07", "2024-01-03", "", "2023-13-01"]
TICKERS = ["AAPL", "aapl", "MSFT", "BAD!", ""]
NUMBERS = ["", "1", "2", "2.5", "0045.10", "0", "-3", "abc", "6.3890796E7", "inf", "nan", "1e999"]


def _number(text: str) -> float | None | str:
    if text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        return "bad"
    return number if math.isfinite(number) else "bad"


def _passes_row_rules(date: str, ticker: str, fields: tuple[str, ...]) -> bool:
    """The row rules of ``schemas.RULES``, restated on Python values."""
    o, h, low, c, v = (_number(x) for x in fields)
    if "bad" in (o, h, low, c, v) or c is None:
        return False
    if not re.match(TICKER_PATTERN, ticker.upper()):
        return False
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        return False
    if day > AS_OF or day.weekday() >= 5:
        return False
    prices = [p for p in (o, h, low, c) if p is not None]
    if any(p <= 0 or p > MAX_PRICE for p in prices) or (v is not None and not 0 <= v <= MAX_VOLUME):
        return False
    if h is not None and h < max(p for p in (o, c, low) if p is not None):
        return False
    present = [p for p in (o, c) if p is not None]
    return not (low is not None and low > min(present))


def _expected_valid_keys(rows: list[tuple]) -> set[tuple[str, str]]:
    """Rows passing every row rule; exact copies keep one, conflicting keys keep none."""
    by_key: dict[tuple[str, str], list[tuple]] = {}
    for date, ticker, *fields in rows:
        if _passes_row_rules(date, ticker, tuple(fields)):
            values = tuple(_number(x) for x in fields)
            by_key.setdefault((ticker.upper(), date), []).append(values)
    return {key for key, values in by_key.items() if len(set(values)) == 1}


ROWS = st.lists(
    st.tuples(
        st.sampled_from(DATES),
        st.sampled_from(TICKERS),
        *(st.sampled_from(NUMBERS) for _ in range(5)),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=ROWS)
def test_every_row_is_valid_or_rejected_as_the_rules_say(rows):
    text = HEADER + "".join(",".join(row) + "\n" for row in rows)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "prices.csv"
        path.write_text(text)
        valid, rejected = read_prices(path, as_of=AS_OF)
    assert len(valid) + len(rejected) == len(rows)
    assert rejected["location"].is_unique
    assert all(set(r.split(",")) <= set(RULES) for r in rejected["rule"])
    got = set(zip(valid["ticker"].astype(str), valid["date"].dt.strftime("%Y-%m-%d"), strict=True))
    assert len(got) == len(valid)
    assert got == _expected_valid_keys(rows)


@pytest.mark.parametrize(
    "name",
    [
        "sp500_5yr_2013_2018.csv.gz",
        "fmp/aapl_historical_price_full_2016-06-02_2021-06-01.json",
        "fmp/aapl_stable_historical-price-eod-full_2023-01-01_2023-01-10.json",
    ],
)
def test_valid_rows_of_real_files_meet_the_prices_table_contract(shared_data, name):
    valid, _ = read_prices(shared_data / name)
    PRICES_TABLE_SCHEMA.validate(valid, lazy=True)
