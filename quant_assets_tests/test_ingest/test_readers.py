"""Every reader layout on the real shared files, plus tiny hand-made files for the header aliases.

Counts come from ``shared/data/README.md``; each real file must split into ``valid`` and
``rejected`` with no row lost.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json

import numpy as np
import pandas as pd
import pytest
from skfolio.datasets import load_sp500_dataset

from quant_assets.ingest import UnsupportedFileError, read_prices, read_raw, validate_prices
from quant_assets.ingest.seed import default_price_frames
from quant_assets.ingest.validation import VALID_COLUMNS

AS_OF = dt.date(2024, 1, 1)
FMP_V3_FIVE_YEARS = "fmp/aapl_historical_price_full_2016-06-02_2021-06-01.json"
FMP_V3_FIVE_YEARS_PLUS_ONE = "fmp/aapl_historical_price_full_2016-06-02_2021-06-02.json"
FMP_V3_2023 = "fmp/aapl_v3_historical-price-full_2023-01-01_2023-01-10.json"
FMP_STABLE_2023 = "fmp/aapl_stable_historical-price-eod-full_2023-01-01_2023-01-10.json"
# Two stocks and the index of the 21 seeded defaults: each read costs ~0.1 s.
SEEDED_SAMPLE = ("AAPL", "XOM", "SP500")
OHLC_RULES = {"high_below_open_close_low", "low_above_open_close"}


def _values(valid: pd.DataFrame) -> pd.DataFrame:
    """A valid table without its source, tickers as plain strings: comparable across files."""
    out = valid.drop(columns="source").reset_index(drop=True)
    out["ticker"] = out["ticker"].astype(str)
    return out


def _rules(rejected: pd.DataFrame) -> pd.Series:
    """Each rejected row's rules as a set."""
    return rejected["rule"].str.split(",").map(set)


def _as_per_ticker(long_line: str) -> str:
    """``date,ticker,o,h,l,c,v`` -> ``date,o,h,l,c,v``: the line as a one-ticker file has it."""
    date, _ticker, rest = long_line.split(",", 2)
    return f"{date},{rest}"


# --- long layout: the real files -------------------------------------------------------------


def test_sp500_file_splits_all_619040_rows_of_505_tickers(sp500_prices):
    valid, rejected = sp500_prices
    assert len(valid) + len(rejected) == 619_040
    assert valid["ticker"].nunique() == 505
    assert list(valid.columns) == VALID_COLUMNS


def test_sp500_rejects_exactly_the_twelve_rows_breaking_ohlc_rules(sp500_prices):
    _, rejected = sp500_prices
    assert rejected["rule"].value_counts().to_dict() == {
        "low_above_open_close": 11,
        "high_below_open_close_low": 1,
    }


def test_sp500_high_below_low_row_is_rejected_with_its_line_and_text(sp500_prices, shared_data):
    _, rejected = sp500_prices
    aos = rejected[rejected["rule"] == "high_below_open_close_low"].iloc[0]
    assert (aos["ticker"], aos["date"], aos["location"]) == ("AOS", "2014-05-19", "line 54263")
    assert aos["source"] == str(shared_data / "sp500_5yr_2013_2018.csv.gz")
    assert aos["reason"] == (
        "high_below_open_close_low: high=23.595 < max(open=23.89, close=24.445, low=23.85)"
    )
    assert json.loads(aos["raw_values"]) == {
        "date": "2014-05-19",
        "ticker": "AOS",
        "open": "23.89",
        "high": "23.595",
        "low": "23.85",
        "close": "24.445",
        "volume": "1944854",
    }


def test_sp500_rows_with_empty_open_high_low_but_a_close_are_valid(sp500_prices):
    valid, _ = sp500_prices
    assert valid[["open", "high", "low"]].isna().sum().to_dict() == {
        "open": 11,
        "high": 8,
        "low": 8,
    }
    bhf = valid[(valid["ticker"] == "BHF") & (valid["date"] == "2017-07-26")].iloc[0]
    assert np.isnan([bhf["open"], bhf["high"], bhf["low"]]).all()
    assert (bhf["close"], bhf["volume"]) == (69.0842, 3.0)


