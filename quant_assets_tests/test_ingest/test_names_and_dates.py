"""The pure parsers of the reader: the file-name ticker rule and per-value dates."""

from __future__ import annotations

import pandas as pd
import pytest

from quant_assets.ingest.dates import AmbiguousDateOrder, day_first_order, parse_dates
from quant_assets.ingest.names import is_generic_filename, ticker_from_filename


@pytest.mark.parametrize(
    ("name", "ticker"),
    [
        ("AAPL.csv", "AAPL"),
        ("aapl.csv.gz", "AAPL"),
        ("AAPL_data.csv", "AAPL"),
        ("aapl.us.txt", "AAPL"),
        ("AAPL.US.csv", "AAPL"),
        ("daily_adjusted_AAPL.csv", "AAPL"),
        ("AAPL_1d.csv", "AAPL"),
        ("AAPL_5min.csv", "AAPL"),
        ("AAPL_2019-01-01_2020-01-01.csv", "AAPL"),
        ("AAPL 20190101 to 20200101.csv", "AAPL"),
        ("MSFT_daily_prices.csv", "MSFT"),
        ("aapl_yahoo.csv", "AAPL"),
        ("aapl_historical_price_full_2016-06-02_2021-06-01.json", "AAPL"),
        ("aapl_stable_historical-price-eod-full_2023-01-01_2023-01-10.json", "AAPL"),
        ("AAPL (1).csv", "AAPL"),
        ("BRK-B.csv", "BRK-B"),
        ("BRK.B.csv", "BRK.B"),
        ("^GSPC.csv", "^GSPC"),
        ("SP500.csv", "SP500"),
        ("sub/dir/XOM.csv", "XOM"),
    ],
)
def test_the_name_parser_finds_the_ticker_among_vendor_decorations(name, ticker):
    assert ticker_from_filename(name) == ticker
    assert not is_generic_filename(name)


@pytest.mark.parametrize(
    "name",
    [
        "export.csv",
        "data.csv",
        "prices.csv",
        "download.csv",
        "quotes.csv",
        "history.csv",
        "Export (3).csv",
        "prices_2019-01-01.csv",
        "daily_data.csv.gz",
        "historical-price-full.json",
    ],
)
def test_generic_names_give_no_ticker(name):
    assert ticker_from_filename(name) is None
    assert is_generic_filename(name)


@pytest.mark.parametrize("name", ["AAPL MSFT.csv", "us_stocks_long_1962_2017.csv.gz", "a b c.csv"])
def test_names_with_several_words_give_no_ticker_but_are_not_generic(name):
    assert ticker_from_filename(name) is None


def test_dates_of_every_family_parse_per_value_in_one_column():
    text = pd.Series(
        ["2019-01-02", "01/03/2019", "20190104", "1546992000", "Jan 08, 2019", "x", "", None]
    )
    got = parse_dates(text, day_first=False).dt.strftime("%Y-%m-%d").tolist()
    assert got[:5] == ["2019-01-02", "2019-01-03", "2019-01-04", "2019-01-09", "2019-01-08"]
    assert pd.isna(parse_dates(text).iloc[5:]).all()


def test_without_a_settled_order_day_month_values_that_differ_are_not_parsed():
    got = parse_dates(pd.Series(["01/03/2019", "03/03/2019", "13.01.2019"]))
    assert pd.isna(got.iloc[0])
    assert got.iloc[1:].dt.strftime("%Y-%m-%d").tolist() == ["2019-03-03", "2019-01-13"]


@pytest.mark.parametrize(
    ("values", "order"),
    [
        (["01/13/2019", "01/02/2019"], False),
        (["13/01/2019", "01/02/2019"], True),
        (["01/01/2019", "2019-01-05"], None),
        (["2019-01-02"], None),
        (["13.01.2019", "01/13/2019"], False),  # dotted dates are no evidence
    ],
)
def test_day_first_order_comes_from_evidence_only(values, order):
    assert day_first_order(pd.Series(values)) is order


@pytest.mark.parametrize("values", [["01/02/2019"], ["13/01/2019", "01/13/2019"]])
def test_day_first_order_refuses_to_guess(values):
    with pytest.raises(AmbiguousDateOrder, match="ambiguous date format"):
        day_first_order(pd.Series(values))


def test_two_digit_years_read_as_strptime_does():
    got = parse_dates(pd.Series(["01/13/19", "01/13/70"]), day_first=False)
    assert got.dt.year.tolist() == [2019, 1970]
