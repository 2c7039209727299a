"""Adapter: zipline-reloaded 3.2 (``run_algorithm`` on a bundle written from the prices).

The bundle: :func:`ingest_bundle` registers an ingest function (:func:`bundle_ingester`) that
writes the scenario's frames (raw opens and closes, volumes, the splits of ``Market.splits`` as
zipline adjustments) into a bundle under a ``ZIPLINE_ROOT`` folder on the NYSE calendar of
exchange_calendars; nothing is downloaded. The dates must be NYSE sessions without gaps.

Settings that make it agree with the common rules:

* fill timing: a zipline order placed in ``handle_data`` on bar ``t`` fills on bar ``t + 1``.
  Close fills: the algorithm places bar ``t + 1``'s targets on bar ``t``, sized at bar
  ``t + 1``'s closes (taken from the frames: the emulation of a fill at the signal's own close)
  and zipline fills them at that close (``FixedBasisPointsSlippage``). Next-open fills: bar
  ``t``'s targets are placed on bar ``t`` and filled at bar ``t + 1``'s open by a
  ``FixedBasisPointsSlippage`` that reads the open. Either way the book is zipline's own
  (``context.portfolio``); so no targets on the first bar under close fills;
* volume limit off: ``volume_limit`` of 1e9 times the bar's volume. Prices without volumes get a
  nominal volume of 1e6 shares; a real bar with zero volume does not fill (zipline skips it);
* commission: a model charging ``|amount| * (price * fee_bps / 1e4 + fee_per_share)`` on the
  slipped price;
* whole shares only: zipline orders integers (fractional scenarios are refused);
* prices are stored as thousandths (uint32): a price with more decimals is rounded;
* no cash check: a buy the cash cannot pay is filled and cash goes negative (no cash-binding
  parity); a ticker's ``auto_close_date`` is the day after its last bar.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from quant_assets.validation.common import (
    CostConfig,
    EngineRun,
    Market,
    Unsupported,
    trades_frame,
)

NAME = "zipline"
CALENDAR = "NYSE"
# Volume is not a constraint here: orders fill in full whatever the bar's volume.
VOLUME_LIMIT = 1e9
NOMINAL_VOLUME = 1e6


def bundle_ingester(market: Market):
    """The ingest function writing ``market`` into a zipline bundle (for ``bundles.register``)."""

    def ingest(
        environ,
        asset_db_writer,
        minute_bar_writer,
        daily_bar_writer,
        adjustment_writer,
        calendar,
        start_session,
        end_session,
        cache,
        show_progress,
        output_dir,
    ):
        closes = market.closes
        first = closes.apply(pd.Series.first_valid_index)
        last = closes.apply(pd.Series.last_valid_index)
        equities = pd.DataFrame(
            {
                "symbol": [str(t) for t in closes.columns],
                "asset_name": [str(t) for t in closes.columns],
                "start_date": pd.DatetimeIndex(first.to_numpy()),
                "end_date": pd.DatetimeIndex(last.to_numpy()),
                "auto_close_date": pd.DatetimeIndex(last.to_numpy()) + pd.Timedelta(days=1),
                "exchange": CALENDAR,
            }
        )
        daily_bar_writer.write(
            (
                (sid, _daily_bars(market, calendar, t, first[t], last[t]))
                for sid, t in enumerate(closes.columns)
            ),
            show_progress=False,
        )
        asset_db_writer.write(
            equities=equities,
            exchanges=pd.DataFrame(
                {"exchange": [CALENDAR], "canonical_name": [CALENDAR], "country_code": ["US"]}
            ),
        )
        sids = {t: sid for sid, t in enumerate(closes.columns)}
        splits = market.splits
        adjustment_writer.write(
            splits=pd.DataFrame(
                {
                    "sid": splits["ticker"].map(sids).astype("int64"),
                    "ratio": 1.0 / splits["factor"].astype("float64"),
                    "effective_date": pd.to_datetime(splits["date"]).astype("datetime64[ns]"),
                }
            ),
        )

    return ingest


def _daily_bars(market, calendar, ticker, first, last) -> pd.DataFrame:
    sessions = calendar.sessions_in_range(first, last)
    close = market.closes[ticker]
    opens = market.opens[ticker] if market.opens is not None else close
    volume = market.volumes[ticker] if market.volumes is not None else close * 0 + NOMINAL_VOLUME
    frame = pd.DataFrame({"open": opens.where(opens.notna(), close), "close": close})
    frame["high"] = frame.max(axis=1)
    frame["low"] = frame.min(axis=1)
    frame["volume"] = volume
    return frame.reindex(sessions.tz_localize(None) if sessions.tz else sessions)


def ingest_bundle(market: Market, root: Path) -> str:
    """Register and ingest a bundle of ``market`` under ``root`` (a ZIPLINE_ROOT); its name."""
    import exchange_calendars as xcals
    from zipline.data import bundles

    dates = market.closes.index
    sessions = xcals.get_calendar(CALENDAR).sessions_in_range(dates[0], dates[-1])
    if not pd.DatetimeIndex(sessions.tz_localize(None) if sessions.tz else sessions).equals(dates):
        raise Unsupported(
            f"zipline needs the prices on every {CALENDAR} session from {dates[0].date()} to "
            f"{dates[-1].date()} and on no other day"
        )
    name = f"quant_assets_{uuid.uuid4().hex[:12]}"
    bundles.register(
        name,
        bundle_ingester(market),
        calendar_name=CALENDAR,
        start_session=dates[0],
        end_session=dates[-1],
    )
    bundles.ingest(name, environ={"ZIPLINE_ROOT": str(root)}, show_progress=False)
    return name


def run(
    market: Market,
    weights: pd.DataFrame,
    costs: CostConfig,
    *,
    bundle: tuple[str, Path] | None = None,
) -> EngineRun:
    """Run ``weights`` on zipline; ``bundle`` is ``(name, ZIPLINE_ROOT)`` of an ingested bundle
    of ``market`` (one is written into a temporary root when absent)."""
    if not costs.whole_shares:
        raise Unsupported("zipline trades whole shares only")
    if bundle is None:
        with tempfile.TemporaryDirectory(prefix="zipline_root_") as root:
            return run(
                market, weights, costs, bundle=(ingest_bundle(market, Path(root)), Path(root))
            )
    from zipline import run_algorithm

    closes = market.closes
    fill = market.fill_prices(costs.execution).to_numpy(np.float64)
    targets = weights.reindex(index=closes.index, columns=closes.columns).to_numpy(np.float64)
    last_close = closes.ffill().to_numpy(np.float64)
    next_open = costs.execution == "next_open"
    tickers = [str(t) for t in closes.columns]

    def initialize(context):
        from zipline import api

        context.bar = -1
        context.assets = [api.symbol(t) for t in tickers]
        api.set_commission(us_equities=_commission(costs))
        api.set_slippage(us_equities=_slippage(costs))

    def handle_data(context, data):
        from zipline import api

        context.bar += 1
        fill_bar = context.bar + 1
        if fill_bar >= len(closes):
            return
        row = targets[context.bar if next_open else fill_bar]
        price = fill[fill_bar]
        held = np.array([context.portfolio.positions[a].amount for a in context.assets], float)
        mark = np.where(np.isnan(price), last_close[fill_bar - 1 if next_open else fill_bar], price)
        equity = context.portfolio.cash + float(np.nansum(held * mark))
        for j, asset in enumerate(context.assets):
            if np.isnan(row[j]) or np.isnan(price[j]):
                continue
            size = int(np.trunc(row[j] * equity / price[j] - held[j]))
            if size:
                api.order(asset, size)

    start = time.perf_counter()
    perf = run_algorithm(
        start=closes.index[0],
        end=closes.index[-1],
        initialize=initialize,
        handle_data=handle_data,
        capital_base=costs.initial_cash,
        data_frequency="daily",
        bundle=bundle[0],
        environ={"ZIPLINE_ROOT": str(bundle[1])},
        benchmark_returns=pd.Series(0.0, index=closes.index.tz_localize("UTC")),
    )
    seconds = time.perf_counter() - start
    equity = pd.Series(perf["portfolio_value"].to_numpy(), index=closes.index, name="equity")
    return EngineRun(
        engine=NAME,
        equity=equity,
        trades=_trades(perf),
        final_value=float(equity.iloc[-1]),
        seconds=seconds,
    )


def _trades(perf: pd.DataFrame) -> pd.DataFrame:
    fees = {o["id"]: o["commission"] or 0.0 for day in perf["orders"] for o in day}
    records = [
        {
            "date": pd.Timestamp(t["dt"]).tz_localize(None).normalize(),
            "ticker": t["sid"].symbol,
            "shares": t["amount"],
            "price": t["price"],
            "fee": fees.get(t["order_id"], 0.0),
        }
        for day in perf["transactions"]
        for t in day
    ]
    return trades_frame(records)


def _commission(costs: CostConfig):
    from zipline.finance.commission import EquityCommissionModel

    class PercentAndPerShare(EquityCommissionModel):
        def calculate(self, order, transaction):
            return abs(transaction.amount) * (
                transaction.price * costs.fee_bps / 1e4 + costs.fee_per_share
            )

    return PercentAndPerShare()


def _slippage(costs: CostConfig):
    from zipline.finance.slippage import FixedBasisPointsSlippage

    class AtOpen(FixedBasisPointsSlippage):
        """Fixed basis points off the fill bar's open instead of its close."""

        def process_order(self, data, order):
            price = data.current(order.asset, "open")
            return price * (1 + self.percentage * order.direction), order.open_amount

    model = AtOpen if costs.execution == "next_open" else FixedBasisPointsSlippage
    return model(basis_points=costs.slippage_bps, volume_limit=VOLUME_LIMIT)
