"""Missed checks: manual checks due each working half-day, and gaps in a data logger's log.

The logger rule is written once, in ``logger_gaps_by_unit`` (``logger_gaps`` for one unit):
the unit page, its chart, the monthly cold-chain report and the logger-gap sweep all call it.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, models
from django.db.models import F, Q, Subquery, Window
from django.db.models.functions import Coalesce, Lag
from django.utils import timezone

from products.models import StorageUnit, TemperatureReading
from products.models.coldchain import ReadingSource

# The interval assumed for a logger that has no interval set and too few samples to learn one.
LOGGER_INTERVAL = dt.timedelta(minutes=30)
# Consecutive samples further apart than this many intervals have at least one sample missing
# between them; under it is jitter (a logger writing at 5:00, 10:04, 14:58 misses nothing).
GAP_FACTOR = 1.5
# An unset interval is learnt from the samples of this many days before the period's end:
# a month of 5-minute samples is ~9 000 rows read from the (unit, time, source) index.
LEARN_WINDOW = dt.timedelta(days=35)
MANUAL_WORKING_HOURS = (8, 18)  # a working day, local time, Monday to Friday


# --- Logger gaps -----------------------------------------------------------------------------


class EpochSeconds(models.Func):
    """Whole seconds since 1970 (UTC) of a timestamp, in SQL: integer arithmetic that both
    databases do alike, with no time zone or wall clock involved."""

    output_field = models.BigIntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        return super().as_sql(
            compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)::bigint", **extra
        )

    def as_sqlite(self, compiler, connection, **extra):
        # %%%%s becomes %%s here and strftime's %s after the backend's placeholder pass.
        return super().as_sql(
            compiler, connection, template="CAST(strftime('%%%%s', %(expressions)s) AS INTEGER)", **extra
        )


def _after_previous(expression):
    """``expression`` of the unit's previous logger sample (LAG, per unit, in time order)."""
    return Window(Lag(expression), partition_by=F("storage_unit_id"), order_by=F("taken_at").asc())


def _spacing():
    """Seconds since the unit's previous logger sample; NULL for the first one."""
    return EpochSeconds("taken_at") - _after_previous(EpochSeconds("taken_at"))


@dataclass(frozen=True)
class LoggerInterval:
    """How often a unit's logger records, and where that figure came from."""

    value: dt.timedelta
    how: str  # "set" on the unit, "learnt" from its samples, or the "default"

    @property
    def minutes(self) -> int:
        return int(self.value.total_seconds() // 60)

    @property
    def gap_after(self) -> dt.timedelta:
        """Samples further apart than this have at least one sample missing between them."""
        return self.value * GAP_FACTOR

    @property
    def label(self) -> str:
        where = {
            "set": "set on the unit",
            "learnt": "learnt from its samples",
            "default": "assumed: too few samples to learn it",
        }
        return f"{self.minutes}-minute interval ({where.get(self.how, self.how)})"


def logger_intervals(units: Iterable[StorageUnit], *, until: dt.datetime) -> dict[int, LoggerInterval]:
    """Each unit's logger interval: ``logger_interval`` when set, else the spacing (in whole
    minutes) seen most often between consecutive logger samples in the ``LEARN_WINDOW``
    before ``until`` (ties go to the shorter), else ``LOGGER_INTERVAL``.

    One query for all the units without a set interval, none when every one has it; the
    database computes and counts the spacings, Python receives a few rows per unit.
    """
    units = list(units)
    found = {u.pk: LoggerInterval(u.logger_interval, "set") for u in units if u.logger_interval}
    unknown = [u.pk for u in units if u.pk not in found]
    if unknown:
        spaced = (
            TemperatureReading.objects.filter(
                storage_unit_id__in=unknown,
                source=ReadingSource.LOGGER,
                taken_at__gt=until - LEARN_WINDOW,
                taken_at__lte=until,
            )
            .annotate(spacing=_spacing())
            .order_by()
            .values("storage_unit_id", "spacing")
        )
        sql, params = spaced.query.sql_with_params()
        # The ORM cannot group by a window's result, so the windowed rows are grouped by an
        # outer query: one row per unit and spacing, with how often it occurs. ``sql`` is the
        # ORM's own compiled query; every value stays a parameter.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT storage_unit_id, ROUND(spacing / 60.0) AS minutes, COUNT(*) AS n "  # noqa: S608
                f"FROM ({sql}) spaced WHERE spacing IS NOT NULL GROUP BY storage_unit_id, minutes",
                params,
            )
            counted = cursor.fetchall()
        best: dict[int, tuple[int, int]] = {}
        for unit_id, minutes, n in counted:
            minutes = max(int(minutes), 1)  # a sub-minute logger is judged as a 1-minute one
            if unit_id not in best or (n, -minutes) > (best[unit_id][1], -best[unit_id][0]):
                best[unit_id] = (minutes, n)
        for unit_id in unknown:
            if unit_id in best:
                found[unit_id] = LoggerInterval(dt.timedelta(minutes=best[unit_id][0]), "learnt")
            else:
                found[unit_id] = LoggerInterval(LOGGER_INTERVAL, "default")
    return found


