"""Financial Modeling Prep (FMP) end-of-day price client, as a Dagster resource.

Two FMP layouts are supported:

* ``stable``: ``GET /stable/historical-price-eod/full?symbol=AAPL&from=..&to=..`` returns a bare
  JSON array of records that each carry ``symbol``.
* ``v3`` (legacy): ``GET /api/v3/historical-price-full/AAPL?from=..&to=..`` returns
  ``{"symbol": "AAPL", "historical": [...]}``; its records carry ``adjClose`` but no ``symbol``.

Both return records newest first, with split-adjusted (not dividend-adjusted) ``open/high/low/close``
and ``volume`` as JSON numbers (sometimes E-notation floats such as ``6.3890796E7``).

Split history (:meth:`FMPClient.fetch_splits`, to confirm splits detected in unadjusted files):
``GET /stable/splits?symbol=AAPL`` (a JSON array) or, for ``v3``,
``GET /api/v3/historical-price-full/stock_split/AAPL`` (``{"symbol", "historical": [...]}``).

Plans that include it also have the end-of-day bulk endpoint (:meth:`FMPClient.eod_bulk`, chosen by
the ``fmp_bulk`` setting): one request per trading day for every symbol, as CSV.

A price or volume that JSON or CSV gives as ``NaN``, ``Infinity`` or a number that overflows a float
(``1e999``) is handed on as its text, never as a float, so the validator quarantines it
(``non_finite``) instead of storing it; a ``true``, list or object where a number belongs is handed
on as its JSON text (``number_unparsable``). A body that is not price data at all (empty, an FMP
error object, an HTML page, ``{"historical": null}``, records that are not objects) raises
:class:`FMPPayloadError` naming the symbol or day.

The API key is read from the ``FMP_API_KEY`` environment variable at request time, so it never
becomes part of the resource's config, repr or Dagster metadata. FMP expects it as the ``apikey``
query parameter, which puts it in every URL; every URL this module shows is therefore redacted.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import io
import json
import logging
import math
import random
import re
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, quote_plus, urlencode

import pandas as pd
import requests
from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from quant_assets.settings import FMP_API_KEY_ENV as API_KEY_ENV
from quant_assets.settings import fmp_api_key

logger = logging.getLogger(__name__)

SYMBOL_PATTERN = re.compile(r"^[A-Z0-9.\-^=]{1,15}$")
RATE_WINDOW_S = 60.0
REDACTED = "***"
BULK_EOD_PATH = "/stable/eod-bulk"
STABLE_SPLITS_PATH = "/stable/splits"
V3_SPLITS_PREFIX = "/api/v3/historical-price-full/stock_split/"
# FMP's field names of the numbers of an end-of-day bar.
NUMBER_FIELDS = ("open", "high", "low", "close", "adjClose", "volume")
BULK_REQUIRED_COLUMNS = ("symbol", "date", "close")

# 402 is how FMP's stable API says "this symbol or endpoint is not in your plan".
_AUTH_STATUSES = frozenset({401, 402, 403})
_APIKEY_IN_TEXT = re.compile(r"(apikey=)[^&\s'\"]*", re.IGNORECASE)
_TRANSIENT_EXCEPTIONS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class FMPError(Exception):
    """Base class of every error raised by :class:`FMPClient`."""


class FMPAuthError(FMPError):
    """The API key is missing, was rejected, or the plan does not include the endpoint."""


class FMPNotFoundError(FMPError):
    """FMP returned no records: an unknown ticker (or no trading day in the requested range)."""


class FMPPayloadError(FMPError):
    """The response body is empty, not JSON, an FMP error message, or not shaped like price bars."""


class FMPRateLimitError(FMPError):
    """HTTP 429 persisted after every retry."""


class FMPUnavailableError(FMPError):
    """HTTP 5xx, connection failures or timeouts persisted after every retry."""


def redact(text: str, api_key: str | None = None) -> str:
    """Hide an API key in ``text``: every ``apikey=`` value and any literal copy of the key.

    Parameters
    ----------
    text : str
        A message, URL or log line that may contain the key.
    api_key : str, optional
        The key itself, also hidden in its raw and URL-quoted forms.

    Returns
    -------
    str
        ``text`` with the key replaced by ``***``.
    """
    if api_key:
        for form in {api_key, quote(api_key, safe=""), quote_plus(api_key)}:
            text = text.replace(form, REDACTED)
    return _APIKEY_IN_TEXT.sub(rf"\g<1>{REDACTED}", text)


class _RedactApiKeyFilter(logging.Filter):
    """Redact ``apikey=`` in records of a logger that prints request URLs."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "apikey=" in message.lower():
            record.msg, record.args = redact(message), ()
        return True