def test_us_stocks_file_splits_all_560644_rows_of_50_tickers(us_stocks_prices):
    valid, rejected = us_stocks_prices
    assert len(valid) + len(rejected) == 560_644
    assert valid["ticker"].nunique() == 50


def test_us_stocks_rejects_every_row_breaking_any_ohlc_rule(us_stocks_prices):
    _, rejected = us_stocks_prices
    rules = _rules(rejected)
    assert all(r <= OHLC_RULES for r in rules)
    assert rules.map(lambda r: "high_below_open_close_low" in r).sum() == 7
    assert rules.map(lambda r: "low_above_open_close" in r).sum() == 17
    # 7 + 17 rule breaks on 22 rows: two misplaced-decimal ticks break both rules.
    assert len(rejected) == 22


def test_us_stocks_high_rule_catches_the_seven_misplaced_decimal_ticks(us_stocks_prices):
    _, rejected = us_stocks_prices
    high = rejected[_rules(rejected).map(lambda r: "high_below_open_close_low" in r)]
    assert set(zip(high["ticker"], high["date"], strict=True)) == {
        ("DWDP", "1988-10-13"),
        ("DWDP", "1989-06-16"),
        ("DWDP", "1991-07-01"),
        ("DWDP", "1991-09-23"),
        ("EIX", "2010-07-12"),
        ("PCG", "2002-03-05"),
        ("PCG", "2012-09-27"),
    }


# --- FMP JSON -------------------------------------------------------------------------------


def test_fmp_v3_five_year_file_reads_all_1258_records(shared_data):
    raw = read_raw(shared_data / FMP_V3_FIVE_YEARS)
    valid, rejected = read_prices(shared_data / FMP_V3_FIVE_YEARS, as_of=AS_OF)
    assert raw.layout == "fmp_v3"
    assert (len(raw), len(valid), len(rejected)) == (1258, 1258, 0)
    assert set(valid["ticker"].astype(str)) == {"AAPL"}


def test_fmp_v3_e_notation_volumes_parse(shared_data):
    valid, _ = read_prices(shared_data / FMP_V3_FIVE_YEARS, as_of=AS_OF)
    by_date = valid.set_index("date")
    # 6.3890796E7 and 1.607664E8 in the file.
    assert by_date.loc["2021-06-01", "volume"] == 63_890_796.0
    assert by_date.loc["2016-06-02", "volume"] == 160_766_400.0
    assert by_date.loc["2016-06-02", "close"] == 24.43


def test_fmp_v3_records_stay_newest_first(shared_data):
    valid, _ = read_prices(shared_data / FMP_V3_FIVE_YEARS, as_of=AS_OF)
    assert valid["date"].is_monotonic_decreasing
    assert (valid["date"].iloc[0], valid["date"].iloc[-1]) == (
        pd.Timestamp("2021-06-01"),
        pd.Timestamp("2016-06-02"),
    )


def test_fmp_v3_adj_close_differs_from_close_on_1129_dividend_records(shared_data):
    valid, _ = read_prices(shared_data / FMP_V3_FIVE_YEARS, as_of=AS_OF)
    assert valid["adj_close"].notna().all()
    assert (valid["adj_close"] != valid["close"]).sum() == 1129


def test_fmp_v3_files_one_day_apart_agree_on_their_1258_shared_dates(shared_data):
    older, _ = read_prices(shared_data / FMP_V3_FIVE_YEARS, as_of=AS_OF)
    newer, _ = read_prices(shared_data / FMP_V3_FIVE_YEARS_PLUS_ONE, as_of=AS_OF)
    assert len(newer) == 1259
    shared = _values(newer[newer["date"].isin(older["date"])])
    assert len(shared) == 1258
    pd.testing.assert_frame_equal(shared, _values(older))


def test_fmp_v3_2023_file_has_six_records_with_integer_volumes(shared_data):
    valid, rejected = read_prices(shared_data / FMP_V3_2023, as_of=AS_OF)
    assert (len(valid), len(rejected)) == (6, 0)
    assert (valid["adj_close"] != valid["close"]).all()
    assert valid.set_index("date").loc["2023-01-09", "volume"] == 70_790_800.0


