"""The monthly cold-chain report of one storage unit, for inspections: every day's minimum and
maximum, readings, manual checks and minutes without logger data, the month's logger gaps, and
the excursions with their per-lot decisions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, Max, Min, Q
from django.db.models.functions import Coalesce, Greatest, Least, TruncDate
from django.utils import timezone

from clinic.reports.periods import day_start, month_end, period_bounds
from products.models import Excursion, StorageUnit, TemperatureReading
from products.models.coldchain import ReadingSource
from products.services.checks import Gap, LoggerInterval, logger_gaps, logger_interval

# --- Cold chain monthly report --------------------------------------------------------------


def coldchain_gaps(unit: StorageUnit, month: dt.date) -> tuple[LoggerInterval, list[Gap]]:
    """The month's missing logger data (``products.services.checks.logger_gaps``) and the
    interval it was judged by: gaps overlapping the month, oldest first, a gap reaching
    across the month's start or end whole. One query, two when the interval is learnt."""
    start, end = period_bounds(month, month_end(month))
    interval = logger_interval(unit, until=end)
    return interval, logger_gaps(unit, since=start, until=end, interval=interval)


def coldchain_days(unit: StorageUnit, month: dt.date, gaps: list[Gap] | None = None) -> list[dict]:
    """Every day of the month: lowest and highest temperature, readings, manual checks, and
    the minutes of missing logger data (the part of each logger gap, last sample before to
    first after, that falls in the local day: a day the clocks change has 23 or 25 hours).

    A manual check's own min/max (since the last check) count towards the day's extremes.
    One query, plus ``coldchain_gaps`` when ``gaps`` is not given; days without readings
    are listed empty (a gap an inspector should see).
    """
    if gaps is None:
        _, gaps = coldchain_gaps(unit, month)
    tz = timezone.get_current_timezone()
    start, end = period_bounds(month, month_end(month))
    rows = {
        r["day"]: r
        for r in TemperatureReading.objects.filter(storage_unit=unit, taken_at__gte=start, taken_at__lt=end)
        .annotate(day=TruncDate("taken_at", tzinfo=tz))
        .values("day")
        .annotate(
            lo=Min(Least("temperature_c", Coalesce("min_c", "temperature_c"))),
            hi=Max(Greatest("temperature_c", Coalesce("max_c", "temperature_c"))),
            n=Count("id"),
            manual=Count("id", filter=Q(source=ReadingSource.MANUAL)),
        )
        .order_by("day")
    }
    days = []
    day = month
    while day <= month_end(month):
        r = rows.get(day)
        lo = hi = None
        out_of_range = False
        if r:
            lo, hi = Decimal(r["lo"]).quantize(Decimal("0.01")), Decimal(r["hi"]).quantize(Decimal("0.01"))
            out_of_range = lo < unit.min_c or hi > unit.max_c
        next_day = day + dt.timedelta(days=1)
        missing = sum((g.overlap(day_start(day), day_start(next_day)) for g in gaps), dt.timedelta(0))
        days.append(
            {
                "day": day,
                "gap_minutes": round(missing.total_seconds() / 60),
                "lo": lo,
                "hi": hi,
                "n": r["n"] if r else 0,
                "manual": r["manual"] if r else 0,
                "out_of_range": out_of_range,
            }
        )
        day = next_day
    return days


def coldchain_excursions(unit: StorageUnit, month: dt.date) -> list[Excursion]:
    """Excursions overlapping the month, with their per-lot decisions. Two queries."""
    start, end = period_bounds(month, month_end(month))
    return list(
        Excursion.objects.filter(storage_unit=unit, started_at__lt=end)
        .filter(Q(closed_at__isnull=True) | Q(last_out_at__gte=start))
        .select_related("reviewed_by")
        .prefetch_related("lots__lot__product")
        .order_by("started_at")
    )