def _install_urllib3_redaction() -> None:
    # urllib3 logs every request line, query string included, at DEBUG level.
    urllib3_logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _RedactApiKeyFilter) for f in urllib3_logger.filters):
        urllib3_logger.addFilter(_RedactApiKeyFilter())


_install_urllib3_redaction()


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait according to an HTTP ``Retry-After`` header.

    Parameters
    ----------
    value : str or None
        Header value: delta-seconds (``"1"``) or an HTTP-date (``"Wed, 21 Oct 2015 07:28:00 GMT"``).
    now : datetime, optional
        Timezone-aware current time for HTTP-dates; defaults to the wall clock in UTC.

    Returns
    -------
    float or None
        Non-negative seconds, or None when the header is absent or unparseable.
    """
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


class SlidingWindowLimiter:
    """At most ``limit`` acquisitions per rolling ``window_s`` seconds, shared across threads.

    Parameters
    ----------
    limit : int
        Requests allowed per window; 0 or less disables the limit.
    window_s : float
        Window length in seconds.
    """

    def __init__(self, limit: int, window_s: float = RATE_WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self, clock: Callable[[], float], sleep: Callable[[float], None]) -> float:
        """Block until a request may be sent and record it; return the seconds waited."""
        waited = 0.0
        while (wait := self._reserve_or_wait(clock())) > 0:
            logger.info("FMP client-side rate limit reached; waiting %.2f s", wait)
            sleep(wait)
            waited += wait
        return waited

    def _reserve_or_wait(self, now: float) -> float:
        if self.limit <= 0:
            return 0.0
        with self._lock:
            while self._sent and self._sent[0] <= now - self.window_s:
                self._sent.popleft()
            if len(self._sent) < self.limit:
                self._sent.append(now)
                return 0.0
            return self._sent[0] + self.window_s - now


@dataclass(frozen=True)
class _EodCall:
    """One end-of-day request, without the key."""

    symbol: str
    url: str
    params: dict[str, str]
    day: str | None = None  # set for a bulk request: every symbol of one day

    @property
    def shown_url(self) -> str:
        """The URL as it may appear in messages and logs: key redacted."""
        return f"{self.url}?{urlencode({**self.params, 'apikey': REDACTED}, safe='*')}"

    def describe(self, what: str) -> str:
        subject = f"bulk day {self.day}" if self.day else f"symbol {self.symbol!r}"
        return f"FMP {what} for {subject} at {self.shown_url}"


@dataclass(frozen=True)
class _Transient:
    """A failed attempt worth retrying."""

    cause: str
    rate_limited: bool = False
    retry_after_s: float | None = None


class FMPClient(ConfigurableResource):
    """Daily OHLCV bars from Financial Modeling Prep, with retries and a client-side rate limit.

    The key comes only from the ``FMP_API_KEY`` environment variable (see :meth:`has_api_key`).

    Attributes
    ----------
    base_url : str
        Scheme and host, without a trailing path.
    api_version : {"stable", "v3"}
        Which FMP endpoint and payload layout to use.
    timeout_s : float
        Connect and read timeout per HTTP attempt, in seconds.
    max_retries : int
        Retries after the first attempt on HTTP 429, 5xx, connection errors and timeouts.
    backoff_base_s, backoff_max_s : float
        Retry ``n`` (from 0) waits ``min(backoff_max_s, backoff_base_s * 2**n)`` scaled by a
        uniform jitter in [0.5, 1], or the server's ``Retry-After`` if longer, capped at
        ``backoff_max_s``.
    requests_per_minute : int
        HTTP attempts allowed per rolling 60 s on this resource instance; 0 disables the limit.
    fmp_bulk : bool
        The plan includes the end-of-day bulk endpoint: fetch one request per trading day.
    """

    base_url: str = Field(
        default="https://financialmodelingprep.com",
        min_length=1,
        description="Scheme and host of the FMP API, without a path (tests point it at a "
        "local server).",
    )
    api_version: Literal["stable", "v3"] = Field(
        default="stable",
        description="FMP endpoint and payload layout: 'stable' (historical-price-eod/full) or "
        "'v3' (legacy historical-price-full).",
    )
    timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Connect and read timeout per HTTP attempt, seconds.",
    )
    max_retries: int = Field(
        default=5,
        ge=0,
        le=20,
        description="Retries after the first attempt on HTTP 429, 5xx, connection errors and "
        "timeouts (count).",
    )
    backoff_base_s: float = Field(
        default=0.5,
        ge=0,
        le=60,
        description="First retry wait, seconds; retry n waits base * 2**n (with jitter).",
    )
    backoff_max_s: float = Field(
        default=60.0, ge=0, le=3600, description="Longest wait between retries, seconds."
    )
    requests_per_minute: int = Field(
        default=300,
        ge=0,
        le=100_000,
        description="HTTP attempts per rolling 60 s on this resource (requests/minute); 0 "
        "disables the client-side limit.",
    )
    fmp_bulk: bool = Field(
        default=False,
        description=(
            "The FMP plan includes the end-of-day bulk endpoint (/stable/eod-bulk): the daily "
            "run then sends one request per trading day for every symbol, instead of one "
            "request per symbol (the fallback, which every plan has)."
        ),
    )

    # Tests replace _sleep and _clock to record waits instead of waiting.
    _sleep: Callable[[float], None] = PrivateAttr(default=time.sleep)
    _clock: Callable[[], float] = PrivateAttr(default=time.monotonic)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _session: requests.Session | None = PrivateAttr(default=None)
    _limiter: SlidingWindowLimiter | None = PrivateAttr(default=None)

    @classmethod
    def has_api_key(cls) -> bool:
        """Whether ``FMP_API_KEY`` is set to a non-blank value."""
        return fmp_api_key() is not None

    def historical_eod(self, symbol: str, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """Daily bars for ``symbol`` from ``start`` to ``end`` inclusive, as FMP sends them.

        Parameters
        ----------
        symbol : str
            FMP ticker in upper case, e.g. ``"AAPL"``, ``"BRK-B"``, ``"^GSPC"``.
        start, end : datetime.date
            First and last trading date wanted (exchange-local dates).

        Returns
        -------
        list of dict
            FMP's raw records, newest first. Each has at least ``date`` (``YYYY-MM-DD``),
            ``close`` and ``symbol``; prices are split-adjusted, ``adjClose`` (v3 only) is also
            dividend-adjusted, and ``volume`` may be a float.

        Raises
        ------
        ValueError
            Malformed symbol or ``start`` after ``end``; raised before any request.
        FMPAuthError, FMPNotFoundError, FMPPayloadError, FMPRateLimitError, FMPUnavailableError
            See each class.
        """
        _check_symbol(symbol)
        if start > end:
            raise ValueError(f"start {start} is after end {end} for symbol {symbol!r}")
        api_key = _api_key()
        call = self._eod_call(symbol, start, end)
        payload = self._get_json(call, api_key)
        return _records_from_payload(payload, call)

    def eod_bulk(
        self, day: dt.date, symbols: Collection[str] | None = None
    ) -> list[dict[str, Any]]:
        """Every symbol's end-of-day bar of ``day`` in one request (plans with the bulk endpoint).

        Assumed contract (FMP's stable API docs, "EOD Bulk API"):
        ``GET /stable/eod-bulk?date=YYYY-MM-DD&apikey=...`` answers CSV whose header is
        ``symbol,date,open,low,high,close,adjClose,volume`` (names possibly quoted), one line
        per symbol traded that day, in no particular order; a day without trading gives the
        header alone. FMP answers throttling and plan errors on this endpoint with HTTP 200 and
        a JSON ``{"Error Message": ...}`` body, so the first byte of the body decides: JSON is
        read as FMP's error object (or, from a server that sends JSON records, as records), an
        HTML page is refused, anything else is CSV. The path is the same whatever
        ``api_version`` says: the bulk endpoint exists on the stable API only.

        Retries, the rate limit, key redaction and errors are those of :meth:`historical_eod`.

        Parameters
        ----------
        day : datetime.date
            The trading date.
        symbols : collection of str, optional
            Keep only the bars of these symbols (the universe); default every symbol.

        Returns
        -------
        list of dict
            One record per CSV line kept, in the body's order, with FMP's field names; numbers
            are floats (parsed exactly as JSON would), a value that is not a finite number
            stays its text, an empty field is None.

        Raises
        ------
        FMPPayloadError
            The body is empty, an FMP error, an HTML page, or CSV without a ``symbol``,
            ``date`` or ``close`` column or with lines that cannot be split into fields.
        FMPAuthError, FMPRateLimitError, FMPUnavailableError
            As for :meth:`historical_eod`.
        """
        api_key = _api_key()
        call = self._bulk_call(day)
        response = self._get_response(call, api_key)
        return _bulk_records(response, call, api_key, symbols)

    def fetch_splits(self, symbol: str) -> Any:
        """``symbol``'s split history as FMP sends it (JSON), for
        :func:`quant_assets.ingest.corporate_actions.parse_fmp_splits`.

        ``stable``: ``GET /stable/splits?symbol=S``, a list of ``{"symbol", "date",
        "numerator", "denominator"}``; ``v3``: ``GET
        /api/v3/historical-price-full/stock_split/S``, ``{"symbol", "historical": [...]}``;
        ``[]`` or ``{}`` when the symbol never split. Retries, the rate limit, key redaction
        and errors are those of :meth:`historical_eod`; an empty body, an HTML page, invalid
        JSON or an FMP error object raise :class:`FMPPayloadError` naming the symbol.
        """
        _check_symbol(symbol)
        api_key = _api_key()
        base = self.base_url.rstrip("/")
        if self.api_version == "v3":
            call = _EodCall(symbol, f"{base}{V3_SPLITS_PREFIX}{quote(symbol, safe='')}", {})
        else:
            call = _EodCall(symbol, f"{base}{STABLE_SPLITS_PATH}", {"symbol": symbol})
        return self._get_json(call, api_key)

    def close(self) -> None:
        """Close the pooled HTTP connections; the next request opens a new session."""
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def teardown_after_execution(self, context: Any) -> None:
        """Close the session when Dagster tears the resource down after a run."""
        self.close()

    def _eod_call(self, symbol: str, start: dt.date, end: dt.date) -> _EodCall:
        base = self.base_url.rstrip("/")
        dates = {"from": start.isoformat(), "to": end.isoformat()}
        if self.api_version == "v3":
            url = f"{base}/api/v3/historical-price-full/{quote(symbol, safe='')}"
            return _EodCall(symbol, url, dates)
        if self.api_version == "stable":
            url = f"{base}/stable/historical-price-eod/full"
            return _EodCall(symbol, url, {"symbol": symbol, **dates})
        raise ValueError(f"api_version must be 'stable' or 'v3', got {self.api_version!r}")

    def _bulk_call(self, day: dt.date) -> _EodCall:
        url = f"{self.base_url.rstrip('/')}{BULK_EOD_PATH}"
        return _EodCall("*", url, {"date": day.isoformat()}, day=day.isoformat())

    def _get_json(self, call: _EodCall, api_key: str) -> Any:
        return _parse_json(self._get_response(call, api_key), call, api_key)

    def _get_response(self, call: _EodCall, api_key: str) -> requests.Response:
        """The HTTP 200 response to ``call``, after retries on 429, 5xx and network failures."""
        attempt = 0
        while True:
            outcome = self._attempt(call, api_key)
            if isinstance(outcome, requests.Response):
                _check_status(outcome, call, api_key)
                return outcome
            if attempt >= self.max_retries:
                raise _exhausted_error(outcome, call, attempts=attempt + 1)
            wait = self._retry_wait(attempt, outcome.retry_after_s)
            logger.warning(
                "%s failed (%s); retry %d of %d in %.2f s",
                call.describe("request"),
                outcome.cause,
                attempt + 1,
                self.max_retries,
                wait,
            )
            self._sleep(wait)
            attempt += 1

    def _attempt(self, call: _EodCall, api_key: str) -> requests.Response | _Transient:
        self._get_limiter().acquire(self._clock, self._sleep)
        params = {**call.params, "apikey": api_key}
        try:
            response = self._get_session().get(call.url, params=params, timeout=self.timeout_s)
        except requests.RequestException as exc:
            failure, transient = _describe_exception(exc, api_key), _is_transient(exc)
        else:
            return _classify_status(response)
        # Raised here, not inside ``except``, so the unredacted exception is not chained on.
        if not transient:
            raise FMPError(f"{call.describe('request failed')}: {failure}")
        return _Transient(cause=failure)

    def _retry_wait(self, attempt: int, retry_after_s: float | None) -> float:
        backoff = min(self.backoff_max_s, self.backoff_base_s * 2**attempt)
        wait = backoff * random.uniform(0.5, 1.0)
        if retry_after_s is not None:
            wait = max(wait, retry_after_s)
        return min(self.backoff_max_s, wait)

    def _get_session(self) -> requests.Session:
        with self._lock:
            if self._session is None:
                self._session = requests.Session()
                self._session.headers["Accept"] = "application/json"
            return self._session

    def _get_limiter(self) -> SlidingWindowLimiter:
        with self._lock:
            if self._limiter is None:
                self._limiter = SlidingWindowLimiter(self.requests_per_minute)
            return self._limiter


def _check_symbol(symbol: str) -> None:
    # The symbol lands in a URL (and later in SQL), so anything unusual is refused outright.
    if not isinstance(symbol, str) or not SYMBOL_PATTERN.fullmatch(symbol):
        raise ValueError(
            f"invalid FMP symbol {symbol!r}: expected 1-15 characters of A-Z, 0-9, '.', '-', '^', '='"
        )


def _api_key() -> str:
    api_key = fmp_api_key()
    if api_key is None:
        raise FMPAuthError(
            f"{API_KEY_ENV} is not set; export your Financial Modeling Prep API key to fetch prices"
        )
    return api_key


def _is_transient(exc: requests.RequestException) -> bool:
    return isinstance(exc, _TRANSIENT_EXCEPTIONS)


def _describe_exception(exc: BaseException, api_key: str) -> str:
    # requests embeds the full URL, key included, in its messages.
    return redact(f"{type(exc).__name__}: {exc}", api_key)


def _classify_status(response: requests.Response) -> requests.Response | _Transient:
    status = response.status_code
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return _Transient(cause="HTTP 429", rate_limited=True, retry_after_s=retry_after)
    if status >= 500:
        return _Transient(cause=f"HTTP {status}")
    return response


def _exhausted_error(outcome: _Transient, call: _EodCall, attempts: int) -> FMPError:
    error_class = FMPRateLimitError if outcome.rate_limited else FMPUnavailableError
    return error_class(
        f"{call.describe('request')} failed after {attempts} attempts: {outcome.cause}"
    )


def _check_status(response: requests.Response, call: _EodCall, api_key: str) -> None:
    status = response.status_code
    if status in _AUTH_STATUSES:
        detail = redact(_error_text(response), api_key)
        raise FMPAuthError(
            f"{call.describe('request')} returned HTTP {status}: the API key was rejected or the "
            f"plan lacks this endpoint ({detail})"
        )
    if status != 200:
        raise FMPError(f"{call.describe('request')} returned unexpected HTTP {status}")


def _json_number(text: str) -> float | str:
    """A JSON number literal as a float, or as its text when it is not finite (``1e999``)."""
    value = float(text)
    return value if math.isfinite(value) else text


def _json_int(text: str) -> int | str:
    # An integer too large for a float (a volume of 1e400 written out) stays text too.
    return int(text) if len(text) < 300 else _json_number(text)


def _check_body(response: requests.Response, call: _EodCall, api_key: str) -> bytes:
    """The body, refused when it is empty or an HTML page (a proxy's or a login page)."""
    body = response.content.strip()
    if not body:
        raise FMPPayloadError(f"{call.describe('response')} has an empty body (HTTP 200)")
    if body[:1] == b"<":
        title = redact(body[:120].decode("utf-8", "replace"), api_key)
        raise FMPPayloadError(
            f"{call.describe('response')} is an HTML page, not price data (HTTP 200): {title!r}"
        )
    return body


def _parse_json(response: requests.Response, call: _EodCall, api_key: str) -> Any:
    body = _check_body(response, call, api_key)
    try:
        # NaN / Infinity / 1e999 stay text: a float inf or nan must never pass as a price.
        payload = json.loads(
            body.decode(response.encoding or "utf-8", "replace"),
            parse_float=_json_number,
            parse_int=_json_int,
            parse_constant=str,
        )
    except ValueError as exc:
        failure = _describe_exception(exc, api_key)
    else:
        if isinstance(payload, dict) and "Error Message" in payload:
            detail = redact(str(payload["Error Message"]), api_key)
            raise FMPPayloadError(f"{call.describe('response')} is an error (HTTP 200): {detail}")
        return payload
    raise FMPPayloadError(f"{call.describe('response')} is not valid JSON (HTTP 200): {failure}")


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or "empty body"
    if isinstance(body, dict) and "Error Message" in body:
        return str(body["Error Message"])
    return str(body)[:200]


def _records_from_payload(payload: Any, call: _EodCall) -> list[dict[str, Any]]:
    records = _unwrap_records(payload, call)
    if not records:
        raise FMPNotFoundError(
            f"{call.describe('response')} has no records (HTTP 200): unknown ticker, "
            f"or no trading day between from and to"
        )
    return [_checked_record(record, index, call) for index, record in enumerate(records)]


def _unwrap_records(payload: Any, call: _EodCall) -> list[Any]:
    # Either layout is accepted whatever api_version says: FMP has served both from each path.
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict) and not payload:
        return []
    if isinstance(payload, dict) and isinstance(payload.get("historical"), list):
        return payload["historical"]
    if isinstance(payload, dict) and "historical" in payload:
        found = payload["historical"]
        kind = "null" if found is None else f"a JSON {type(found).__name__}"
        raise FMPPayloadError(
            f'{call.describe("response")} has "historical": {kind}, not a list of records'
        )
    shape = sorted(payload)[:5] if isinstance(payload, dict) else type(payload).__name__
    raise FMPPayloadError(f"{call.describe('response')} has an unexpected shape: {shape}")


def _checked_record(record: Any, index: int, call: _EodCall) -> dict[str, Any]:
    if not isinstance(record, dict):
        kind = "null" if record is None else type(record).__name__
        raise FMPPayloadError(
            f"{call.describe('response')} record {index} is not an object but a JSON {kind}"
        )
    missing = [field for field in ("date", "close") if field not in record]
    if missing:
        raise FMPPayloadError(f"{call.describe('response')} record {index} lacks {missing}")
    checked = {"symbol": call.symbol, **record}
    for field in NUMBER_FIELDS:
        value = checked.get(field)
        if isinstance(value, bool | list | dict):
            # Not a number: its JSON text, for the validator to quarantine by name.
            checked[field] = json.dumps(value)
    return checked


def _bulk_records(
    response: requests.Response,
    call: _EodCall,
    api_key: str,
    symbols: Collection[str] | None,
) -> list[dict[str, Any]]:
    body = _check_body(response, call, api_key)
    if body[:1] in (b"{", b"["):
        payload = _parse_json(response, call, api_key)
        records = [
            _checked_record(r, i, call) for i, r in enumerate(_unwrap_records(payload, call))
        ]
        wanted = None if symbols is None else set(symbols)
        return [r for r in records if wanted is None or r.get("symbol") in wanted]
    frame = _bulk_csv(body, call, api_key)
    if symbols is not None:
        frame = frame[frame["symbol"].isin(set(symbols))]
    for column in frame.columns.intersection(NUMBER_FIELDS):
        frame[column] = frame[column].map(_csv_number)
    frame = frame.astype(object)
    return frame.where(frame.notna() & (frame != ""), None).to_dict("records")


def _bulk_csv(body: bytes, call: _EodCall, api_key: str) -> pd.DataFrame:
    """The bulk CSV as text columns; its header must name symbol, date and close."""
    try:
        with warnings.catch_warnings():
            # More fields than the header on a line: pandas would drop them with a warning.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.BytesIO(body),
                dtype=str,
                keep_default_na=False,
                skipinitialspace=True,
                index_col=False,
            )
    except (
        pd.errors.ParserError,
        pd.errors.ParserWarning,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
    ) as exc:
        failure = redact(f"{type(exc).__name__}: {exc}", api_key)
        raise FMPPayloadError(
            f"{call.describe('response')} is not readable CSV (HTTP 200): {failure}"
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in BULK_REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        header = redact(str(list(frame.columns)[:10]), api_key)
        raise FMPPayloadError(
            f"{call.describe('response')} is CSV without the column(s) {missing}: header {header}"
        )
    # A line with fewer fields than the header leaves NaN: its missing values are empty.
    return frame.fillna("")


def _csv_number(text: str) -> float | str | None:
    """A CSV field as a float parsed like JSON's, None when empty, else its text."""
    text = text.strip()
    if not text:
        return None
    if "_" in text:  # float() reads "1_000" as 1000.0; no price file means that
        return text
    try:
        return _json_number(text)
    except ValueError:
        return text
