"""Hostile real-world price files (issue 14): each class of damage as a general rule.

Numbers that are not finite or absurd, dates per value, ticker identity from column and name,
every refusal a PriceFileError naming the file, and the ordinary export layouts that must stay
accepted. The good rows are AAPL's real bars of early January 2023.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest

from quant_assets.ingest import (
    PriceFileError,
    UnsupportedFileError,
    peek_tickers,
    read_prices,
    read_raw,
)

AS_OF = dt.date(2024, 1, 2)
HEADER = "date,ticker,open,high,low,close,volume\n"
JAN3 = "2023-01-03,AAPL,130.28,130.9,124.17,125.07,112117500\n"
JAN4 = "2023-01-04,AAPL,126.89,128.66,125.08,126.36,89113600\n"
JAN5 = "2023-01-05,AAPL,127.13,127.77,124.76,125.02,80962700\n"


def _read(write_file, name: str, text: str):
    valid, rejected = read_prices(write_file(name, text), as_of=AS_OF)
    return valid, rejected


def _dates(valid) -> list[str]:
    return valid["date"].dt.strftime("%Y-%m-%d").tolist()


def _rules(rejected) -> list[str]:
    return rejected["rule"].tolist()


# --- 1. never store a non-finite or absurd number ---------------------------------------------


@pytest.mark.parametrize("text", ["inf", "-inf", "1e999", "-1e999", "nan", "NaN", "Infinity"])
@pytest.mark.parametrize("column", ["open", "close", "volume"])
def test_non_finite_text_in_a_csv_is_quarantined_as_non_finite(write_file, text, column):
    values = {"open": "126.89", "close": "126.36", "volume": "89113600"} | {column: text}
    bad = f"2023-01-04,AAPL,{values['open']},128.66,125.08,{values['close']},{values['volume']}\n"
    valid, rejected = _read(write_file, "prices.csv", HEADER + JAN3 + bad + JAN5)
    assert _dates(valid) == ["2023-01-03", "2023-01-05"]
    assert _rules(rejected) == ["non_finite"]
    # The file's text, or the float pandas already read from it ('inf', '-inf').
    assert rejected.iloc[0]["reason"] in {
        f"non_finite: {column}={text!r}",
        f"non_finite: {column}={str(float(text))!r}",
    }
    assert valid[["open", "close", "volume"]].abs().max().max() < float("inf")


@pytest.mark.parametrize(
    ("row", "rule"),
    [
        ("2023-01-04,AAPL,1.5e7,1.6e7,1.4e7,1.5e7,100\n", "out_of_range"),  # prices above 1e7
        ("2023-01-04,AAPL,126.89,128.66,125.08,126.36,2e13\n", "out_of_range"),
        ("2023-01-04,AAPL,126.89,128.66,125.08,1e7,100\n", "high_below_open_close_low"),
        ("2023-01-04,AAPL,0,128.66,125.08,126.36,100\n", "price_not_positive"),
    ],
)
def test_prices_outside_0_to_1e7_and_volumes_above_1e13_are_quarantined(write_file, row, rule):
    valid, rejected = _read(write_file, "prices.csv", HEADER + JAN3 + row)
    assert _dates(valid) == ["2023-01-03"]
    assert rule in rejected.iloc[0]["rule"].split(",")


def test_a_price_of_exactly_1e7_and_a_volume_of_exactly_1e13_are_kept(write_file):
    row = "2023-01-04,AAPL,1e7,1e7,1e7,1e7,1e13\n"
    valid, rejected = _read(write_file, "prices.csv", HEADER + row)
    assert rejected.empty
    assert valid[["close", "volume"]].values.tolist() == [[1e7, 1e13]]


def test_non_finite_values_in_fmp_json_are_quarantined(write_file):
    text = (
        '{"symbol": "AAPL", "historical": ['
        '{"date": "2023-01-05", "open": 127.13, "high": 127.77, "low": 124.76, '
        '"close": 125.02, "volume": 80962700},'
        '{"date": "2023-01-04", "open": 126.89, "high": 128.66, "low": 125.08, '
        '"close": 1e999, "volume": 89113600},'
        '{"date": "2023-01-03", "open": 130.28, "high": 130.9, "low": 124.17, '
        '"close": 125.07, "volume": NaN},'
        '{"date": "2023-01-02", "open": 130.28, "high": Infinity, "low": 124.17, '
        '"close": 125.07, "volume": 1}]}'
    )
    valid, rejected = _read(write_file, "aapl.json", text)
    assert _dates(valid) == ["2023-01-05"]
    assert _rules(rejected) == ["non_finite"] * 3
    assert rejected["location"].tolist() == ["record 2", "record 3", "record 4"]


# --- 2. dates, per value ----------------------------------------------------------------------


def test_a_file_mixing_iso_and_us_dates_reads_each_value_on_its_own(write_file):
    text = (
        HEADER
        + JAN3.replace("2023-01-03", "01/03/2023")
        + JAN4
        + JAN5.replace("2023-01-05", "01/05/2023")
        + "01/13/2023,AAPL,1,2,0.5,1.5,100\n"  # month-first evidence: day 13
    )
    valid, rejected = _read(write_file, "prices.csv", text)
    assert rejected.empty
    assert _dates(valid) == ["2023-01-03", "2023-01-04", "2023-01-05", "2023-01-13"]


def test_eu_dates_are_read_day_first_on_evidence_of_a_day_above_12(write_file):
    text = HEADER + "03/01/2023,AAPL,1,2,0.5,1.5,100\n" + "13/01/2023,AAPL,1,2,0.5,1.5,100\n"
    valid, rejected = _read(write_file, "prices.csv", text)
    assert rejected.empty
    assert _dates(valid) == ["2023-01-03", "2023-01-13"]


@pytest.mark.parametrize(
    "dates",
    [
        ["01/03/2023", "01/04/2023"],  # no value has a day above 12
        ["13/01/2023", "01/13/2023"],  # evidence of both orders
    ],
)
def test_a_file_whose_date_order_is_ambiguous_is_refused_naming_it(write_file, dates):
    text = HEADER + "".join(f"{d},AAPL,1,2,0.5,1.5,100\n" for d in dates)
    path = write_file("prices.csv", text)
    with pytest.raises(PriceFileError, match="ambiguous date format") as err:
        read_prices(path, as_of=AS_OF)
    assert str(path) in str(err.value) and err.value.path == str(path)
    assert any(ch.isdigit() for ch in err.value.reason)  # a count


def test_a_day_equal_to_its_month_is_no_ambiguity(write_file):
    valid, rejected = _read(write_file, "prices.csv", HEADER + "03/03/2023,AAPL,1,2,0.5,1.5,1\n")
    assert rejected.empty and _dates(valid) == ["2023-03-03"]


@pytest.mark.parametrize(
    ("value", "day"),
    [
        ("2023-01-04T21:00:00Z", "2023-01-04"),  # 16:00 in New York
        ("2023-01-05T01:30:00Z", "2023-01-04"),  # 20:30 the evening before in New York
        ("2023-01-04T16:00:00-05:00", "2023-01-04"),
        ("2023-01-05T02:00:00+01:00", "2023-01-04"),
        ("2023-01-04T00:00:00Z", "2023-01-04"),  # midnight in its own offset: a date label
        ("2023-01-04T00:00:00+00:00", "2023-01-04"),
        ("1672866000", "2023-01-04"),  # epoch seconds, 21:00 UTC
        ("1672790400", "2023-01-04"),  # epoch seconds, midnight UTC: a date label
        ("1672882200000", "2023-01-04"),  # epoch milliseconds, 01:30 UTC on the 5th
        ("20230104", "2023-01-04"),
        ("2023/01/04", "2023-01-04"),
        ("04.01.2023", "2023-01-04"),  # dotted: day first
        ("Jan 04, 2023", "2023-01-04"),
        ("04-Jan-2023", "2023-01-04"),
        ("2023-01-04 15:59:00", "2023-01-04"),  # no offset: the date as written
    ],
)
def test_each_date_format_lands_on_the_new_york_trading_day(write_file, value, day):
    row = f'"{value}",AAPL,126.89,128.66,125.08,126.36,89113600\n'
    valid, rejected = _read(write_file, "prices.csv", HEADER + row)
    assert rejected.empty, rejected["reason"].tolist()
    assert _dates(valid) == [day]


def test_timestamps_with_mixed_offsets_in_one_file_each_land_on_their_day(write_file):
    rows = [
        "2023-01-03T16:00:00-05:00,AAPL,130.28,130.9,124.17,125.07,112117500\n",
        "2023-01-04T21:00:00+00:00,AAPL,126.89,128.66,125.08,126.36,89113600\n",
        "2023-01-05T22:00:00+01:00,AAPL,127.13,127.77,124.76,125.02,80962700\n",
    ]
    valid, rejected = _read(write_file, "prices.csv", HEADER + "".join(rows))
    assert rejected.empty
    assert _dates(valid) == ["2023-01-03", "2023-01-04", "2023-01-05"]


def test_an_unknown_date_shape_is_date_unparsable_not_a_guess(write_file):
    valid, rejected = _read(write_file, "prices.csv", HEADER + JAN3 + "3rd Jan,AAPL,1,2,.5,1.5,1\n")
    assert _dates(valid) == ["2023-01-03"]
    assert _rules(rejected) == ["date_unparsable"]


# --- 3. ticker identity -----------------------------------------------------------------------


def test_a_ticker_column_that_agrees_with_the_name_is_used(write_file):
    valid, rejected = _read(write_file, "AAPL.csv", HEADER + JAN3 + JAN4.replace("AAPL", "aapl"))
    assert rejected.empty
    assert valid["ticker"].astype(str).tolist() == ["AAPL", "AAPL"]


def test_rows_whose_ticker_column_disagrees_with_the_name_are_ticker_conflicts(write_file):
    text = HEADER + JAN3 + JAN4.replace("AAPL", "MSFT") + JAN5
    valid, rejected = _read(write_file, "daily_adjusted_AAPL.csv", text)
    assert _dates(valid) == ["2023-01-04".replace("4", "3"), "2023-01-05"]
    assert _rules(rejected) == ["ticker_conflict"]
    assert rejected.iloc[0]["reason"] == (
        "ticker_conflict: file name gives 'AAPL', the ticker column says 'MSFT'"
    )


def test_a_one_ticker_file_named_after_another_ticker_is_all_conflict(write_file):
    valid, rejected = _read(write_file, "MSFT_1d.csv", HEADER + JAN3 + JAN4)
    assert valid.empty
    assert _rules(rejected) == ["ticker_conflict"] * 2
    assert peek_tickers(write_file("MSFT_1d.csv", HEADER + JAN3 + JAN4)) == []  # no partition
    mixed = HEADER + JAN3 + JAN4.replace("AAPL", "MSFT")
    assert peek_tickers(write_file("AAPL.csv", mixed)) == ["AAPL"]


def test_fmp_symbol_disagreeing_with_the_file_name_is_a_ticker_conflict(write_file):
    payload = {"symbol": "AAPL", "historical": [{"date": "2023-01-04", "close": 126.36}]}
    valid, rejected = _read(write_file, "MSFT.json", json.dumps(payload))
    assert valid.empty and _rules(rejected) == ["ticker_conflict"]


def test_a_multi_ticker_file_whose_name_is_no_ticker_keeps_its_column(write_file):
    text = HEADER + JAN3 + JAN4.replace("AAPL", "MSFT")
    for name in ("export.csv", "sp500_5yr_2013_2018.csv", "history.csv"):
        valid, rejected = _read(write_file, name, text)
        assert rejected.empty
        assert valid["ticker"].astype(str).tolist() == ["AAPL", "MSFT"]


@pytest.mark.parametrize(
    "name",
    [
        "daily_adjusted_AAPL.csv",
        "AAPL_1d.csv",
        "AAPL.US.csv",
        "aapl.us.txt",
        "AAPL_2019-01-01_2020-01-01.csv",
        "AAPL (1).csv",
    ],
)
def test_vendor_decorations_around_the_ticker_in_a_name_are_understood(write_file, name):
    text = "date,open,high,low,close,volume\n2023-01-04,126.89,128.66,125.08,126.36,89113600\n"
    valid, rejected = _read(write_file, name, text)
    assert rejected.empty
    assert valid["ticker"].astype(str).tolist() == ["AAPL"]
    assert peek_tickers(write_file(name, text)) == ["AAPL"]


@pytest.mark.parametrize(
    "name", ["export.csv", "data.csv", "prices.csv", "download (2).csv", "quotes_2023.csv"]
)
def test_a_file_without_ticker_column_and_with_a_generic_name_is_refused(write_file, name):
    path = write_file(name, "date,close\n2023-01-04,126.36\n")
    with pytest.raises(PriceFileError, match="no ticker") as err:
        read_prices(path)
    assert err.value.path == str(path)
    with pytest.raises(PriceFileError, match="no ticker"):
        peek_tickers(path)


# --- 4. every refusal is a PriceFileError naming the file -------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("aapl.csv", b"Date,Close,close\n2023-01-04,1,1\n", "duplicate column headers"),
        ("aapl.csv", b"date,close\n2023-01-04,12\xe9\n", "not UTF-8 text"),
        ("aapl.csv", b"\xff\xd8\xff\xe0garbage\x00\x01", "not"),
        ("aapl.json", b'{"historical": null}', "historical"),
        ("aapl.json", b'{"symbol": "AAPL", "historical": 5}', "historical"),
        ("aapl.json", b"{}", "empty JSON object"),
        ("aapl.json", b'{"Error Message": "Invalid API KEY."}', "Invalid API KEY"),
        ("aapl.json", b"[1, 2, 3]", "must be JSON objects"),
        ("aapl.json", b'"just a string"', ""),
        ("aapl.json", b'{"historicalStockList": [{"symbol": "A", "historical": null}]}', "null"),
        ("aapl.csv", b"<!DOCTYPE html><html><body>Rate limit</body></html>\n", "HTML"),
        ("aapl.csv", b"", "empty file"),
        ("aapl.csv", b"\n\n\n", "empty file"),
        ("aapl.csv.gz", b"\x1f\x8b\x08\x00garbage", "gzip"),
    ],
)
def test_hostile_content_gives_a_price_file_error_naming_the_file(
    write_file, tmp_path, name, content, match
):
    path = tmp_path / name
    path.write_bytes(content)
    # peek_tickers reads only a CSV file's header and ticker column: a bad byte in a close
    # is for the full read to find.
    readers = (
        (read_prices, read_raw) if b"\xe9" in content else (read_prices, read_raw, peek_tickers)
    )
    for read in readers:
        with pytest.raises(PriceFileError, match=match) as err:
            read(path)
        assert str(err.value).startswith(str(path)) and err.value.path == str(path)
        assert isinstance(err.value, UnsupportedFileError)  # what callers already catch


def test_an_fmp_payload_with_an_empty_history_is_an_empty_valid_frame(write_file):
    valid, rejected = _read(write_file, "aapl.json", '{"symbol": "AAPL", "historical": []}')
    assert valid.empty and rejected.empty


def test_nested_json_values_are_quarantined_not_a_type_error(write_file):
    payload = [
        {"symbol": "AAPL", "date": "2023-01-04", "close": {"raw": 126.36}},
        {"symbol": "AAPL", "date": {"d": 1}, "close": 125.02},
        {"symbol": "AAPL", "date": "2023-01-05", "close": 125.02},
    ]
    valid, rejected = _read(write_file, "aapl.json", json.dumps(payload))
    assert _dates(valid) == ["2023-01-05"]
    assert _rules(rejected) == ["number_unparsable", "date_unparsable"]


def test_a_missing_file_is_a_price_file_error_and_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        read_prices(tmp_path / "absent.csv")
    assert isinstance(err.value, PriceFileError)


# --- 9. ordinary exports stay accepted --------------------------------------------------------


def test_an_adjusted_close_only_file_stores_it_as_close_and_adj_close(write_file):
    text = "Date,Adj Close,Volume\n2023-01-04,126.36,89113600\n2023-01-05,125.02,80962700\n"
    valid, rejected = _read(write_file, "AAPL.csv", text)
    assert rejected.empty
    assert valid[["close", "adj_close"]].values.tolist() == [[126.36, 126.36], [125.02, 125.02]]
    payload = [{"symbol": "AAPL", "date": "2023-01-04", "adjClose": 126.36}]
    valid, rejected = _read(write_file, "aapl.json", json.dumps(payload))
    assert rejected.empty and valid[["close", "adj_close"]].values.tolist() == [[126.36, 126.36]]


def test_semicolon_separated_with_decimal_commas_is_read(write_file):
    text = (
        "Date;Open;High;Low;Close;Volume\n"
        "04.01.2023;126,89;128,66;125,08;126,36;89113600\n"
        "05.01.2023;1.127,13;1.127,77;1.124,76;1.125,02;80962700\n"
    )
    valid, rejected = _read(write_file, "AAPL.csv", text)
    assert rejected.empty, rejected["reason"].tolist()
    assert _dates(valid) == ["2023-01-04", "2023-01-05"]
    assert valid["close"].tolist() == [126.36, 1125.02]


def test_tab_separated_is_read(write_file):
    text = HEADER.replace(",", "\t") + JAN3.replace(",", "\t")
    valid, rejected = _read(write_file, "prices.tsv", text)
    assert rejected.empty and valid["close"].tolist() == [125.07]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le-bom", "utf-16-be-bom"])
def test_byte_order_marks_and_utf16_are_read(tmp_path, encoding):
    text = HEADER + JAN3 + JAN4
    if encoding == "utf-16-le-bom":
        data = b"\xff\xfe" + text.encode("utf-16-le")
    elif encoding == "utf-16-be-bom":
        data = b"\xfe\xff" + text.encode("utf-16-be")
    else:
        data = text.encode(encoding)
    path = tmp_path / "prices.csv"
    path.write_bytes(data)
    valid, rejected = read_prices(path, as_of=AS_OF)
    assert rejected.empty and valid["close"].tolist() == [125.07, 126.36]
    zipped = tmp_path / "prices.csv.gz"
    zipped.write_bytes(gzip.compress(data))
    assert read_prices(zipped, as_of=AS_OF)[0]["close"].tolist() == [125.07, 126.36]


def test_trailing_blank_lines_are_no_rows(write_file):
    raw = read_raw(write_file("prices.csv", HEADER + JAN3 + JAN4 + "\n\n   \n\r\n"))
    assert len(raw) == 2
    valid, rejected = _read(write_file, "prices.csv", HEADER + JAN3 + JAN4 + "\n\n\n")
    assert len(valid) == 2 and rejected.empty
