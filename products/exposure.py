"""Where a lot was, and when, read from its stock ledger: the exposure of stock to excursions.

A lot is *in* a unit from the movement that brought it there with vials (received into it,
transferred in, a count adjustment back above zero) to the one that took it away (transferred
out, used up, wasted, counted down to zero). An excursion exposes the lots whose time in its
unit overlaps the time the unit was out of range, for the minutes they overlap, whatever is
in the unit when the readings arrive (an old logger file is imported months later).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

from products.models.stock import MovementKind

Interval = tuple[dt.datetime, dt.datetime | None]  # (from, until); None: still there


def presence_intervals(*, movements: Iterable, unit_id: int, current_unit_id: int) -> list[Interval]:
    """When the lot had sealed vials in ``unit_id``, from its ledger rows (any order).

    ``current_unit_id`` is the lot's unit now: where it was received when it never moved.
    """
    moves = sorted(movements, key=lambda m: (m.created_at, m.pk or 0))
    transfers = [m for m in moves if m.kind == MovementKind.TRANSFER]
    unit = transfers[0].from_unit_id if transfers else current_unit_id
    balance = 0
    since: dt.datetime | None = None
    intervals: list[Interval] = []
    for move in moves:
        was_here = unit == unit_id and balance > 0
        if move.kind == MovementKind.TRANSFER:
            unit = move.to_unit_id
        balance = move.balance_after
        is_here = unit == unit_id and balance > 0
        if is_here and not was_here:
            since = move.created_at
        elif was_here and not is_here:
            intervals.append((since, move.created_at))
    if unit == unit_id and balance > 0:
        intervals.append((since, None))
    return intervals


def overlap(intervals: list[Interval], start: dt.datetime, end: dt.datetime | None, now: dt.datetime):
    """(was it there at all, seconds it was there) during [start, end]; ``end`` None: going on.

    An excursion of a single reading (start == end) exposes whatever was there at that instant.
    """
    present, seconds = False, 0.0
    stop = end if end is not None else now
    for since, until in intervals:
        left = until if until is not None else max(now, stop)
        if end is None:
            touches = left > start or until is None
        elif start == end:
            touches = since <= start < left
        else:
            touches = since < end and left > start
        if touches:
            present = True
            seconds += max((min(left, stop) - max(since, start)).total_seconds(), 0)
    return present, seconds


def minutes(seconds: float) -> int:
    """Whole minutes, rounded up: a lot there for 20 s of an excursion was exposed."""
    return math.ceil(seconds / 60) if seconds > 0 else 0


def balance_at(movements: Iterable, when: dt.datetime) -> int:
    """Sealed vials the lot held at ``when`` (the balance after its last movement by then)."""
    balance = 0
    for move in sorted(movements, key=lambda m: (m.created_at, m.pk or 0)):
        if move.created_at > when:
            break
        balance = move.balance_after
    return balance
