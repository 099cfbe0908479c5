"""The monthly cold-chain report of one storage unit, for inspections: every day's minimum and
maximum, readings and manual checks, and the excursions with their per-lot decisions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, Max, Min, Q
from django.db.models.functions import Coalesce, Greatest, Least, TruncDate
from django.utils import timezone

from clinic.reports.periods import month_end, period_bounds
from products.models import Excursion, StorageUnit, TemperatureReading
from products.models.coldchain import ReadingSource

# --- Cold chain monthly report --------------------------------------------------------------


def coldchain_days(unit: StorageUnit, month: dt.date) -> list[dict]:
    """Every day of the month: lowest and highest temperature, readings and manual checks.

    A manual check's own min/max (since the last check) count towards the day's extremes.
    One query; days without readings are listed empty (a gap an inspector should see).
    """
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
        days.append(
            {
                "day": day,
                "lo": lo,
                "hi": hi,
                "n": r["n"] if r else 0,
                "manual": r["manual"] if r else 0,
                "out_of_range": out_of_range,
            }
        )
        day += dt.timedelta(days=1)
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
