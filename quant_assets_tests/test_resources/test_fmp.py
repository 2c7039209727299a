"""FMPClient against a real loopback FMP server: layouts, retries, errors, secrecy, rate limit."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from quant_assets.resources.fmp import (
    FMPAuthError,
    FMPClient,
    FMPError,
    FMPNotFoundError,
    FMPPayloadError,
    FMPRateLimitError,
    FMPUnavailableError,
    SlidingWindowLimiter,
    parse_retry_after,
)
from quant_assets_tests.fmp_server import (
    BULK_EOD_PATH,
    STABLE_EOD_PATH,
    FakeClock,
    Fault,
    FMPServer,
)

STABLE_2023 = "aapl_stable_historical-price-eod-full_2023-01-01_2023-01-10.json"
V3_2023 = "aapl_v3_historical-price-full_2023-01-01_2023-01-10.json"
V3_FIVE_YEARS = "aapl_historical_price_full_2016-06-02_2021-06-01.json"
V3_FIVE_YEARS_PLUS_ONE = "aapl_historical_price_full_2016-06-02_2021-06-02.json"
V3_AAPL_PATH = "/api/v3/historical-price-full/AAPL"
JAN_2023 = (dt.date(2023, 1, 1), dt.date(2023, 1, 10))
EXCLUSIVE_ENDPOINT = (
    "Exclusive Endpoint : This endpoint is not available under your current subscription"
)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FMPServer]:
    with FMPServer() as running:
        monkeypatch.setenv("FMP_API_KEY", running.api_key)
        yield running


@pytest.fixture
def fmp_dir(shared_data: Path) -> Path:
    return shared_data / "fmp"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(server: FMPServer, clock: FakeClock) -> Iterator[Callable[..., FMPClient]]:
    """Clients aimed at the loopback server whose waits go to ``clock`` instead of sleeping."""
    made: list[FMPClient] = []

    def make(**config: Any) -> FMPClient:
        settings = {"base_url": server.base_url, "backoff_base_s": 0.001, "timeout_s": 2.0}
        client = clock.install(FMPClient(**{**settings, **config}))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def fixture_records(path: Path) -> list[dict[str, Any]]:
    payload = json.loads(path.read_text())
    return payload["historical"] if isinstance(payload, dict) else payload


def with_symbol(records: list[dict[str, Any]], symbol: str = "AAPL") -> list[dict[str, Any]]:
    return [{"symbol": symbol, **record} for record in records]


# -- layouts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "api_version", "path"),
    [
        (STABLE_2023, "stable", STABLE_EOD_PATH),
        (V3_2023, "v3", V3_AAPL_PATH),
        (V3_FIVE_YEARS, "v3", V3_AAPL_PATH),
        (V3_FIVE_YEARS_PLUS_ONE, "v3", V3_AAPL_PATH),
    ],
)
def test_real_aapl_fixture_round_trips_through_its_layout(
    server, make_client, fmp_dir, file_name, api_version, path
):
    expected = fixture_records(fmp_dir / file_name)
    server.load_fixture_file(fmp_dir / file_name)
    first, last = (
        dt.date.fromisoformat(expected[-1]["date"]),
        dt.date.fromisoformat(expected[0]["date"]),
    )

    records = make_client(api_version=api_version).historical_eod("AAPL", first, last)

    assert records == with_symbol(expected)
    assert [request.path for request in server.requests] == [path]


def test_e_notation_volumes_arrive_as_floats(server, make_client, fmp_dir):
    server.load_fixture_file(fmp_dir / V3_FIVE_YEARS)

    records = make_client(api_version="v3").historical_eod(
        "AAPL", dt.date(2021, 6, 1), dt.date(2021, 6, 1)
    )

    assert records[0]["volume"] == 63_890_796.0
    assert isinstance(records[0]["volume"], float)


@pytest.mark.parametrize("api_version", ["stable", "v3"])
def test_from_and_to_are_inclusive_and_records_come_newest_first(
    server, make_client, fmp_dir, api_version
):
    server.load_fixture_file(fmp_dir / V3_FIVE_YEARS)
    wanted = [r["date"] for r in fixture_records(fmp_dir / V3_FIVE_YEARS)]
    wanted = [d for d in wanted if "2020-08-28" <= d <= "2020-09-04"]

    records = make_client(api_version=api_version).historical_eod(
        "AAPL", dt.date(2020, 8, 28), dt.date(2020, 9, 4)
    )

    assert [r["date"] for r in records] == wanted
    assert wanted[0] == "2020-09-04" and wanted[-1] == "2020-08-28"


def test_stable_layout_carries_only_the_stable_fields(server, make_client, fmp_dir):
    server.load_fixture_file(fmp_dir / V3_2023)

    records = make_client(api_version="stable").historical_eod("AAPL", *JAN_2023)

    assert set(records[0]) == set(fixture_records(fmp_dir / STABLE_2023)[0])


# -- retries ---------------------------------------------------------------------------------


@pytest.fixture
def aapl_jan_2023(server: FMPServer) -> list[dict[str, Any]]:
    """Six synthetic January 2023 AAPL bars, so retry tests need no shared data."""
    bars = [
        {
            "date": f"2023-01-{day:02d}",
            "open": 1.0,
            "high": 2.0,
            "low": 0.5,
            "close": 1.5,
            "volume": 1e6,
        }
        for day in (3, 4, 5, 6, 9, 10)
    ]
    server.add_bars("AAPL", bars)
    return with_symbol(sorted(bars, key=lambda bar: bar["date"], reverse=True))


def test_429_waits_exactly_the_retry_after_header_then_succeeds(
    server, make_client, clock, aapl_jan_2023
):
    server.inject(Fault.status(429, headers={"Retry-After": "1"}))

    records = make_client().historical_eod("AAPL", *JAN_2023)

    assert records == aapl_jan_2023
    assert clock.sleeps == [1.0]
    assert len(server.requests) == 2


def test_retry_after_is_capped_at_backoff_max(server, make_client, clock, aapl_jan_2023):
    server.inject(Fault.status(429, headers={"Retry-After": "3600"}))

    make_client(backoff_max_s=5.0).historical_eod("AAPL", *JAN_2023)

    assert clock.sleeps == [5.0]


def test_retry_after_http_date_is_read_relative_to_now():
    now = dt.datetime(2015, 10, 21, 7, 27, 30, tzinfo=dt.UTC)

    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None


@pytest.mark.parametrize("code", [500, 502, 503])
def test_server_errors_are_retried_then_succeed(server, make_client, aapl_jan_2023, code):
    server.inject(Fault.status(code), times=2)

    records = make_client().historical_eod("AAPL", *JAN_2023)

    assert records == aapl_jan_2023
    assert len(server.requests) == 3


def test_backoff_grows_exponentially_with_jitter(server, make_client, clock, aapl_jan_2023):
    server.inject(Fault.status(503), times=3)

    make_client(backoff_base_s=1.0, backoff_max_s=100.0).historical_eod("AAPL", *JAN_2023)

    for attempt, wait in enumerate(clock.sleeps):
        assert 0.5 * 2**attempt <= wait <= 2**attempt
    assert len(clock.sleeps) == 3


def test_dropped_connection_is_retried_then_succeeds(server, make_client, aapl_jan_2023):
    server.inject(Fault.drop())

    records = make_client().historical_eod("AAPL", *JAN_2023)

    assert records == aapl_jan_2023
    assert len(server.requests) == 2


def test_hanging_server_times_out_and_raises_unavailable_after_retries(
    server, make_client, aapl_jan_2023
):
    server.inject(Fault.hang(), times=2)
    client = make_client(timeout_s=0.2, max_retries=1)

    with pytest.raises(FMPUnavailableError, match="Timeout"):
        client.historical_eod("AAPL", *JAN_2023)
    assert len(server.requests) == 2


def test_hang_then_success_recovers(server, make_client, aapl_jan_2023):
    server.inject(Fault.hang())

    records = make_client(timeout_s=0.2).historical_eod("AAPL", *JAN_2023)

    assert records == aapl_jan_2023


@pytest.mark.parametrize(
    ("code", "error_class"), [(429, FMPRateLimitError), (503, FMPUnavailableError)]
)
def test_exhausted_retries_raise_the_matching_error_after_every_attempt(
    server, make_client, aapl_jan_2023, code, error_class
):
    server.inject(Fault.status(code), times=10)

    with pytest.raises(error_class, match=f"after 4 attempts: HTTP {code}"):
        make_client(max_retries=3).historical_eod("AAPL", *JAN_2023)
    assert len(server.requests) == 4


def test_outage_switch_makes_every_request_unavailable(server, make_client, aapl_jan_2023):
    server.down = True

    with pytest.raises(FMPUnavailableError, match="HTTP 503"):
        make_client(max_retries=2).historical_eod("AAPL", *JAN_2023)
    assert len(server.requests) == 3


def test_faults_can_target_one_path_only(server, make_client, aapl_jan_2023):
    server.inject(Fault.status(503), times=5, path=V3_AAPL_PATH)

    make_client(api_version="stable").historical_eod("AAPL", *JAN_2023)

    assert len(server.requests) == 1


# -- errors that are not retried ---------------------------------------------------------------


def test_rejected_key_raises_auth_error_without_retry(
    server, make_client, aapl_jan_2023, monkeypatch
):
    monkeypatch.setenv("FMP_API_KEY", "not-the-right-key")

    with pytest.raises(FMPAuthError, match=r"HTTP 401.*Invalid API KEY"):
        make_client().historical_eod("AAPL", *JAN_2023)
    assert len(server.requests) == 1


def test_plan_without_endpoint_raises_auth_error_without_retry(server, make_client, aapl_jan_2023):
    server.inject(Fault.status(403, body={"Error Message": EXCLUSIVE_ENDPOINT}))

    with pytest.raises(FMPAuthError, match=r"HTTP 403.*Exclusive Endpoint"):
        make_client().historical_eod("AAPL", *JAN_2023)
    assert len(server.requests) == 1


def test_other_client_errors_are_not_retried(server, make_client, aapl_jan_2023):
    server.inject(Fault.status(400), times=5)

    with pytest.raises(FMPError, match="unexpected HTTP 400"):
        make_client().historical_eod("AAPL", *JAN_2023)
    assert len(server.requests) == 1


def test_missing_api_key_raises_auth_error_before_any_request(server, make_client, monkeypatch):
    monkeypatch.delenv("FMP_API_KEY")

    assert not FMPClient.has_api_key()
    with pytest.raises(FMPAuthError, match="FMP_API_KEY is not set"):
        make_client().historical_eod("AAPL", *JAN_2023)
    assert server.requests == []


def test_has_api_key_sees_the_environment(server):
    assert FMPClient.has_api_key()


@pytest.mark.parametrize("api_version", ["stable", "v3"])
def test_unknown_ticker_raises_not_found(server, make_client, aapl_jan_2023, api_version):
    with pytest.raises(FMPNotFoundError, match="'ZZZZ'"):
        make_client(api_version=api_version).historical_eod("ZZZZ", *JAN_2023)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault.malformed(), "not valid JSON"),
        (Fault.empty(), "empty body"),
        (Fault.error_message_200(), "Limit Reach"),
        (Fault.status(200, body=[{"date": "2023-01-03", "open": 1.0}]), r"lacks \['close'\]"),
        (Fault.status(200, body=[{"close": 1.0}]), r"lacks \['date'\]"),
        (Fault.status(200, body={"symbol": "AAPL", "prices": []}), "unexpected shape"),
        (Fault.status(200, body='"AAPL"'), "unexpected shape"),
    ],
    ids=["malformed", "empty", "error-message", "no-close", "no-date", "no-historical", "string"],
)
def test_bad_payloads_raise_payload_error_without_retry(
    server, make_client, aapl_jan_2023, fault, reason
):
    server.inject(fault, times=5)

    with pytest.raises(FMPPayloadError, match=reason):
        make_client().historical_eod("AAPL", *JAN_2023)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "symbol",
    ["AAPL'; DROP TABLE prices;--", "../etc", "AAPL&apikey=x", "aapl", "", "A" * 16, "AAPL\n"],
)
def test_invalid_symbol_is_refused_before_any_request(server, make_client, symbol):
    with pytest.raises(ValueError, match="invalid FMP symbol") as raised:
        make_client().historical_eod(symbol, *JAN_2023)
    assert repr(symbol) in str(raised.value)
    assert server.requests == []


@pytest.mark.parametrize("symbol", ["BRK-B", "BRK.B", "^GSPC", "EURUSD=X"])
def test_symbols_with_punctuation_reach_the_v3_path_intact(server, make_client, symbol):
    server.add_bars(symbol, [{"date": "2023-01-03", "close": 1.0}])

    records = make_client(api_version="v3").historical_eod(symbol, *JAN_2023)

    assert records == [{"symbol": symbol, "date": "2023-01-03", "close": 1.0}]


def test_start_after_end_is_refused_before_any_request(server, make_client):
    with pytest.raises(ValueError, match="after end"):
        make_client().historical_eod("AAPL", dt.date(2023, 2, 1), dt.date(2023, 1, 1))
    assert server.requests == []


# -- the key stays secret ----------------------------------------------------------------------


def _error_chain(error: BaseException | None) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def test_api_key_never_appears_in_errors_logs_or_repr(server, make_client, aapl_jan_2023, caplog):
    caplog.set_level(logging.DEBUG)
    key = server.api_key
    closed = FMPServer().start()
    refused_url = closed.base_url
    closed.stop()
    # (fault, times): retried faults fire on both attempts, the others on the single one.
    faults = [
        (Fault.drop(), 2),
        (Fault.hang(), 2),
        (Fault.status(429), 2),
        (Fault.status(403), 1),
        (Fault.malformed(), 1),
    ]
    clients = [make_client(timeout_s=0.2, max_retries=1) for _ in faults]
    clients.append(make_client(base_url=refused_url, max_retries=1))
    clients.append(make_client(base_url="ftp://127.0.0.1:9", max_retries=1))

    messages = []
    for index, client in enumerate(clients):
        if index < len(faults):
            server.inject(*faults[index])
        with pytest.raises(FMPError) as raised:
            client.historical_eod("AAPL", *JAN_2023)
        messages += [str(error) for error in _error_chain(raised.value)]

    assert all(key not in message for message in messages)
    assert all("apikey=***" in message for message in messages)
    assert any("ConnectionError" in message for message in messages)
    assert key not in caplog.text
    assert "apikey=***" in caplog.text
    assert key not in repr(clients[0])


def test_retries_are_logged_with_redacted_url_status_and_wait(
    server, make_client, aapl_jan_2023, caplog
):
    caplog.set_level(logging.WARNING, logger="quant_assets.resources.fmp")
    server.inject(Fault.status(503))

    make_client().historical_eod("AAPL", *JAN_2023)

    (record,) = caplog.records
    assert "HTTP 503" in record.getMessage()
    assert "apikey=***" in record.getMessage()
    assert "retry 1 of 5" in record.getMessage()


# -- client-side rate limit --------------------------------------------------------------------


def test_third_request_within_a_minute_waits_for_the_window(
    server, make_client, clock, aapl_jan_2023
):
    client = make_client(requests_per_minute=2)

    for _ in range(3):
        client.historical_eod("AAPL", *JAN_2023)

    assert clock.sleeps == [60.0]
    assert len(server.requests) == 3


def test_rate_limiter_waits_only_until_the_oldest_request_leaves_the_window():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(limit=2)

    limiter.acquire(clock.monotonic, clock.sleep)
    clock.now = 30.0
    limiter.acquire(clock.monotonic, clock.sleep)
    clock.now = 45.0
    waited = limiter.acquire(clock.monotonic, clock.sleep)

    assert waited == 15.0
    assert clock.sleeps == [15.0]


def test_retries_count_against_the_rate_limit(server, make_client, clock, aapl_jan_2023):
    server.inject(Fault.status(503))

    make_client(requests_per_minute=1, backoff_max_s=0.5).historical_eod("AAPL", *JAN_2023)

    assert clock.sleeps[-1] == pytest.approx(60.0 - clock.sleeps[0])


# -- as a Dagster resource -----------------------------------------------------------------------


def test_client_works_as_a_dagster_resource(server, aapl_jan_2023):
    @dg.asset
    def aapl_bars(fmp: FMPClient) -> int:
        return len(fmp.historical_eod("AAPL", *JAN_2023))

    result = dg.materialize([aapl_bars], resources={"fmp": FMPClient(base_url=server.base_url)})

    assert result.output_for_node("aapl_bars") == 6
    assert server.api_key not in repr(result.asset_materializations_for_node("aapl_bars"))


# -- payloads that are not price data ------------------------------------------------------

HTML_PAGE = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head></html>"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"historical": None}, '"historical": null'),
        ({"symbol": "AAPL", "historical": 7}, '"historical": a JSON int'),
        ({"Error Message": "Invalid API KEY. apikey=leaked"}, "is an error"),
        (HTML_PAGE, "is an HTML page"),
        ([1, 2, 3], "record 0 is not an object but a JSON int"),
        ([None], "record 0 is not an object but a JSON null"),
        (["2023-01-03"], "record 0 is not an object but a JSON str"),
        (b"\xff\xfe garbage", "not valid JSON"),
    ],
    ids=["historical-null", "historical-int", "error", "html", "ints", "nulls", "strings", "bytes"],
)
@pytest.mark.parametrize("api_version", ["stable", "v3"])
def test_a_payload_of_any_bad_shape_is_a_payload_error_naming_the_symbol(
    server, make_client, body, reason, api_version
):
    server.inject(Fault.status(200, body=body), times=5)

    with pytest.raises(FMPPayloadError, match=reason) as raised:
        make_client(api_version=api_version).historical_eod("AAPL", *JAN_2023)

    assert "symbol 'AAPL'" in str(raised.value)
    assert server.api_key not in str(raised.value) and "leaked" not in str(raised.value)
    assert len(server.requests) == 1


def test_an_empty_object_is_an_unknown_symbol_not_a_crash(server, make_client):
    server.inject(Fault.status(200, body={}))

    with pytest.raises(FMPNotFoundError, match="'AAPL'"):
        make_client(api_version="v3").historical_eod("AAPL", *JAN_2023)


def test_non_finite_numbers_and_non_numbers_arrive_as_text_never_as_floats(server, make_client):
    body = (
        '[{"symbol": "AAPL", "date": "2023-01-05", "open": NaN, "high": Infinity, '
        '"low": -Infinity, "close": 1e999, "volume": 1' + "0" * 400 + "},"
        ' {"symbol": "AAPL", "date": "2023-01-04", "open": true, "high": [1], "low": {"a": 1},'
        ' "close": 125.5, "volume": 8.1E7}]'
    )
    server.inject(Fault.status(200, body=body))

    newer, older = make_client().historical_eod("AAPL", *JAN_2023)

    assert [newer[k] for k in ("open", "high", "low", "close")] == [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e999",
    ]
    assert newer["volume"] == "1" + "0" * 400
    assert [older[k] for k in ("open", "high", "low")] == ["true", "[1]", '{"a": 1}']
    assert older["close"] == 125.5 and older["volume"] == 81_000_000.0


# -- the end-of-day bulk endpoint ------------------------------------------------------------


@pytest.fixture
def two_symbols(server: FMPServer) -> dict[str, list[dict[str, Any]]]:
    """AAPL (with adjClose) and MSFT (without) on 2023-01-03..05, prices with long decimals."""
    bars = {
        "AAPL": [
            {"date": f"2023-01-0{d}", "open": 130.28 + d / 7, "high": 131.0 + d / 3,
             "low": 124.17, "close": 125.07 + d / 9, "adjClose": 124.2 + d / 11,
             "volume": 1.12117471e8 + d}
            for d in (3, 4, 5)
        ],
        "MSFT": [
            {"date": f"2023-01-0{d}", "open": 243.08, "high": 245.75, "low": 237.4 + d / 13,
             "close": 239.58 + d / 17, "volume": 25_740_036 + d}
            for d in (3, 4, 5)
        ],
    }  # fmt: skip
    for symbol, records in bars.items():
        server.add_bars(symbol, records)
    return bars


def test_bulk_gives_each_symbol_its_bar_of_the_day_exactly_as_per_symbol_does(
    server, make_client, two_symbols
):
    client = make_client()
    day = dt.date(2023, 1, 4)

    bulk = client.eod_bulk(day)
    per_symbol = [client.historical_eod(s, day, day)[0] for s in ("AAPL", "MSFT")]

    assert [r["symbol"] for r in bulk] == ["AAPL", "MSFT"]
    for from_bulk, alone in zip(bulk, per_symbol, strict=True):
        for field in ("date", "open", "high", "low", "close", "volume"):
            assert from_bulk[field] == alone[field]  # floats bit for bit
    assert bulk[0]["adjClose"] == two_symbols["AAPL"][1]["adjClose"]
    assert bulk[1]["adjClose"] is None  # an empty CSV field
    assert server.requests[0].path == BULK_EOD_PATH
    assert server.requests[0].query == {"date": "2023-01-04", "apikey": "***"}


def test_bulk_keeps_only_the_symbols_asked_for_and_a_day_without_trading_is_empty(
    server, make_client, two_symbols
):
    client = make_client()

    assert [r["symbol"] for r in client.eod_bulk(dt.date(2023, 1, 5), {"MSFT"})] == ["MSFT"]
    assert client.eod_bulk(dt.date(2023, 1, 2)) == []
    assert len(server.requests) == 2


def test_bulk_is_retried_like_per_symbol_and_counts_against_the_rate_limit(
    server, make_client, clock, two_symbols
):
    server.inject(Fault.status(503), times=2, path=BULK_EOD_PATH)

    records = make_client(requests_per_minute=2).eod_bulk(dt.date(2023, 1, 3))

    assert len(records) == 2 and len(server.requests) == 3
    assert clock.sleeps[-1] == pytest.approx(60.0 - sum(clock.sleeps[:-1]))  # third attempt


def test_bulk_outage_raises_unavailable_naming_the_day_with_the_key_redacted(
    server, make_client, two_symbols
):
    server.down = True

    with pytest.raises(FMPUnavailableError) as raised:
        make_client(max_retries=2).eod_bulk(dt.date(2023, 1, 3))

    message = str(raised.value)
    assert "bulk day 2023-01-03" in message and "failed after 3 attempts: HTTP 503" in message
    assert server.api_key not in message and "apikey=***" in message


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"Error Message": "Limit Reach. This is a bulk endpoint"}, "Limit Reach"),
        (HTML_PAGE, "is an HTML page"),
        ("", "empty body"),
        ("a,b\n1,2\n", r"without the column\(s\) \['symbol', 'date', 'close'\]"),
        ('"symbol","date","close"\n"AAPL","2023-01-03",1,2,3,4\n', "not readable CSV"),
        ({"historical": None}, '"historical": null'),
    ],
    ids=["error-200", "html", "empty", "no-columns", "ragged", "historical-null"],
)
def test_a_bad_bulk_payload_is_a_payload_error_naming_the_day(
    server, make_client, two_symbols, body, reason
):
    server.inject(Fault.status(200, body=body), times=5, path=BULK_EOD_PATH)

    with pytest.raises(FMPPayloadError, match=reason) as raised:
        make_client().eod_bulk(dt.date(2023, 1, 3))

    assert "bulk day 2023-01-03" in str(raised.value)
    assert len(server.requests) == 1


def test_bulk_csv_values_that_are_not_finite_numbers_stay_text(server, make_client):
    server.add_bars(
        "AAPL",
        [{"date": "2023-01-03", "open": float("nan"), "high": float("inf"), "low": "n/a",
          "close": 1e300 * 1e300, "volume": "1_000"}],
    )  # fmt: skip

    [record] = make_client().eod_bulk(dt.date(2023, 1, 3))

    assert [record[k] for k in ("open", "high", "low", "close", "volume")] == [
        "NaN",
        "Infinity",
        "n/a",
        "Infinity",
        "1_000",
    ]


def test_fmp_bulk_is_a_described_setting_off_by_default():
    field = FMPClient.model_fields["fmp_bulk"]
    assert field.default is False
    assert (
        "bulk endpoint" in field.description and "one request per trading day" in field.description
    )