def test_fmp_stable_file_is_a_bare_array_with_symbol_per_record_and_no_adj_close(shared_data):
    raw = read_raw(shared_data / FMP_STABLE_2023)
    valid, rejected = read_prices(shared_data / FMP_STABLE_2023, as_of=AS_OF)
    assert raw.layout == "fmp_stable"
    assert (len(valid), len(rejected)) == (6, 0)
    assert set(valid["ticker"].astype(str)) == {"AAPL"}
    assert valid["adj_close"].isna().all()
    assert valid.set_index("date").loc["2023-01-09", "volume"] == 70_790_813.0


def test_fmp_stable_and_v3_agree_on_open_high_low_close(shared_data):
    v3, _ = read_prices(shared_data / FMP_V3_2023, as_of=AS_OF)
    stable, _ = read_prices(shared_data / FMP_STABLE_2023, as_of=AS_OF)
    columns = ["ticker", "date", "open", "high", "low", "close"]
    pd.testing.assert_frame_equal(_values(v3)[columns], _values(stable)[columns])


# --- one file per ticker ----------------------------------------------------------------------


def test_stooq_style_per_ticker_file_takes_the_ticker_from_its_name(
    sp500_prices, sp500_lines, write_file
):
    lines = sp500_lines["AAPL"]
    text = "Date,Open,High,Low,Close,Volume\n" + "".join(_as_per_ticker(x) + "\n" for x in lines)
    path = write_file("aapl.us.txt", text)
    valid, rejected = read_prices(path, as_of=AS_OF)
    assert read_raw(path).layout == "per_ticker"
    assert (len(valid), len(rejected)) == (1259, 0)
    long_valid, _ = sp500_prices
    pd.testing.assert_frame_equal(
        _values(valid), _values(long_valid[long_valid["ticker"] == "AAPL"])
    )


def test_per_ticker_file_with_crlf_and_open_interest_matches_the_long_file(
    us_stocks_prices, us_stocks_lines, write_file
):
    # The Huge Stock Market Dataset's own layout: CRLF endings and an always-zero OpenInt.
    lines = us_stocks_lines["PCG"]
    text = "Date,Open,High,Low,Close,Volume,OpenInt\r\n" + "".join(
        _as_per_ticker(x) + ",0\r\n" for x in lines
    )
    valid, rejected = read_prices(write_file("pcg.us.txt", text), as_of=AS_OF)
    long_valid, long_rejected = us_stocks_prices
    assert len(valid) + len(rejected) == len(lines)
    pd.testing.assert_frame_equal(
        _values(valid), _values(long_valid[long_valid["ticker"] == "PCG"])
    )
    long_pcg = long_rejected[long_rejected["ticker"] == "PCG"]
    assert list(rejected["date"]) == list(long_pcg["date"])
    assert list(rejected["rule"]) == list(long_pcg["rule"])


def test_per_ticker_rejected_row_is_located_by_its_line_in_that_file(us_stocks_lines, write_file):
    lines = us_stocks_lines["PCG"]
    text = "Date,Open,High,Low,Close,Volume,OpenInt\r\n" + "".join(
        _as_per_ticker(x) + ",0\r\n" for x in lines
    )
    _, rejected = read_prices(write_file("pcg.us.txt", text), as_of=AS_OF)
    bad = rejected.set_index("date").loc["2002-03-05"]
    index = next(i for i, x in enumerate(lines) if x.startswith("2002-03-05,"))
    assert bad["location"] == f"line {index + 2}"
    assert bad["ticker"] == "PCG"
    assert json.loads(bad["raw_values"])["OpenInt"] == "0"


def test_kaggle_per_ticker_file_with_name_column_reads_as_long(
    sp500_prices, sp500_lines, write_file
):
    # The source layout of the S&P 500 set: <TICKER>_data.csv with a trailing Name column.
    lines = sp500_lines["BHF"]
    text = "date,open,high,low,close,volume,Name\n" + "".join(
        f"{_as_per_ticker(x)},BHF\n" for x in lines
    )
    path = write_file("BHF_data.csv", text)
    valid, rejected = read_prices(path, as_of=AS_OF)
    assert read_raw(path).layout == "long"
    assert len(rejected) == 0
    long_valid, _ = sp500_prices
    pd.testing.assert_frame_equal(
        _values(valid), _values(long_valid[long_valid["ticker"] == "BHF"])
    )


