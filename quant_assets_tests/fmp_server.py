"""A real loopback HTTP server speaking Financial Modeling Prep's end-of-day price endpoints.

Tests point :class:`quant_assets.resources.fmp.FMPClient` at :attr:`FMPServer.base_url` and get real
sockets, real HTTP and FMP's payload layouts, plus injectable faults::

    with FMPServer() as server:
        server.load_fixture_file(shared_data / "fmp" / "aapl_stable_...json")
        server.inject(Fault.status(429, headers={"Retry-After": "1"}), times=2)
        monkeypatch.setenv("FMP_API_KEY", server.api_key)
        client = FMPClient(base_url=server.base_url, backoff_base_s=0.001)
        FakeClock().install(client)  # record waits instead of sleeping

Served paths (both filter ``from``/``to`` inclusively and return newest first):

* ``/stable/historical-price-eod/full?symbol=S``: JSON array, ``symbol`` on each record, only the
  fields FMP's stable endpoint has; unknown symbol or empty range -> ``[]``.
* ``/api/v3/historical-price-full/S``: ``{"symbol": S, "historical": [...]}``, records as stored;
  unknown symbol or empty range -> ``{}``.
* ``/stable/eod-bulk?date=D``: CSV, header ``symbol,date,open,low,high,close,adjClose,volume``
  (names and text quoted, as FMP sends them), one line per symbol holding a bar on ``D``, in
  symbol order, numbers written as JSON writes them; a day without bars -> the header alone.

* ``/stable/splits?symbol=S``: JSON array of ``{"symbol", "date", "label", "numerator",
  "denominator"}``, newest first (:meth:`FMPServer.add_splits`); none -> ``[]``.
* ``/api/v3/historical-price-full/stock_split/S``: ``{"symbol": S, "historical": [...]}``
  (records without ``symbol``); none -> ``{}``.

Faults apply to every path alike (``inject(..., path=BULK_EOD_PATH)`` targets the bulk one).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

STABLE_EOD_PATH = "/stable/historical-price-eod/full"
V3_EOD_PREFIX = "/api/v3/historical-price-full/"
BULK_EOD_PATH = "/stable/eod-bulk"
STABLE_SPLITS_PATH = "/stable/splits"
V3_SPLITS_PREFIX = "/api/v3/historical-price-full/stock_split/"
BULK_FIELDS = ("symbol", "date", "open", "low", "high", "close", "adjClose", "volume")
DEFAULT_API_KEY = "fmp-loopback-key-7f3a9c"
INVALID_KEY_MESSAGE = (
    "Invalid API KEY. Please retry or visit our documentation to create one FREE "
    "https://site.financialmodelingprep.com/developer/docs"
)
LIMIT_REACH_MESSAGE = (
    "Limit Reach . Please upgrade your plan or visit our documentation for more details at "
    "https://site.financialmodelingprep.com/"
)
STABLE_FIELDS = (
    "symbol",
    "date",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "change",
    "changePercent",
    "vwap",
)
# An outer bound on a ``hang`` fault so a forgotten server cannot wedge a test run forever.
HANG_LIMIT_S = 60.0

FaultKind = Literal["status", "malformed", "empty", "error_message_200", "drop", "hang"]


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour; build with the class methods, pass to :meth:`FMPServer.inject`."""

    kind: FaultKind
    code: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def status(cls, code: int, body: Any = None, headers: dict[str, str] | None = None) -> Fault:
        """Reply ``code`` with ``body`` (bytes, str, or JSON-encoded otherwise).

        The default body is FMP's ``{"Error Message": ...}`` with a message fitting the code.
        """
        if body is None:
            message = LIMIT_REACH_MESSAGE if code == 429 else f"HTTP {code} from loopback FMP"
            body = {"Error Message": message}
        return cls("status", code, _as_bytes(body), tuple((headers or {}).items()))

    @classmethod
    def malformed(cls) -> Fault:
        """HTTP 200 with a truncated, invalid JSON body."""
        return cls("malformed", 200, b'{"symbol": "AAPL", "historical": [ {"date": "2023-01')

    @classmethod
    def empty(cls) -> Fault:
        """HTTP 200 with an empty body."""
        return cls("empty", 200, b"")

    @classmethod
    def error_message_200(cls, message: str = LIMIT_REACH_MESSAGE) -> Fault:
        """HTTP 200 whose JSON is ``{"Error Message": message}``, as FMP's legacy API sends."""
        return cls("error_message_200", 200, _as_bytes({"Error Message": message}))

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without any response."""
        return cls("drop")

    @classmethod
    def hang(cls) -> Fault:
        """Send nothing until the server stops (or :meth:`FMPServer.release_hangs`), then drop."""
        return cls("hang")


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server saw it, with the ``apikey`` value replaced by ``***``."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class FMPServer:
    """Loopback FMP server on ``127.0.0.1`` with an in-memory bar store and fault injection.

    Parameters
    ----------
    api_key : str
        The only key accepted; any other (or none) gets HTTP 401 like FMP.

    Attributes
    ----------
    down : bool
        While True, every request gets HTTP 503 (an outage).
    requests : list of RecordedRequest
        Every request received, in arrival order.
    """

    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        self.api_key = api_key
        self.down = False
        self.requests: list[RecordedRequest] = []
        self._bars: dict[str, dict[str, dict[str, Any]]] = {}
        self._splits: dict[str, dict[str, tuple[float, float]]] = {}
        self._faults: dict[str | None, deque[list[Any]]] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._httpd: _LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FMPServer:
        """Bind an ephemeral port on 127.0.0.1 and serve in a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError("FMPServer is already running")
        self._release.clear()
        self._httpd = _LoopbackHTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hanging requests, stop serving and close the socket."""
        if self._httpd is None:
            return
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd, self._thread = None, None

    def __enter__(self) -> FMPServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, to pass as ``FMPClient(base_url=...)``."""
        if self._httpd is None:
            raise RuntimeError("FMPServer is not running; call start() first")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # -- data --------------------------------------------------------------------------------

    def add_bars(self, symbol: str, records: list[dict[str, Any]]) -> None:
        """Store FMP-style records (``date``, ``open``, ..., ``close``, ``volume``, ...) for ``symbol``.

        A later record for the same date replaces the earlier one; a ``symbol`` key is ignored.
        """
        with self._lock:
            store = self._bars.setdefault(symbol, {})
            for record in records:
                bar = {key: value for key, value in record.items() if key != "symbol"}
                store[str(bar["date"])] = bar

    def add_splits(self, symbol: str, splits: dict[str, tuple[float, float]]) -> None:
        """Store ``{date: (numerator, denominator)}`` splits for ``symbol`` (4:1 -> (4, 1))."""
        with self._lock:
            self._splits.setdefault(symbol, {}).update(splits)

    def load_fixture_file(self, path: str | Path) -> list[str]:
        """Load a saved FMP response (stable array or v3 ``historical`` object); return its symbols."""
        payload = json.loads(Path(path).read_text())
        if isinstance(payload, dict):
            self.add_bars(payload["symbol"], payload.get("historical", []))
            return [payload["symbol"]]
        by_symbol: dict[str, list[dict[str, Any]]] = {}
        for record in payload:
            by_symbol.setdefault(record["symbol"], []).append(record)
        for symbol, records in by_symbol.items():
            self.add_bars(symbol, records)
        return sorted(by_symbol)

    # -- faults and inspection ---------------------------------------------------------------

    def inject(self, fault: Fault, times: int = 1, path: str | None = None) -> None:
        """Answer the next ``times`` requests (to ``path`` only, if given) with ``fault``.

        Path-specific faults are consumed before global ones; afterwards normal service resumes.
        """
        with self._lock:
            self._faults.setdefault(path, deque()).append([fault, times])

    def release_hangs(self) -> None:
        """Let requests held by ``hang`` faults finish (by dropping their connections)."""
        self._release.set()

    def request_count(self, path: str | None = None) -> int:
        """Requests received so far, optionally only those to ``path``."""
        with self._lock:
            return sum(1 for request in self.requests if path in (None, request.path))

    # -- request handling (called from handler threads) ---------------------------------------

    def _handle(self, method: str, raw_path: str, headers: dict[str, str]) -> _Reply:
        url = urlsplit(raw_path)
        path, query = unquote(url.path), dict(parse_qsl(url.query, keep_blank_values=True))
        self._record(method, path, query, headers)
        if self.down:
            return _json_reply(503, {"Error Message": "Service Unavailable"})
        fault = self._next_fault(path)
        if fault is not None:
            return _Reply(fault.kind, fault.code, fault.body, fault.headers)
        if query.get("apikey") != self.api_key:
            return _json_reply(401, {"Error Message": INVALID_KEY_MESSAGE})
        return self._route(path, query)

    def _record(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> None:
        shown_query = {k: ("***" if k.lower() == "apikey" else v) for k, v in query.items()}
        shown_headers = {k: ("***" if k.lower() == "apikey" else v) for k, v in headers.items()}
        with self._lock:
            self.requests.append(RecordedRequest(method, path, shown_query, shown_headers))

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for key in (path, None):
                queue = self._faults.get(key)
                if queue:
                    entry = queue[0]
                    entry[1] -= 1
                    if entry[1] <= 0:
                        queue.popleft()
                    return entry[0]
        return None

    def _route(self, path: str, query: dict[str, str]) -> _Reply:
        if path == BULK_EOD_PATH:
            return self._bulk_reply(query)
        if path == STABLE_SPLITS_PATH or path.startswith(V3_SPLITS_PREFIX):
            return self._splits_reply(path, query)
        try:
            start, end = _parse_range(query)
        except ValueError as exc:
            return _json_reply(400, {"Error Message": str(exc)})
        if path == STABLE_EOD_PATH:
            symbol = query.get("symbol", "")
            bars = self._bars_between(symbol, start, end)
            return _json_reply(200, [_stable_record(symbol, bar) for bar in bars])
        if path.startswith(V3_EOD_PREFIX):
            symbol = path[len(V3_EOD_PREFIX) :]
            bars = self._bars_between(symbol, start, end)
            return _json_reply(200, {"symbol": symbol, "historical": bars} if bars else {})
        return _json_reply(404, {"Error Message": f"Unknown path {path}"})

    def _bulk_reply(self, query: dict[str, str]) -> _Reply:
        day = query.get("date", "")
        try:
            dt.date.fromisoformat(day)
        except ValueError:
            return _json_reply(400, {"Error Message": f"date must be YYYY-MM-DD, got {day!r}"})
        with self._lock:
            bars = [
                (s, dict(store[day])) for s, store in sorted(self._bars.items()) if day in store
            ]
        return _Reply("ok", 200, bulk_csv(bars), content_type="text/csv;charset=UTF-8")

    def _splits_reply(self, path: str, query: dict[str, str]) -> _Reply:
        stable = path == STABLE_SPLITS_PATH
        symbol = query.get("symbol", "") if stable else path[len(V3_SPLITS_PREFIX) :]
        with self._lock:
            splits = sorted(self._splits.get(symbol, {}).items(), reverse=True)
        records = [
            {"date": day, "label": day, "numerator": num, "denominator": den}
            for day, (num, den) in splits
        ]
        if stable:
            return _json_reply(200, [{"symbol": symbol, **r} for r in records])
        return _json_reply(200, {"symbol": symbol, "historical": records} if records else {})

    def _bars_between(self, symbol: str, start: str, end: str) -> list[dict[str, Any]]:
        with self._lock:
            store = self._bars.get(symbol, {})
            dates = sorted((d for d in store if start <= d <= end), reverse=True)
            return [dict(store[d]) for d in dates]

    def _wait_for_release(self) -> None:
        self._release.wait(HANG_LIMIT_S)


@dataclass(frozen=True)
class _Reply:
    kind: FaultKind | Literal["ok"]
    code: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json;charset=UTF-8"


class _LoopbackHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fmp: FMPServer) -> None:
        self.fmp = fmp
        super().__init__(("127.0.0.1", 0), _FMPRequestHandler)


