"""The ticker a price file's name gives, if any: :func:`ticker_from_filename`.

The name parser (a pure function of the name; the README states the same rule):

1. Drop the extensions (``.csv``, ``.txt``, ``.tsv``, ``.json``, ``.gz``), a browser's copy
   mark (``AAPL (1)``, ``AAPL copy``) and exchange suffixes (``AAPL.US``, ``aapl.us``).
2. Split the rest into words at ``_`` and spaces (not at ``-`` or ``.``: ``BRK-B``, ``BRK.B``
   are tickers). A word joined by hyphens is split further only when every part is a
   decoration (``historical-price-full``).
3. Drop decorations: vendor and layout words (``daily``, ``adjusted``, ``data``, ``prices``,
   ``export``, ``download``, ``quotes``, ``history``, ``eod``, ``yahoo``, ``fmp``, ...; see
   :data:`DECORATIONS`), bar sizes (``1d``, ``1day``, ``5min``, ``1h``), periods (``5yr``),
   dates (``2019-01-01``, ``20190101``, ``2019``) and ``to``/``from`` between them.
4. Exactly one word must remain, and it must look like a ticker (an optional ``^``, a letter,
   then letters, digits, ``.``, ``-``; at most 10 characters): that word, upper-cased, is the
   ticker. Otherwise the name gives no ticker: ``None``. A name with no word left (a
   generic name such as ``export.csv`` or ``prices_2019.csv``) is :func:`is_generic_filename`;
   a name with several words, or one that is no ticker (``AAPL MSFT.csv``), is not generic:
   a one-ticker file without a ticker column so named keeps the name's text as its ticker
   (:func:`name_text`), and its rows are quarantined as ``ticker_format`` showing it.

Examples: ``daily_adjusted_AAPL.csv`` -> ``AAPL``; ``AAPL_1d.csv`` -> ``AAPL``;
``aapl.us.txt`` -> ``AAPL``; ``AAPL_2019-01-01_2020-01-01.csv`` -> ``AAPL``;
``BRK-B.csv`` -> ``BRK-B``; ``export.csv``, ``data.csv``, ``prices (3).csv`` -> ``None``.
A real ticker that is also a decoration word (``DATA``) needs a ticker column.
"""

from __future__ import annotations

import re
from pathlib import Path

_DECORATION_WORDS = (
    # what the file is
    "data price prices pricing quote quotes history historical hist export exported "
    "download downloaded file table stock stocks equity equities share shares ohlc "
    "ohlcv bars bar candles candle chart series timeseries time close closes eod full "
    "raw clean new old final latest copy sample output result results dump backup "
    "ticker tickers symbol long wide all combined merged universe portfolio watchlist "
    "my test "
    # bar size and adjustment
    "daily day days weekly week monthly month intraday minute hourly adjusted adj "
    "unadjusted unadj split splits dividend dividends total return "
    # vendors and API names
    "yahoo yf yfinance google stooq fmp tiingo alphavantage av polygon iex iexcloud "
    "quandl nasdaq nyse investing kaggle eodhd marketstack finnhub alpaca bloomberg "
    "refinitiv wsj v1 v2 v3 v4 stable api us usa usd "
    # ranges
    "to from since until "
)
DECORATIONS: frozenset[str] = frozenset(_DECORATION_WORDS.split())
"""Words of a file name that are no ticker: what the file is, bar size, vendor, ranges."""

_EXTENSIONS = re.compile(r"(\.(csv|txt|tsv|json|gz|gzip))+$", re.IGNORECASE)
_COPY_MARK = re.compile(r"(\s*\(\d+\)|[\s_-]+copy(\s*\d+)?)$", re.IGNORECASE)
_EXCHANGE_SUFFIX = re.compile(r"\.(us|nyse|nasdaq|nas|nys|amex|arca|bats)$", re.IGNORECASE)
_NOISE = re.compile(
    r"^(\d{4}([-.]?\d{2}([-.]?\d{2})?)?"  # 2019, 2019-01, 2019-01-01, 20190101
    r"|\d{1,2}[-.]\d{1,2}[-.]\d{2,4}"  # 01-02-2019
    r"|\d+(d|day|days|w|wk|week|m|mo|mon|month|months|min|mins|minute|h|hr|hour|y|yr|yrs|year|years)"
    r"|\d+)$",
    re.IGNORECASE,
)
_TICKER_WORD = re.compile(r"^\^?[A-Za-z][A-Za-z0-9]*([.\-][A-Za-z0-9]+)*$")
_MAX_TICKER_CHARS = 10


def _is_decoration(word: str) -> bool:
    return word.lower() in DECORATIONS or bool(_NOISE.match(word))


def name_text(path: str | Path) -> str:
    """The file's name without its extensions, upper-cased: what the name says."""
    return _EXTENSIONS.sub("", Path(path).name).strip().upper()


def is_generic_filename(path: str | Path) -> bool:
    """True when every word of the name is a decoration (``export.csv``, ``data (2).csv``)."""
    return not _name_words(path)


def ticker_from_filename(path: str | Path) -> str | None:
    """The ticker a file's name gives (upper case), or None; see the module's rule."""
    words = _name_words(path)
    if len(words) != 1:
        return None
    word = words[0]
    if len(word) > _MAX_TICKER_CHARS or not _TICKER_WORD.match(word):
        return None
    return word.upper()


def _name_words(path: str | Path) -> list[str]:
    """The words of a file's name that are no decoration (steps 1-3 of the rule)."""
    stem = _EXTENSIONS.sub("", Path(path).name).strip()
    stem = _COPY_MARK.sub("", stem).strip()
    stem = _EXCHANGE_SUFFIX.sub("", stem)
    words: list[str] = []
    for word in re.split(r"[_\s]+", stem):
        if not word:
            continue
        parts = word.split("-")
        if len(parts) > 1 and all(_is_decoration(p) for p in parts if p):
            continue
        if not _is_decoration(word):
            words.append(_EXCHANGE_SUFFIX.sub("", word))
    return words