def logger_interval(unit: StorageUnit, *, until: dt.datetime | None = None) -> LoggerInterval:
    """One unit's logger interval (see ``logger_intervals``)."""
    return logger_intervals([unit], until=until or timezone.now())[unit.pk]


def logger_gaps_by_unit(
    units: Iterable[StorageUnit],
    *,
    since: dt.datetime,
    until: dt.datetime,
    intervals: dict[int, LoggerInterval] | None = None,
) -> dict[int, list[Gap]]:
    """Missing logger data: consecutive logger samples further apart than ``GAP_FACTOR`` (1.5)
    times the unit's interval, so one or more samples are missing between them. A 5-minute
    log missing three hours is one gap, from the last sample before to the first after.

    Gaps overlapping [since, until], oldest first per unit; one reaching across either end
    is found whole (the sample just outside the period is included). Manual checks do not
    fill a logger gap. A unit without logger samples has no logger gaps.

    The database compares each sample with the one before (LAG) and returns only gaps: a
    month of 5-minute samples never travels to Python. One query, plus one to learn the
    intervals not given in ``intervals`` or set on the unit.
    """
    units = list(units)
    if not units:
        return {}
    intervals = dict(intervals or {})
    missing = [u for u in units if u.pk not in intervals]
    if missing:
        intervals.update(logger_intervals(missing, until=until))
    threshold = {u.pk: int(intervals[u.pk].gap_after.total_seconds()) for u in units}
    logger = TemperatureReading.objects.filter(source=ReadingSource.LOGGER)
    period = Q()
    for unit in units:
        # The samples just outside the period (uncorrelated subqueries: each runs once).
        before = logger.filter(storage_unit=unit, taken_at__lt=since).order_by("-taken_at")
        after = logger.filter(storage_unit=unit, taken_at__gt=until).order_by("taken_at")
        period |= Q(
            storage_unit=unit,
            taken_at__gte=Coalesce(Subquery(before.values("taken_at")[:1]), since),
            taken_at__lte=Coalesce(Subquery(after.values("taken_at")[:1]), until),
        )
    rows = (
        logger.filter(period)
        .annotate(previous=_after_previous("taken_at"), spacing=_spacing())
        # The least threshold in SQL (exact for one unit); each unit's own below.
        .filter(spacing__gt=min(threshold.values()))
        .order_by("storage_unit_id", "taken_at")
        .values_list("storage_unit_id", "previous", "taken_at", "spacing")
    )
    gaps: dict[int, list[Gap]] = defaultdict(list)
    for unit_id, previous, taken_at, spacing in rows:
        if spacing > threshold[unit_id]:
            gaps[unit_id].append(Gap(ReadingSource.LOGGER, previous, taken_at, intervals[unit_id]))
    return {u.pk: gaps.get(u.pk, []) for u in units}


def logger_gaps(
    unit: StorageUnit,
    *,
    since: dt.datetime,
    until: dt.datetime,
    interval: LoggerInterval | None = None,
) -> list[Gap]:
    """One unit's logger gaps overlapping [since, until], oldest first (``logger_gaps_by_unit``)."""
    intervals = {unit.pk: interval} if interval else None
    return logger_gaps_by_unit([unit], since=since, until=until, intervals=intervals)[unit.pk]


# --- Missed checks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    """A period without the expected checks or samples: from the last one before it
    (``after``) to the first one after it (``before``). Logger gaps carry the interval
    they were judged against."""

    source: str
    after: dt.datetime
    before: dt.datetime
    interval: LoggerInterval | None = None

    @property
    def duration(self) -> dt.timedelta:
        # In UTC: two local times of one zone subtract as wall times, an hour off on the
        # nights the clocks change.
        return self.before.astimezone(dt.UTC) - self.after.astimezone(dt.UTC)

    def overlap(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        """How much of the gap lies within [start, end) (e.g. one local day of a report)."""
        a = max(self.after.astimezone(dt.UTC), start.astimezone(dt.UTC))
        b = min(self.before.astimezone(dt.UTC), end.astimezone(dt.UTC))
        return max(b - a, dt.timedelta(0))


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


def missed_checks(
    unit: StorageUnit,
    *,
    since: dt.datetime,
    until: dt.datetime | None = None,
    logger: list[Gap] | None = None,
) -> list[Gap]:
    """Gaps longer than expected, newest first: manual checks half a working day apart, and
    logger samples further apart than 1.5 intervals (``logger_gaps``).

    ``logger`` passes logger gaps already found for a period holding this one (the unit
    page finds them once for its chart and this list). Nothing is missed before the unit
    existed (``created_at``)."""
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
    if logger is None:
        logger = logger_gaps(unit, since=since, until=until)
    gaps += [g for g in logger if g.before > since and g.after < until]
    return sorted(gaps, key=lambda g: g.after, reverse=True)