class _FMPRequestHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, as FMP's servers do, so drops hit pooled connections.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; Nagle would add ~40 ms to each reply.
    disable_nagle_algorithm = True
    server: _LoopbackHTTPServer

    def do_GET(self) -> None:  # noqa: N802 (name fixed by BaseHTTPRequestHandler)
        reply = self.server.fmp._handle("GET", self.path, dict(self.headers.items()))
        if reply.kind == "hang":
            self.server.fmp._wait_for_release()
        if reply.kind in ("hang", "drop"):
            self.close_connection = True
            return
        self._send(reply)

    def _send(self, reply: _Reply) -> None:
        self.send_response(reply.code)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        # Quiet: tests inspect FMPServer.requests instead of stderr.
        pass


class FakeClock:
    """A monotonic clock that moves only when slept on, recording every wait.

    Attributes
    ----------
    now : float
        Current time in seconds.
    sleeps : list of float
        Every requested wait, in order.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """Stand-in for ``time.monotonic``."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Stand-in for ``time.sleep``: record the wait and advance the clock by it."""
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)

    def install(self, client: Any) -> Any:
        """Make ``client`` (an ``FMPClient``) wait on this clock; return the client."""
        client._sleep = self.sleep
        client._clock = self.monotonic
        return client


def _parse_range(query: dict[str, str]) -> tuple[str, str]:
    start = query.get("from") or "0001-01-01"
    end = query.get("to") or "9999-12-31"
    for value in (start, end):
        dt.date.fromisoformat(value)
    return start, end


def _stable_record(symbol: str, bar: dict[str, Any]) -> dict[str, Any]:
    record = {"symbol": symbol, **bar}
    return {key: record[key] for key in STABLE_FIELDS if key in record}


def bulk_csv(bars: list[tuple[str, dict[str, Any]]]) -> bytes:
    """``(symbol, bar)`` pairs as FMP's bulk CSV: quoted names and text, numbers as in JSON."""
    lines = [",".join(_quoted(name) for name in BULK_FIELDS)]
    for symbol, bar in bars:
        lines.append(",".join(_bulk_field(name, symbol, bar) for name in BULK_FIELDS))
    return ("\n".join(lines) + "\n").encode()


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _bulk_field(name: str, symbol: str, bar: dict[str, Any]) -> str:
    value = symbol if name == "symbol" else bar.get(name)
    if value is None:
        return ""
    if isinstance(value, str):
        return _quoted(value)
    return json.dumps(value)  # repr of a float: read back exactly


def _json_reply(code: int, payload: Any) -> _Reply:
    return _Reply("ok", code, _as_bytes(payload))


def _as_bytes(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()
