"""Date values of price files, parsed one value at a time (vectorised per format).

The rule (also in the README, "Data in, bad rows out"):

* Each value is matched to one format family by its shape, and each family is parsed
  vectorised over the values of that shape; the results are combined by mask. A value of no
  known shape, or an impossible date (``2019-02-30``), is ``NaT`` (quarantined as
  ``date_unparsable``). No format is guessed for the whole column from its first value.
* Families: ISO ``2019-01-02`` (optionally with a time, and an offset ``Z`` / ``+01:00``),
  ``2019/01/02``, compact ``20190102``, numeric day/month ``01/02/2019`` (``/``, ``-`` or
  ``.``, two- or four-digit years), epoch seconds (9-10 digits) and milliseconds (12-13),
  and named months (``Jan 02, 2019``, ``02-Jan-2019``, ``2 January 2019``).
* Numeric day/month dates: the order is decided once per file, from evidence only. A value
  whose first number is above 12 (``13/01/2019``) is day-first evidence; one whose second
  number is above 12 (``01/13/2019``) is month-first evidence. With evidence of one order
  only, every such value of the file is read in that order (US ``m/d/Y`` or EU ``d/m/Y``).
  With evidence of both, or of neither while some value reads differently in the two orders
  (``01/02/2019``), the file is refused (:class:`AmbiguousDateOrder`, with the count) rather
  than guessed. ``d.m.Y`` with dots is always day-first (no one writes ``m.d.Y``).
* Time zones: a timestamp with an offset, or an epoch value, is an instant and becomes the
  date in New York (``2019-01-03T01:00:00Z`` is 2019-01-02 20:00 in New York: trading day
  2019-01-02). A timestamp at exactly midnight in its own offset (``2019-01-02T00:00:00Z``,
  epoch ``1546387200``) is how many vendors label a daily bar: it is that date, not an
  instant. A timestamp without an offset keeps the date as written.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NEW_YORK = "America/New_York"

_ISO = r"^\d{4}-\d{1,2}-\d{1,2}(?:[T ].*)?$"
_OFFSET = r"(?<=\d)(?:Z|[+-]\d{2}(?::?\d{2})?)$"
_ISO_AWARE = r"^\d{4}-\d{1,2}-\d{1,2}[T ]\d{1,2}:\d{2}.*?(?:Z|[+-]\d{2}(?::?\d{2})?)$"
_YMD_SLASH = r"^(\d{4})/(\d{1,2})/(\d{1,2})$"
_COMPACT = r"^(?:19|20)\d{6}$"
_DAY_MONTH = (
    r"^(?P<a>\d{1,2})(?P<sep>[/.\-])(?P<b>\d{1,2})(?P=sep)(?P<year>\d{4}|\d{2})"
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
)
_EPOCH_S = r"^\d{9,10}(?:\.0*)?$"
_EPOCH_MS = r"^\d{12,13}(?:\.0*)?$"
_NAMED_FORMATS = (
    "%b %d, %Y",
    "%B %d, %Y",
    "%b %d %Y",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%d %b %Y",
    "%d %B %Y",
    "%d-%B-%Y",
)


class AmbiguousDateOrder(ValueError):
    """Numeric day/month dates whose order the file does not settle; the message says why."""


def _day_month_parts(text: pd.Series) -> pd.DataFrame:
    """``a``, ``sep``, ``b``, ``year`` of the values shaped like ``01/02/2019`` (others NaN)."""
    return text.str.extract(_DAY_MONTH)


def day_first_order(text: pd.Series) -> bool | None:
    """The file's order for numeric day/month dates: True (d/m), False (m/d) or None (moot).

    ``text`` holds the file's distinct date values. Dotted dates are always day-first and are
    no evidence for the others. Raises :class:`AmbiguousDateOrder` when the values show both
    orders, or neither while some of them read differently in the two orders.
    """
    parts = _day_month_parts(text.astype(str).str.strip())
    parts = parts[parts["a"].notna() & (parts["sep"] != ".")]
    if parts.empty:
        return None
    a = parts["a"].astype(int).to_numpy()
    b = parts["b"].astype(int).to_numpy()
    day_first = (a > 12) & (b <= 12)
    month_first = (b > 12) & (a <= 12)
    examples = parts.index
    if day_first.any() and month_first.any():
        d_eg = text.loc[examples[day_first][0]]
        m_eg = text.loc[examples[month_first][0]]
        raise AmbiguousDateOrder(
            f"ambiguous date format: {int(day_first.sum())} date value(s) are day-first (e.g. "
            f"{d_eg!r}) and {int(month_first.sum())} month-first (e.g. {m_eg!r}); write "
            "dates as YYYY-MM-DD"
        )
    if day_first.any():
        return True
    if month_first.any():
        return False
    undecided = (a != b) & (a <= 12) & (b <= 12)
    if undecided.any():
        example = text.loc[examples[undecided][0]]
        raise AmbiguousDateOrder(
            f"ambiguous date format: {int(undecided.sum())} distinct date value(s) such as "
            f"{example!r} read as different days as month/day and as day/month, and no value "
            "has a day above 12 to tell which; write dates as YYYY-MM-DD"
        )
    return None


def _as_date(values: pd.Series) -> np.ndarray:
    return values.dt.normalize().to_numpy(dtype="datetime64[ns]")


def _instant_dates(local: pd.Series, instant_utc: pd.Series) -> np.ndarray:
    """Date labels (midnight in their own offset) stay; other instants -> New York date."""
    ny = instant_utc.dt.tz_convert(NEW_YORK).dt.tz_localize(None).dt.normalize()
    label = local.notna() & (local == local.dt.normalize())
    return np.where(label, _as_date(local), ny.to_numpy(dtype="datetime64[ns]"))


def parse_dates(text: pd.Series, *, day_first: bool | None = None) -> pd.Series:
    """Trading dates (``datetime64[ns]``, midnight) of date values; unparsable -> ``NaT``.

    ``day_first`` is the file's order for numeric day/month dates (see
    :func:`day_first_order`); with None, values that read differently in the two orders are
    ``NaT``. Vectorised: one pass per format family, combined by mask.
    """
    text = pd.Series(text, dtype=object).fillna("").astype(str).str.strip()
    text.index = pd.RangeIndex(len(text))
    out = np.full(len(text), np.datetime64("NaT", "ns"))

    iso = text.str.match(_ISO)
    aware = iso & text.str.match(_ISO_AWARE)
    naive = iso & ~aware
    if naive.any():
        parsed = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
        out[naive.to_numpy()] = _as_date(parsed)
    if aware.any():
        values = text[aware]
        local = pd.to_datetime(
            values.str.replace(_OFFSET, "", regex=True), format="ISO8601", errors="coerce"
        )
        instant = pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce")
        out[aware.to_numpy()] = _instant_dates(local, instant)

    ymd = text.str.match(_YMD_SLASH)
    if ymd.any():
        out[ymd.to_numpy()] = _as_date(
            pd.to_datetime(text[ymd], format="%Y/%m/%d", errors="coerce")
        )

    compact = text.str.match(_COMPACT)
    if compact.any():
        out[compact.to_numpy()] = _as_date(
            pd.to_datetime(text[compact], format="%Y%m%d", errors="coerce")
        )

    parts = _day_month_parts(text)
    dm = parts["a"].notna()
    if dm.any():
        p = parts[dm]
        year = p["year"].astype(int).to_numpy()
        # Two-digit years as strptime reads %y: 69-99 -> 19xx, 00-68 -> 20xx.
        year = np.where(year >= 100, year, np.where(year >= 69, 1900 + year, 2000 + year))
        a = p["a"].astype(int).to_numpy()
        b = p["b"].astype(int).to_numpy()
        dotted = (p["sep"] == ".").to_numpy()
        first_is_day = dotted | bool(day_first)
        readable = dotted | (day_first is not None) | (a == b)
        parsed = pd.to_datetime(
            pd.DataFrame(
                {
                    "year": year,
                    "month": np.where(first_is_day, b, a),
                    "day": np.where(first_is_day, a, b),
                }
            ),
            errors="coerce",
        ).where(readable)
        out[dm.to_numpy()] = _as_date(parsed)

    for pattern, unit in ((_EPOCH_S, "s"), (_EPOCH_MS, "ms")):
        epoch = text.str.match(pattern)
        if epoch.any():
            number = text[epoch].str.replace(r"\.0*$", "", regex=True).astype(np.int64)
            instant = pd.to_datetime(number, unit=unit, utc=True)
            out[epoch.to_numpy()] = _instant_dates(instant.dt.tz_localize(None), instant)

    left = pd.isna(out) & (text != "").to_numpy() & text.str.contains("[A-Za-z]").to_numpy()
    for fmt in _NAMED_FORMATS:
        if not left.any():
            break
        parsed = pd.to_datetime(text[left], format=fmt, errors="coerce")
        out[left] = _as_date(parsed)
        left = left & pd.isna(out)
    return pd.Series(out, dtype="datetime64[ns]")
