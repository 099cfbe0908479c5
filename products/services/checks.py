"""Missed checks: manual checks due each working half-day, and gaps in a data logger's log."""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass

from django.db.models import DurationField, ExpressionWrapper, F, Window
from django.db.models.functions import Lag
from django.utils import timezone

from products.models import StorageUnit
from products.models.coldchain import ReadingSource

LOGGER_INTERVAL = dt.timedelta(minutes=30)
MANUAL_WORKING_HOURS = (8, 18)  # a working day, local time, Monday to Friday


# --- Missed checks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    source: str
    after: dt.datetime
    before: dt.datetime

    @property
    def duration(self) -> dt.timedelta:
        return self.before - self.after


def manual_check_periods(since: dt.datetime, until: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """When manual checks are due: the working half-days (08–13, 13–18 local, Monday–Friday)
    lying wholly inside the period, oldest first. Each should hold a manual check, so units
    are checked at least at the start and end of each working day."""
    tz = timezone.get_current_timezone()
    first, last = timezone.localtime(since).date(), timezone.localtime(until).date()
    open_h, close_h = MANUAL_WORKING_HOURS
    middle = (open_h + close_h) // 2
    slots = []
    day = first
    while day <= last:
        if day.weekday() < 5:
            for a, b in ((open_h, middle), (middle, close_h)):
                slot = (dt.datetime.combine(day, dt.time(a), tz), dt.datetime.combine(day, dt.time(b), tz))
                if slot[0] >= since and slot[1] <= until:
                    slots.append(slot)
        day += dt.timedelta(days=1)
    return slots


def last_manual_check_periods(now: dt.datetime, count: int) -> list[tuple[dt.datetime, dt.datetime]]:
    """The last ``count`` periods of ``manual_check_periods`` that ended by ``now``, newest first."""
    weeks = count // 10 + 1  # a working week holds ten half-days
    return manual_check_periods(now - dt.timedelta(weeks=weeks), now)[::-1][:count]


def missed_checks(unit: StorageUnit, *, since: dt.datetime, until: dt.datetime | None = None) -> list[Gap]:
    """Gaps longer than expected: manual checks half a working day apart, logger samples 30 min.

    Nothing is missed before the unit existed (``created_at``)."""
    until = until or timezone.now()
    if unit.created_at and unit.created_at > since:
        since = unit.created_at
    gaps: list[Gap] = []
    manual = list(
        unit.readings.filter(source=ReadingSource.MANUAL, taken_at__gte=since, taken_at__lte=until)
        .order_by("taken_at")
        .values_list("taken_at", flat=True)
    )
    # Checks are due at the start and end of each working day: every working half-day
    # should hold one. Consecutive empty half-days make one gap.
    slots = manual_check_periods(since, until)
    run: list[tuple[int, int]] = []  # first and last index into slots of each gap
    for index, (a, b) in enumerate(slots):
        i = bisect.bisect_left(manual, a)
        checked = i < len(manual) and manual[i] < b
        if not checked and run and run[-1][1] == index - 1:
            run[-1] = (run[-1][0], index)
        elif not checked:
            run.append((index, index))
    gaps += [Gap(ReadingSource.MANUAL, slots[i][0], slots[j][1]) for i, j in run]
    if unit.logger_id:
        # The database compares each sample with the one before (LAG) and returns only gaps:
        # a fortnight of 5-minute samples never travels to Python.
        logged = (
            unit.readings.filter(source=ReadingSource.LOGGER, taken_at__gte=since, taken_at__lte=until)
            .annotate(previous=Window(Lag("taken_at"), order_by=F("taken_at").asc()))
            .annotate(gap=ExpressionWrapper(F("taken_at") - F("previous"), output_field=DurationField()))
            .filter(gap__gt=LOGGER_INTERVAL)
            .order_by("taken_at")
            .values_list("previous", "taken_at")
        )
        gaps += [Gap(ReadingSource.LOGGER, previous, when) for previous, when in logged]
    return sorted(gaps, key=lambda g: g.after, reverse=True)