def test_seeded_default_frames_read_back_as_close_only_per_ticker_files(tmp_path):
    frames = default_price_frames()
    assert len(frames) == 21
    for ticker in SEEDED_SAMPLE:
        frame = frames[ticker]
        path = tmp_path / f"{ticker}.csv"
        frame.to_csv(path, index=False)
        valid, rejected = read_prices(path, as_of=AS_OF)
        assert len(rejected) == 0, ticker
        assert set(valid["ticker"].astype(str)) == {ticker}
        np.testing.assert_array_equal(valid["close"].to_numpy(), frame["close"].to_numpy())
        assert valid[["open", "high", "low", "adj_close", "volume"]].isna().all().all()


def test_gzipped_per_ticker_file_reads_like_the_plain_file(sp500_lines, write_file):
    text = "Date,Open,High,Low,Close,Volume\n" + "".join(
        _as_per_ticker(x) + "\n" for x in sp500_lines["BHF"]
    )
    plain = read_prices(write_file("bhf.us.txt", text), as_of=AS_OF)
    zipped = read_prices(write_file("bhf.us.txt.gz", text, gz=True), as_of=AS_OF)
    pd.testing.assert_frame_equal(_values(zipped[0]), _values(plain[0]))
    assert len(zipped[1]) == len(plain[1]) == 0


# --- wide close-only layout -------------------------------------------------------------------


@pytest.fixture(scope="module")
def skfolio_wide(tmp_path_factory):
    """skfolio's embedded 20-stock closes (1990-2022) written as a wide CSV, and its reading.

    Returns ``(path, closes, raw, valid, rejected)``.
    """
    closes = load_sp500_dataset()
    path = tmp_path_factory.mktemp("wide") / "sp500_closes.csv"
    closes.to_csv(path)
    raw = read_raw(path)
    return (path, closes, raw, *validate_prices(raw, as_of=AS_OF))


def test_wide_file_gives_one_close_only_row_per_cell(skfolio_wide):
    _, closes, raw, valid, rejected = skfolio_wide
    assert raw.layout == "wide"
    assert len(rejected) == 0
    assert len(valid) == closes.notna().sum().sum() == 8313 * 20
    assert valid[["open", "high", "low", "adj_close", "volume"]].isna().all().all()
    got = valid.pivot(index="date", columns="ticker", values="close")
    got.columns = got.columns.astype(str)
    pd.testing.assert_frame_equal(
        got[list(closes.columns)], closes, check_names=False, check_freq=False
    )


def test_gzipped_wide_file_reads_like_the_plain_file(skfolio_wide, tmp_path):
    path, _, _, plain_valid, _ = skfolio_wide
    zipped = tmp_path / "sp500_closes.csv.gz"
    zipped.write_bytes(gzip.compress(path.read_bytes()))
    raw = read_raw(zipped)
    zipped_valid, zipped_rejected = validate_prices(raw, as_of=AS_OF)
    assert raw.layout == "wide"
    assert len(zipped_rejected) == 0
    pd.testing.assert_frame_equal(_values(zipped_valid), _values(plain_valid))


def test_wide_empty_cell_is_no_observation_and_bad_cell_names_line_and_ticker(write_file):
    text = "Date,AAPL,MSFT\n2023-01-03,125.07,239.58\n2023-01-04,,229.10\n2023-01-05,125.02,-1\n"
    valid, rejected = read_prices(write_file("closes.csv", text), as_of=AS_OF)
    assert len(valid) + len(rejected) == 5  # six cells, one empty
    assert list(zip(valid["ticker"].astype(str), valid["close"], strict=True)) == [
        ("AAPL", 125.07),
        ("MSFT", 239.58),
        ("MSFT", 229.10),
        ("AAPL", 125.02),
    ]
    bad = rejected.iloc[0]
    assert (bad["location"], bad["rule"]) == ("line 4, MSFT", "price_not_positive")
    assert json.loads(bad["raw_values"]) == {"Date": "2023-01-05", "MSFT": "-1"}


