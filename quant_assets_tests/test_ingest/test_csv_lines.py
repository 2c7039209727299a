"""The text of CSV lines: field counts, NUL bytes and a cut last line, on tiny hand-made files.

pandas reads such damage as plausible values (NaN-filled fields, a field ended at a NUL byte, a
last field cut short) or refuses the whole file (a line with more fields); the reader finds it
in the bytes and the validator quarantines just that line, naming it. The good rows are AAPL's
real bars of early January 2023 (FMP).
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_assets.ingest import peek_tickers, read_prices, read_raw, validate_prices

AS_OF = dt.date(2024, 1, 2)
HEADER = "date,ticker,open,high,low,close,volume\n"
JAN3 = "2023-01-03,AAPL,130.28,130.9,124.17,125.07,112117500\n"
JAN4 = "2023-01-04,AAPL,126.89,128.66,125.08,126.36,89113600\n"
JAN5 = "2023-01-05,AAPL,127.13,127.77,124.76,125.02,80962700\n"
UNTERMINATED = (
    "unterminated_last_line: the file does not end with a line break, so its last line may be "
    "cut (a copy still being written, or interrupted); if the line is complete, add a line "
    "break at the end"
)


def _read(write_file, text: str, name: str = "prices.csv"):
    """``(raw, valid, rejected)`` of ``text`` written as it is (no newline added)."""
    raw = read_raw(write_file(name, text))
    valid, rejected = validate_prices(raw, as_of=AS_OF)
    assert len(valid) + len(rejected) == len(raw)  # nothing lost
    return raw, valid, rejected


def _quarantine(rejected: pd.DataFrame) -> list[tuple[str, str, str]]:
    return list(zip(rejected["location"], rejected["rule"], rejected["reason"], strict=True))


def _dates(valid: pd.DataFrame) -> list[str]:
    return valid["date"].dt.strftime("%Y-%m-%d").tolist()


# --- field counts -----------------------------------------------------------------------------


def test_a_line_with_fewer_fields_is_quarantined_not_stored_with_nan_fields(write_file):
    cut = "2023-01-04,AAPL,126.89,128.66,125.08\n"  # lost its close and volume
    raw, valid, rejected = _read(write_file, HEADER + JAN3 + cut + JAN5)
    assert len(raw) == 3
    assert _dates(valid) == ["2023-01-03", "2023-01-05"]
    assert _quarantine(rejected) == [
        ("line 3", "field_count", "field_count: line has 5 fields, header has 7")
    ]
    assert json.loads(rejected.iloc[0]["raw_values"]) == {
        "date": "2023-01-04",
        "ticker": "AAPL",
        "open": "126.89",
        "high": "128.66",
        "low": "125.08",
    }


def test_a_line_with_more_fields_in_the_middle_is_quarantined_and_the_rest_lands(write_file):
    extra = "2023-01-04,AAPL,126.89,128.66,125.08,126.36,89113600,7\n"
    _, valid, rejected = _read(write_file, HEADER + JAN3 + extra + JAN5)
    assert _dates(valid) == ["2023-01-03", "2023-01-05"]
    assert valid["close"].tolist() == [125.07, 125.02]
    assert _quarantine(rejected) == [
        ("line 3", "field_count", "field_count: line has 8 fields, header has 7")
    ]
    # The line as written, its extra field included.
    raw_values = json.loads(rejected.iloc[0]["raw_values"])
    assert (raw_values["volume"], raw_values["field 8"]) == ("89113600", "7")
    # pandas reads its first seven fields: the quarantine shows its ticker and date.
    assert (rejected.iloc[0]["ticker"], rejected.iloc[0]["date"]) == ("AAPL", "2023-01-04")


def test_more_fields_on_the_first_data_line_do_not_shift_the_columns(write_file):
    # A value beyond the header (an empty one is a trailing separator: see the next test).
    extra = "2023-01-03,AAPL,130.28,130.9,124.17,125.07,112117500,7\n"
    _, valid, rejected = _read(write_file, HEADER + extra + JAN4 + JAN5)
    assert valid["ticker"].astype(str).tolist() == ["AAPL", "AAPL"]
    assert _dates(valid) == ["2023-01-04", "2023-01-05"]
    assert valid[["open", "close", "volume"]].values.tolist() == [
        [126.89, 126.36, 89113600.0],
        [127.13, 125.02, 80962700.0],
    ]
    assert _quarantine(rejected) == [
        ("line 2", "field_count", "field_count: line has 8 fields, header has 7")
    ]


def test_empty_fields_beyond_the_header_are_a_trailing_separator_not_damage(write_file):
    text = (
        HEADER
        + "2023-01-03,AAPL,130.28,130.9,124.17,125.07,112117500,\n"
        + JAN4.replace("\n", ",,\n")
        + JAN5
    )
    _, valid, rejected = _read(write_file, text)
    assert rejected.empty
    assert _dates(valid) == ["2023-01-03", "2023-01-04", "2023-01-05"]
    assert valid["volume"].tolist() == [112117500.0, 89113600.0, 80962700.0]


def test_a_header_and_lines_ending_with_a_separator_are_read_whole(write_file):
    lines = [HEADER, JAN3, JAN4]
    text = "".join(line.replace("\n", ",\n") for line in lines) + JAN5
    _, valid, rejected = _read(write_file, text)
    assert rejected.empty
    assert valid["close"].tolist() == [125.07, 126.36, 125.02]


def test_a_line_of_one_field_says_field_not_fields(write_file):
    _, _, rejected = _read(write_file, HEADER + JAN3 + "2023-01-04\n")
    assert rejected["reason"].tolist() == ["field_count: line has 1 field, header has 7"]


def test_damaged_lines_are_not_judged_by_the_value_rules_nor_counted_as_duplicates(write_file):
    # Cut after its ticker: its empty close would otherwise be close_missing, and it would
    # make JAN3 a conflicting duplicate.
    _, valid, rejected = _read(write_file, HEADER + JAN3 + "2023-01-03,AAPL\n")
    assert _dates(valid) == ["2023-01-03"]
    assert rejected["rule"].tolist() == ["field_count"]


# --- NUL bytes --------------------------------------------------------------------------------


def test_a_nul_byte_inside_a_field_is_quarantined_naming_the_field(write_file):
    nul = "2023-01-04,AAPL,126.89,128.66,125.08,126.36,8911\x003600\n"
    _, valid, rejected = _read(write_file, HEADER + JAN3 + nul + JAN5)
    assert _dates(valid) == ["2023-01-03", "2023-01-05"]
    assert _quarantine(rejected) == [
        ("line 3", "nul_byte", "nul_byte: volume='8911\\x003600' contains a NUL byte")
    ]
    assert json.loads(rejected.iloc[0]["raw_values"])["volume"] == "8911\x003600"


def test_nul_bytes_in_two_fields_name_both(write_file):
    nul = "2023-01-04,AAPL,126.89,128.66,125.08,\x00126.36,8911\x00\n"
    _, _, rejected = _read(write_file, HEADER + nul)
    assert rejected["reason"].tolist() == [
        "nul_byte: close='\\x00126.36', volume='8911\\x00' contains a NUL byte"
    ]


# --- the last line ----------------------------------------------------------------------------


def test_a_last_line_without_a_line_break_is_quarantined_as_possibly_cut(write_file):
    cut = "2023-01-05,AAPL,127.13,127.77,124.76,125.02,809"  # volume cut inside
    _, valid, rejected = _read(write_file, HEADER + JAN3 + JAN4 + cut)
    assert _dates(valid) == ["2023-01-03", "2023-01-04"]
    assert _quarantine(rejected) == [("line 4", "unterminated_last_line", UNTERMINATED)]


def test_the_same_last_line_with_its_line_break_is_valid(write_file):
    _, valid, rejected = _read(write_file, HEADER + JAN3 + JAN4 + JAN5)
    assert (len(valid), len(rejected)) == (3, 0)


def test_a_last_line_cut_inside_a_field_and_short_of_fields_names_both_rules(write_file):
    _, _, rejected = _read(write_file, HEADER + JAN3 + "2023-01-04,AAPL,126.89,12")
    assert _quarantine(rejected) == [
        (
            "line 3",
            "field_count,unterminated_last_line",
            "field_count: line has 4 fields, header has 7; " + UNTERMINATED,
        )
    ]


def test_blank_last_lines_and_a_header_only_file_need_no_line_break(write_file):
    raw, valid, rejected = _read(write_file, HEADER + JAN3 + "   ")
    assert len(raw) == len(valid) == 1
    assert rejected.empty
    raw, _, _ = _read(write_file, HEADER.rstrip("\n"))
    assert len(raw) == 0 and raw.line_issues.empty


# --- line endings and blank lines -------------------------------------------------------------


def test_crlf_file_counts_lines_and_fields_like_an_lf_file(write_file):
    lines = [HEADER, JAN3, "\n", "2023-01-04,AAPL,126.89\n", JAN5.rstrip("\n")]
    text = "".join(lines).replace("\n", "\r\n")
    raw, valid, rejected = _read(write_file, text)
    assert len(raw) == 3  # the blank line 3 is no row
    assert _dates(valid) == ["2023-01-03"]
    assert _quarantine(rejected) == [
        ("line 4", "field_count", "field_count: line has 3 fields, header has 7"),
        ("line 5", "unterminated_last_line", UNTERMINATED),
    ]
    assert json.loads(rejected.iloc[1]["raw_values"])["volume"] == "80962700"  # no "\r"


def test_lone_cr_line_endings_count_lines_like_pandas(write_file):
    text = (HEADER + JAN3 + "2023-01-04,AAPL\n" + JAN5).replace("\n", "\r")
    _, valid, rejected = _read(write_file, text)
    assert _dates(valid) == ["2023-01-03", "2023-01-05"]
    assert rejected[["location", "rule"]].values.tolist() == [["line 3", "field_count"]]


def test_blank_lines_are_skipped_not_rows(write_file):
    text = HEADER + JAN3 + "\n" + "  \n" + "\r\n" + JAN4 + "\n\n"
    raw, valid, rejected = _read(write_file, text)
    assert raw.line_issues.empty
    assert len(raw) == len(valid) == 2
    assert rejected.empty
    assert raw.locations(np.arange(2)).tolist() == ["line 2", "line 6"]


def test_line_numbers_after_blank_lines_stay_true_in_the_quarantine(write_file):
    text = HEADER + "\n" + JAN3 + "\n\n" + "2023-01-04,AAPL,126.89\n" + JAN5 + "\n"
    raw, valid, rejected = _read(write_file, text)
    assert len(raw) == 3
    assert _dates(valid) == ["2023-01-03", "2023-01-05"]
    assert rejected[["location", "rule"]].values.tolist() == [["line 6", "field_count"]]


# --- quoted files -----------------------------------------------------------------------------


def test_a_comma_inside_quotes_is_not_a_field(write_file):
    quoted = '2023-01-04,"AAPL",126.89,128.66,125.08,"126.36","89,11,3600"\n'
    raw, valid, rejected = _read(write_file, HEADER + JAN3 + quoted + JAN5)
    assert raw.line_issues.empty
    assert _dates(valid) == ["2023-01-03", "2023-01-05"]
    # Not grouped by thousands: no number is guessed from it.
    assert _quarantine(rejected) == [
        ("line 3", "number_unparsable", "number_unparsable: volume='89,11,3600'")
    ]


def test_quoted_thousands_separators_are_the_number_they_write(write_file):
    quoted = '2023-01-04,"AAPL","1,126.89","1,128.66","1,125.08","1,126.36","89,113,600"\n'
    _, valid, rejected = _read(write_file, HEADER + quoted)
    assert rejected.empty
    assert valid[["open", "close", "volume"]].values.tolist() == [[1126.89, 1126.36, 89113600.0]]


def test_a_quoted_file_still_finds_short_lines_and_counts_lines_inside_quotes(write_file):
    two_lines = '2023-01-04,"AA\nPL",126.89,128.66,125.08,126.36,89113600\n'  # lines 3 and 4
    short = '"2023-01-05",AAPL,127.13\n'
    extra = '2023-01-06,AAPL,126.01,130.29,124.89,129.62,87754700,"x, y"\n'
    _, valid, rejected = _read(write_file, HEADER + JAN3 + two_lines + short + extra + JAN5)
    assert _dates(valid) == ["2023-01-03", "2023-01-05"]
    assert rejected[["location", "rule", "date"]].values.tolist() == [
        ["line 3", "ticker_format", "2023-01-04"],
        ["line 5", "field_count", "2023-01-05"],
        ["line 6", "field_count", "2023-01-06"],
    ]
    assert rejected["reason"].iloc[1:].tolist() == [
        "field_count: line has 3 fields, header has 7",
        "field_count: line has 8 fields, header has 7",
    ]
    assert json.loads(rejected.iloc[0]["raw_values"])["ticker"] == "AA\nPL"
    assert json.loads(rejected.iloc[2]["raw_values"])["field 8"] == "x, y"


# --- wide close-only files --------------------------------------------------------------------

WIDE_HEADER = "Date,AAPL,MSFT\n"


def test_wide_file_cut_in_its_last_line_quarantines_the_cells_of_that_line(write_file):
    text = WIDE_HEADER + "2023-01-03,125.07,239.58\n2023-01-04,126.36,229.10\n2023-01-05,125.0"
    raw, valid, rejected = _read(write_file, text)
    assert raw.layout == "wide"
    assert len(valid) == 4
    assert _quarantine(rejected) == [
        (
            "line 4, AAPL",
            "field_count,unterminated_last_line",
            "field_count: line has 2 fields, header has 3; " + UNTERMINATED,
        )
    ]
    assert json.loads(rejected.iloc[0]["raw_values"]) == {"Date": "2023-01-05", "AAPL": "125.0"}


def test_wide_damaged_line_quarantines_every_cell_of_it(write_file):
    text = WIDE_HEADER + "2023-01-03,125.07,239\x00.58\n2023-01-04,126.36,229.10\n"
    _, valid, rejected = _read(write_file, text)
    assert valid["close"].tolist() == [126.36, 229.10]
    assert rejected[["location", "rule"]].values.tolist() == [
        ["line 2, AAPL", "nul_byte"],
        ["line 2, MSFT", "nul_byte"],
    ]
    assert rejected["reason"].iloc[0] == "nul_byte: MSFT='239\\x00.58' contains a NUL byte"


def test_wide_line_with_more_fields_quarantines_the_cells_of_the_header_columns(write_file):
    text = WIDE_HEADER + "2023-01-03,125.07,239.58\n2023-01-04,126.36,229.10,1\n"
    _, valid, rejected = _read(write_file, text)
    assert len(valid) == 2
    reason = "field_count: line has 4 fields, header has 3"
    assert _quarantine(rejected) == [
        ("line 3, AAPL", "field_count", reason),
        ("line 3, MSFT", "field_count", reason),
    ]
    assert json.loads(rejected.iloc[1]["raw_values"]) == {"Date": "2023-01-04", "MSFT": "229.10"}


def test_wide_damaged_line_without_any_value_still_gets_one_quarantined_row(write_file):
    text = WIDE_HEADER + "2023-01-03,125.07,239.58\n2023-01-04\n,,\n2023-01-0"
    _, valid, rejected = _read(write_file, text)
    assert len(valid) == 2
    assert _quarantine(rejected) == [
        ("line 3", "field_count", "field_count: line has 1 field, header has 3"),
        (
            "line 5",
            "field_count,unterminated_last_line",
            "field_count: line has 1 field, header has 3; " + UNTERMINATED,
        ),
    ]  # line 4 has every field, all empty: no observation, as before
    assert json.loads(rejected.iloc[0]["raw_values"]) == {"Date": "2023-01-04"}
    assert json.loads(rejected.iloc[1]["raw_values"]) == {"Date": "2023-01-0"}
    assert rejected["ticker"].tolist() == ["", ""]


# --- bookkeeping ------------------------------------------------------------------------------


def test_line_issues_are_by_frame_row_and_empty_for_clean_and_json_files(write_file):
    raw = read_raw(write_file("prices.csv", HEADER + JAN3 + "2023-01-04,AAPL\n" + JAN5[:-1]))
    assert raw.line_issues[["pos", "rule"]].values.tolist() == [
        [1, "field_count"],
        [2, "unterminated_last_line"],
    ]
    assert raw.line_issues["pos"].dtype == np.int64
    assert read_raw(write_file("clean.csv", HEADER + JAN3)).line_issues.empty
    records = [{"symbol": "AAPL", "date": "2023-01-04", "close": 126.36}]
    assert read_raw(write_file("aapl.json", json.dumps(records))).line_issues.empty


def test_every_row_of_a_file_with_every_kind_of_damage_is_valid_or_quarantined(write_file):
    text = (
        HEADER
        + "2023-01-02,AAPL,1,2,0.5,1.5,100,9\n"  # line 2: more fields, first data line
        + JAN3  # line 3
        + "\n"  # line 4: blank
        + "2023-01-04,AAPL,126.89\n"  # line 5: fewer fields
        + "2023-01-05,AAPL,127.13,127.77,124.76,125.02,8096\x002700\n"  # line 6: NUL
        + "2023-01-06,AAPL,126.01,130.29,124.89,129.62,87754700\n"  # line 7
        + "2023-01-09,AAPL,130.47,133.41,129.89,130.15,70790"  # line 8: cut
    )
    valid, rejected = read_prices(write_file("prices.csv", text), as_of=AS_OF)
    assert _dates(valid) == ["2023-01-03", "2023-01-06"]
    assert rejected[["location", "rule"]].values.tolist() == [
        ["line 2", "field_count"],
        ["line 5", "field_count"],
        ["line 6", "nul_byte"],
        ["line 8", "unterminated_last_line"],
    ]


def test_peek_tickers_skips_tickers_found_only_on_damaged_lines(write_file):
    text = (
        HEADER
        + "2023-01-03,MSFT,243.08,245.75,237.4,239.58,25740000,1\n"  # more fields, first line
        + JAN3.replace("AAPL", "aapl")
        + "2023-01-04,X\x00OM,1,2,0.5,1.5,100\n"  # pandas would read the ticker as X
        + "\n"
        + "2023-01-05,AA"  # cut: pandas would read the ticker as AA
    )
    assert peek_tickers(write_file("prices.csv", text)) == ["AAPL"]


# --- property: the vectorised count agrees with counting each line in Python -------------------

FIELD = st.sampled_from(["2023-01-03", "AAPL", "1.5", "", " ", "9\x009"])
LINES = st.lists(st.lists(FIELD, min_size=1, max_size=9).map(",".join), min_size=1, max_size=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=LINES, eol=st.sampled_from(["\n", "\r\n", "\r"]), terminated=st.booleans())
def test_line_issues_match_a_line_by_line_count(lines, eol, terminated):
    if not lines[-1]:
        terminated = True  # an empty last line without a break is no line at all
    text = HEADER.rstrip("\n") + eol + eol.join(lines) + (eol if terminated else "")
    expected = []
    rows = [line for line in lines if line.strip(" ")]  # blank lines are no rows
    for i, line in enumerate(rows):
        fields = line.split(",")
        empty_tail = 0  # empty fields beyond the header's seven are a trailing separator
        while empty_tail < len(fields) - 7 and fields[-1 - empty_tail] == "":
            empty_tail += 1
        if len(fields) - empty_tail != 7:
            expected.append([i, "field_count"])
        if "\x00" in line:
            expected.append([i, "nul_byte"])
    if not terminated and lines[-1].strip(" "):
        expected.append([len(rows) - 1, "unterminated_last_line"])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "prices.csv"
        path.write_bytes(text.encode())
        raw = read_raw(path)
        valid, rejected = validate_prices(raw, as_of=AS_OF)
    assert len(raw) == len(rows)
    assert len(valid) + len(rejected) == len(rows)
    found = raw.line_issues.sort_values("pos", kind="stable")[["pos", "rule"]].values.tolist()
    assert found == expected
    row_lines = [i + 2 for i, line in enumerate(lines) if line.strip(" ")]
    locations = {f"line {row_lines[pos]}" for pos, _ in expected}
    assert locations <= set(rejected["location"])
