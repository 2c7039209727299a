"""The compiled bar-by-bar simulation behind :func:`quant_assets.backtest.run_backtest`.

One cash-sharing book, fractional shares, no borrowing of cash. Each bar does, in order:

1. under next-open execution, fill the targets decided at the previous close at this bar's open;
2. mark the book at this bar's close (NaN closes fall back to the last known close);
3. decide the targets: risk overlays first, then the strategy's non-NaN weights, then limits;
4. under close execution, fill those targets at this close.

A fill converts every non-NaN target ``w`` into ``w * E / p - shares`` shares, where ``E`` is the
book marked at the fill prices ``p`` before any order, then runs all sells before all buys. If
the buys (with costs) cost more than the cash left after the sells, every buy is scaled by the
same factor so that they spend exactly that cash: the shortfall is shared pro rata, no order
is favoured and cash never goes negative. A book whose equity is zero or negative places no
orders.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from quant_assets.backtest.costs import impact_fraction
from quant_assets.backtest.overlays import (
    DRAWDOWN_HALT,
    REBALANCE,
    STOP_LOSS,
    TAKE_PROFIT,
    TRAILING_STOP,
)

# Order sizes below this fraction of the position are rounding noise from w * E / p.
_SIZE_TOLERANCE = 1e-12

# The per-bar functions pass their state as tuples of arrays, unpacked once per call:
#   book    = (shares, entry, extreme, last_close)  position, average entry price, best close
#             since entry, last known close, per ticker
#   plan    = (targets, reasons, orders)            this bar's target weights (NaN: no order),
#             why each was set, and scratch for the order sizes
#   locks   = (lock_side, lock_reason)              side and rule of the last overlay exit
#   blotter = (cell, size, price, reason)           one record per fill


@njit(cache=True)
def _mark(cash, shares, prices, fallback):
    """Cash plus positions valued at ``prices``, or at ``fallback`` where a price is NaN."""
    value = cash
    for j in range(shares.shape[0]):
        if shares[j] != 0.0:
            price = prices[j]
            if np.isnan(price):
                price = fallback[j]
            value += shares[j] * price
    return value


@njit(cache=True)
def _order_sizes(plan, prices, shares, equity, impact_inputs, costs):
    """Write each ticker's order (signed shares, 0 for none); return the buys' cash need."""
    targets, _, orders = plan
    sigma, adv = impact_inputs
    fee, slippage, impact = costs
    need = 0.0
    for j in range(shares.shape[0]):
        orders[j] = 0.0
        price = prices[j]
        if np.isnan(targets[j]) or np.isnan(price):
            continue
        size = targets[j] * equity / price - shares[j]
        if abs(size) <= _SIZE_TOLERANCE * max(abs(shares[j]), abs(size + shares[j])):
            continue
        orders[j] = size
        if size > 0.0:
            concession = slippage + impact_fraction(impact, sigma[j], adv[j], size)
            need += size * price * (1.0 + concession) * (1.0 + fee)
    return need


@njit(cache=True, inline="always")
def _entry_after_fill(before, after, price, entry):
    """Average entry price of a position after a fill at ``price`` (NaN when flat)."""
    if after == 0.0:
        return np.nan
    if before == 0.0 or (before > 0.0) != (after > 0.0):
        return price
    if abs(after) > abs(before):
        return (before * entry + (after - before) * price) / after
    return entry


@njit(cache=True)
def _execute(bar, plan, prices, impact_inputs, costs, cash, book, blotter, n):
    """Trade the book to the plan's targets at ``prices``: sells first, then buys.

    Buys that need more than the cash are scaled pro rata. Returns the new cash, the new
    record count and the notional traded at ``prices``.
    """
    shares, entry, extreme, last_close = book
    _, reasons, orders = plan
    cells, sizes, fills, codes = blotter
    sigma, adv = impact_inputs
    fee, slippage, impact = costs
    equity = _mark(cash, shares, prices, last_close)
    if not equity > 0.0:
        return cash, n, 0.0
    need = _order_sizes(plan, prices, shares, equity, impact_inputs, costs)
    n_cols = shares.shape[0]
    scale = 1.0
    traded = 0.0
    for side in (-1.0, 1.0):
        if side > 0.0 and need > cash:
            scale = max(cash, 0.0) / need
        for j in range(n_cols):
            size = orders[j]
            if size * side <= 0.0:
                continue
            if side > 0.0:
                size *= scale
            concession = slippage + impact_fraction(impact, sigma[j], adv[j], size)
            exec_price = prices[j] * max(1.0 + side * concession, 0.0)
            notional = size * exec_price
            cash -= notional + abs(notional) * fee
            traded += abs(size) * prices[j]
            before = shares[j]
            after = before + size
            if abs(after) <= _SIZE_TOLERANCE * abs(before):
                after = 0.0
            shares[j] = after
            entry[j] = _entry_after_fill(before, after, prices[j], entry[j])
            if after == 0.0 or before == 0.0 or (before > 0.0) != (after > 0.0):
                extreme[j] = entry[j]
            cells[n] = bar * n_cols + j
            sizes[n] = size
            fills[n] = exec_price
            codes[n] = reasons[j]
            n += 1
    if scale < 1.0:
        cash = max(cash, 0.0)  # rounding residue of spending the last cent
    return cash, n, traded


@njit(cache=True)
def rebalance_and_mark(
    bar, targets, fill_prices, closes, impact_inputs, costs, cash, book, scratch
):
    """One bar of a book without risk overlays: fill ``targets``, then mark at the close.

    The step :func:`simulate` takes on a bar with pending orders under next-open execution,
    exposed for callers that drive a book bar by bar (the RL trading environment) so that they
    trade with exactly the engine's sizing, cost and cash-shortfall rules.

    Parameters
    ----------
    bar : int
        Bar number, written into the scratch blotter only.
    targets : 1-D float array
        Target weights per ticker (NaN: no order).
    fill_prices, closes : 1-D float arrays
        Reference fill prices (e.g. this bar's opens) and this bar's closes (NaN: no bar).
    impact_inputs : tuple (sigma, adv) of 1-D float arrays
        Square-root impact inputs of this bar (NaN: no impact).
    costs : tuple (fee, slippage, impact_coefficient)
        Fractions of notional (not bps) and the square-root impact constant.
    cash : float
        Cash before the bar.
    book : tuple (shares, entry, extreme, last_close) of 1-D float arrays
        Updated in place; ``last_close`` takes this bar's non-NaN closes.
    scratch : tuple (reasons, orders, blotter)
        Work arrays: int8 and float arrays of the tickers' length and a blotter tuple
        ``(cell, size, price, reason)`` with room for one fill per ticker.

    Returns
    -------
    (cash, equity, traded) : tuple of float
        Cash after the fills, equity marked at the last known closes, and the notional traded
        at the reference prices.
    """
    reasons, orders, blotter = scratch
    shares, _, _, last_close = book
    reasons[:] = REBALANCE
    cash, _, traded = _execute(
        bar, (targets, reasons, orders), fill_prices, impact_inputs, costs, cash, book, blotter, 0
    )
    for j in range(closes.shape[0]):
        if not np.isnan(closes[j]):
            last_close[j] = closes[j]
    return cash, _mark(cash, shares, last_close, last_close), traded


@njit(cache=True)
def _halt_state(bar, equity, limit, halt_bars, peak, halted_until):
    """Advance the drawdown breaker; return (peak, halted_until, halted)."""
    if np.isnan(limit):
        return peak, halted_until, False
    if halted_until >= 0 and bar > halted_until:
        halted_until = -1
        peak = equity
    if halted_until >= 0:
        return peak, halted_until, True
    peak = max(peak, equity)
    if equity <= peak * (1.0 - limit):
        return peak, bar + halt_bars, True
    return peak, halted_until, False


@njit(cache=True, inline="always")
def _exit_code(side, close, entry, extreme, stop_loss, take_profit, trailing_stop):
    """Which exit rule a position on ``side`` (+1 long, -1 short) hits at ``close`` (0: none)."""
    if np.isnan(close) or np.isnan(entry):
        return 0
    move = side * (close / entry - 1.0)
    if move <= -stop_loss:
        return STOP_LOSS
    if move >= take_profit:
        return TAKE_PROFIT
    if side * (close / extreme - 1.0) <= -trailing_stop:
        return TRAILING_STOP
    return 0


@njit(cache=True)
def _exit_targets(close, book, locks, plan, overlay, halted):
    """Set zero targets for positions an overlay closes; return whether any was set."""
    shares, entry, extreme, _ = book
    lock_side, lock_reason = locks
    targets, reasons, _ = plan
    stop_loss, take_profit, trailing_stop = overlay[0], overlay[1], overlay[2]
    any_exit = False
    for j in range(shares.shape[0]):
        if shares[j] == 0.0:
            continue
        side = 1 if shares[j] > 0.0 else -1
        if not np.isnan(close[j]):
            extreme[j] = max(extreme[j], close[j]) if side > 0 else min(extreme[j], close[j])
        if halted:
            code = DRAWDOWN_HALT
        elif lock_side[j] == side:
            code = lock_reason[j]  # an earlier exit found no price: try again
        else:
            code = _exit_code(
                side, close[j], entry[j], extreme[j], stop_loss, take_profit, trailing_stop
            )
        if code != 0:
            targets[j] = 0.0
            reasons[j] = code
            if code != DRAWDOWN_HALT:
                lock_side[j] = side
                lock_reason[j] = code
            any_exit = True
    return any_exit


@njit(cache=True)
def _rebalance_targets(weights, locks, plan, max_weight):
    """Take the strategy's non-NaN weights where no exit is set; return whether any was."""
    lock_side, _ = locks
    targets, _, _ = plan
    any_target = False
    for j in range(weights.shape[0]):
        w = weights[j]
        if np.isnan(w) or not np.isnan(targets[j]):
            continue
        if lock_side[j] != 0:
            if w != 0.0 and (w > 0.0) == (lock_side[j] > 0):
                continue  # same side as the position an overlay closed: not re-armed yet
            lock_side[j] = 0
        if not np.isnan(max_weight):
            w = min(max(w, -max_weight), max_weight)
        targets[j] = w
        any_target = True
    return any_target


@njit(cache=True)
def _apply_gross_limit(plan, book, equity, max_gross):
    """Scale rebalancing targets so gross exposure stays within ``max_gross``."""
    targets, reasons, _ = plan
    shares, _, _, last_close = book
    if np.isnan(max_gross) or not equity > 0.0:
        return
    held = 0.0
    wanted = 0.0
    for j in range(shares.shape[0]):
        if np.isnan(targets[j]):
            if shares[j] != 0.0:
                held += abs(shares[j] * last_close[j]) / equity
        elif reasons[j] == REBALANCE:
            wanted += abs(targets[j])
    if wanted > 0.0 and held + wanted > max_gross:
        scale = max(max_gross - held, 0.0) / wanted
        for j in range(shares.shape[0]):
            if not np.isnan(targets[j]) and reasons[j] == REBALANCE:
                targets[j] *= scale


@njit(cache=True)
def _decide(weights, close, equity, halted, book, locks, plan, overlay):
    """Fill the plan for one bar: overlay exits, then weights, then limits.

    Returns whether any target is set.
    """
    targets, reasons, _ = plan
    targets[:] = np.nan
    reasons[:] = REBALANCE
    any_target = _exit_targets(close, book, locks, plan, overlay, halted)
    if not halted:
        any_target |= _rebalance_targets(weights, locks, plan, overlay[3])
        _apply_gross_limit(plan, book, equity, overlay[4])
    return any_target


@njit(cache=True)
def _snapshot(book, equity, shares_row, weights_row):
    """Copy the positions into the output row and value them as fractions of equity."""
    shares, _, _, last_close = book
    for j in range(shares.shape[0]):
        shares_row[j] = shares[j]
        weights_row[j] = shares[j] * last_close[j] / equity if shares[j] != 0.0 else 0.0


@njit(cache=True)
def simulate(
    close, fill_price, weights, sigma, adv, costs, initial_cash, next_open, overlay, breaker
):
    """Run the book over all bars.

    Parameters
    ----------
    close, fill_price, weights : 2-D float arrays (bars x tickers)
        Closes, reference fill prices (closes, or opens under next-open execution) and target
        weights (NaN = no order).
    sigma, adv : 2-D float arrays
        Impact inputs per bar, or a single row when impact is off.
    costs : tuple (fee, slippage, impact_coefficient)
        Fractions of notional (not bps) and the square-root impact constant.
    initial_cash : float
    next_open : bool
        Fill the targets decided at close ``t`` at the open of ``t + 1``.
    overlay : 1-D float array
        (stop_loss, take_profit, trailing_stop, max_position_weight, max_gross_exposure),
        NaN where inactive.
    breaker : tuple (max_drawdown, halt_bars)
        Drawdown circuit-breaker threshold (NaN: off) and the bars it keeps the book flat.

    Returns
    -------
    equity, cash : 1-D arrays of the book after each bar's trades, marked at the close.
    traded : 1-D array of the notional traded on each bar, at reference prices.
    shares, held_weights : 2-D arrays of positions after each bar, in shares and as fractions
        of equity at the close.
    blotter : tuple (cell, size, price, reason) of fills: flat cell ``bar * n_tickers +
        ticker``, signed shares, execution price and reason code; the fee is
        ``|size * price| * fee``.
    """
    n_bars, n_cols = close.shape
    max_drawdown, halt_bars = breaker
    book = (
        np.zeros(n_cols),
        np.full(n_cols, np.nan),
        np.full(n_cols, np.nan),
        np.full(n_cols, np.nan),
    )
    shares, _, _, last_close = book
    plan = (np.full(n_cols, np.nan), np.zeros(n_cols, dtype=np.int8), np.zeros(n_cols))
    locks = (np.zeros(n_cols, dtype=np.int8), np.zeros(n_cols, dtype=np.int8))
    capacity = n_bars * n_cols  # at most one fill per ticker and bar
    blotter = (
        np.empty(capacity, dtype=np.int64),
        np.empty(capacity),
        np.empty(capacity),
        np.empty(capacity, dtype=np.int8),
    )
    equity_out = np.empty(n_bars)
    cash_out = np.empty(n_bars)
    traded_out = np.zeros(n_bars)
    shares_out = np.empty((n_bars, n_cols))
    weights_out = np.empty((n_bars, n_cols))
    cash = float(initial_cash)
    n = 0
    pending = False
    peak = -np.inf
    halted_until = -1
    for i in range(n_bars):
        k = 0 if sigma.shape[0] == 1 else i
        impact_inputs = (sigma[k], adv[k])
        if next_open and pending:
            cash, n, traded_out[i] = _execute(
                i, plan, fill_price[i], impact_inputs, costs, cash, book, blotter, n
            )
            pending = False
        for j in range(n_cols):
            if not np.isnan(close[i, j]):
                last_close[j] = close[i, j]
        equity = _mark(cash, shares, last_close, last_close)
        peak, halted_until, halted = _halt_state(
            i, equity, max_drawdown, halt_bars, peak, halted_until
        )
        if _decide(weights[i], close[i], equity, halted, book, locks, plan, overlay):
            if next_open:
                pending = True
            else:
                cash, n, traded_out[i] = _execute(
                    i, plan, close[i], impact_inputs, costs, cash, book, blotter, n
                )
        equity_out[i] = _mark(cash, shares, last_close, last_close)
        cash_out[i] = cash
        _snapshot(book, equity_out[i], shares_out[i], weights_out[i])
    cells, sizes, fills, codes = blotter
    fills_made = (cells[:n], sizes[:n], fills[:n], codes[:n])
    return equity_out, cash_out, traded_out, shares_out, weights_out, fills_made