# --- header aliases and null handling ---------------------------------------------------------

# The six AAPL bars of the FMP v3 file for 2023-01-03..10, oldest first.
AAPL_JAN_2023 = [
    ("2023-01-03", "130.28", "130.9", "124.17", "125.07", "124.54", "112117500"),
    ("2023-01-04", "126.89", "128.66", "125.08", "126.36", "125.82", "89113600"),
    ("2023-01-05", "127.13", "127.77", "124.76", "125.02", "124.49", "80962700"),
]


def _long_csv(header: str, ticker_first: bool = False) -> str:
    rows = []
    for date, o, h, low, c, adj, vol in AAPL_JAN_2023:
        rows.append(
            f"AAPL,{date},{o},{h},{low},{c},{adj},{vol}"
            if ticker_first
            else f"{date},AAPL,{o},{h},{low},{c},{adj},{vol}"
        )
    return header + "\n" + "\n".join(rows) + "\n"


def _expected_jan_2023() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": "AAPL",
            "date": pd.to_datetime([r[0] for r in AAPL_JAN_2023]).astype("datetime64[ns]"),
            **{
                col: [float(r[i]) for r in AAPL_JAN_2023]
                for i, col in enumerate(["open", "high", "low", "close", "adj_close", "volume"], 1)
            },
        }
    )


def test_long_headers_date_symbol_and_adj_close_with_space_are_recognised(write_file):
    text = _long_csv("Date,Symbol,Open,High,Low,Close,Adj Close,Volume")
    valid, rejected = read_prices(write_file("aapl_yahoo.csv", text), as_of=AS_OF)
    assert len(rejected) == 0
    pd.testing.assert_frame_equal(_values(valid), _expected_jan_2023())


def test_long_headers_name_and_camel_case_adjclose_are_recognised(write_file):
    text = _long_csv("Name,date,OPEN,high,Low,close,adjClose,volume", ticker_first=True)
    path = write_file("prices.csv", text)
    valid, rejected = read_prices(path, as_of=AS_OF)
    assert read_raw(path).layout == "long"
    assert len(rejected) == 0
    pd.testing.assert_frame_equal(_values(valid), _expected_jan_2023())


def test_empty_fields_are_null_and_a_close_only_row_is_valid(write_file):
    text = "date,ticker,open,high,low,close,volume\n2017-07-26,BHF,,,,69.0842,3\n"
    valid, rejected = read_prices(write_file("bhf.csv", text), as_of=AS_OF)
    assert len(rejected) == 0
    row = valid.iloc[0]
    assert np.isnan([row["open"], row["high"], row["low"], row["adj_close"]]).all()
    assert (row["close"], row["volume"]) == (69.0842, 3.0)


def test_e_notation_volume_parses_in_a_csv(write_file):
    text = "date,ticker,close,volume\n2021-06-01,AAPL,124.28,6.3890796E7\n"
    valid, _ = read_prices(write_file("aapl.csv", text), as_of=AS_OF)
    assert valid["volume"].tolist() == [63_890_796.0]


# --- files we refuse --------------------------------------------------------------------------


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_raw(tmp_path / "absent.csv")


def test_csv_without_a_date_column_is_unsupported(write_file):
    with pytest.raises(UnsupportedFileError, match="no date column"):
        read_raw(write_file("x.csv", "ticker,close\nAAPL,1\n"))


def test_empty_file_is_unsupported(write_file):
    with pytest.raises(UnsupportedFileError, match="empty file"):
        read_raw(write_file("x.csv", ""))


def test_malformed_json_is_unsupported_with_its_position(write_file):
    with pytest.raises(UnsupportedFileError, match="line 2, column"):
        read_raw(write_file("x.json", '{"symbol": "AAPL",\n "historical": [}'))


def test_fmp_error_payload_is_unsupported_with_its_message(write_file):
    with pytest.raises(UnsupportedFileError, match="Limit Reach"):
        read_raw(write_file("x.json", '{"Error Message": "Limit Reach"}'))
