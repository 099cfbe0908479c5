"""Temperature series for the storage-unit chart, downsampled in the database.

A year of 5-minute samples is about 105 000 rows per unit; the page must never ship them.
Readings are grouped into fixed time buckets by the database (min, max and mean per
bucket), so the browser receives at most ``MAX_BUCKETS`` rows whatever the period.
"""

from __future__ import annotations

import datetime as dt
import math

from django.db import connection, models, transaction
from django.db.models import Avg, Count, Max, Min
from django.db.models.functions import Coalesce, Greatest, Least, TruncDate
from django.utils import timezone

from products.models import StorageUnit, TemperatureReading
from products.services.checks import Gap, logger_gaps

MAX_BUCKETS = 500
MIN_BUCKET_SECONDS = 300
RANGES = {"1d": 1, "7d": 7, "30d": 30, "90d": 90, "365d": 365}
DEFAULT_RANGE = "7d"


class EpochBucket(models.Func):
    """floor(epoch seconds / size): the bucket number of a timestamp, computed in SQL.

    ``size`` is an int chosen by the server (never user input), inlined into the SQL.
    """

    output_field = models.BigIntegerField()

    def __init__(self, expression, size: int, **extra):
        self.size = int(size)
        super().__init__(expression, **extra)

    def as_postgresql(self, compiler, connection, **extra):
        # EXTRACT returns numeric; bigint division is much cheaper (epochs are positive).
        template = f"(EXTRACT(EPOCH FROM %(expressions)s)::bigint / {self.size})"
        return super().as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        # %%%%s becomes %%s here and strftime's %s after the backend's placeholder pass.
        template = f"(CAST(strftime('%%%%s', %(expressions)s) AS INTEGER) / {self.size})"
        return super().as_sql(compiler, connection, template=template, **extra)


def bucket_seconds(start: dt.datetime, end: dt.datetime, max_buckets: int = MAX_BUCKETS) -> int:
    span = max((end - start).total_seconds(), 1)
    return max(MIN_BUCKET_SECONDS, math.ceil(span / max_buckets / MIN_BUCKET_SECONDS) * MIN_BUCKET_SECONDS)


def temperature_series(
    unit: StorageUnit, *, start: dt.datetime, end: dt.datetime, gaps: list[Gap] | None = None
) -> dict:
    """Buckets of {t (ms), lo, hi, avg, n} plus the allowed band and the logger gaps
    ({start, end} in ms, drawn as "No logger data"), ready for Chart.js.

    ``gaps`` passes logger gaps already found (``logger_gaps``) for a period holding this one.
    """
    if gaps is None:
        gaps = logger_gaps(unit, since=start, until=end)
    size = bucket_seconds(start, end)
    rows = (
        TemperatureReading.objects.filter(storage_unit=unit, taken_at__gte=start, taken_at__lt=end)
        .annotate(bucket=EpochBucket("taken_at", size))
        .values("bucket")
        .annotate(lo=Min("temperature_c"), hi=Max("temperature_c"), avg=Avg("temperature_c"))
        .order_by("bucket")
    )
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # PostgreSQL guesses tens of thousands of buckets (it cannot know the expression
            # has a few hundred values) and sorts on disk; a little more memory for this one
            # query lets it hash-aggregate instead.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '32MB'")
        rows = list(rows)
    points = [
        {
            "t": int(r["bucket"]) * size * 1000,
            "lo": float(r["lo"]),
            "hi": float(r["hi"]),
            "avg": round(float(r["avg"]), 2),
        }
        for r in rows
    ]
    return {
        "points": points,
        "ticks": axis_ticks(start, end),
        "bucket_seconds": size,
        "min_c": float(unit.min_c),
        "max_c": float(unit.max_c),
        "start": int(start.timestamp() * 1000),
        "end": int(end.timestamp() * 1000),
        "gaps": [
            {"start": int(g.after.timestamp() * 1000), "end": int(g.before.timestamp() * 1000)}
            for g in gaps
            if g.before > start and g.after < end
        ],
    }


def axis_ticks(start: dt.datetime, end: dt.datetime) -> list[dict]:
    """The time axis's ticks, {v: ms, label}: one per hour up to two days, one per day (local
    midnight) up to a month, then one per week (Mondays), then one per month (the 1st).

    Chosen here, in the clinic's time zone, rather than by Chart.js, whose linear axis picks
    round numbers of milliseconds: uneven days, and dates skipped.
    """
    tz = timezone.get_current_timezone()
    span = end - start
    local_start, local_end = timezone.localtime(start, tz), timezone.localtime(end, tz)
    instants: list[dt.datetime] = []
    if span <= dt.timedelta(days=2):
        hour = local_start.replace(minute=0, second=0, microsecond=0)
        # Hours as instants (UTC steps), so the night clocks change has no missing or doubled tick.
        when = hour.astimezone(dt.UTC)
        while when <= end:
            if when >= start:
                instants.append(when)
            when += dt.timedelta(hours=1)
        fmt = "%H:%M"
    else:
        days = []
        day = local_start.date()
        while day <= local_end.date():
            days.append(day)
            day += dt.timedelta(days=1)
        if span > dt.timedelta(days=100):
            days = [d for d in days if d.day == 1]
            fmt = "%b %Y"
        elif span > dt.timedelta(days=31):
            days = [d for d in days if d.weekday() == 0]
            fmt = "%d %b"
        else:
            fmt = "%d %b"
        instants = [dt.datetime.combine(d, dt.time.min, tz) for d in days]
        instants = [i for i in instants if start <= i <= end]
    return [
        {"v": int(i.timestamp() * 1000), "label": timezone.localtime(i, tz).strftime(fmt)} for i in instants
    ]


def daily_extremes(unit: StorageUnit, *, days: int = 14) -> list[dict]:
    """Daily min/max (local days), newest first, computed in the database.

    A manual check also records the thermometer's minimum and maximum since the last check:
    the day's extremes are the least of every current *and* recorded minimum (greatest of
    every current and recorded maximum), as ``TemperatureReading.lowest``/``highest`` do per
    reading. Coalesce, because LEAST/GREATEST are NULL with a NULL argument on SQLite.
    """
    since = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(
        days=days - 1
    )
    return list(
        TemperatureReading.objects.filter(storage_unit=unit, taken_at__gte=since)
        .annotate(day=TruncDate("taken_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(
            lo=Min(Least("temperature_c", Coalesce("min_c", "temperature_c"))),
            hi=Max(Greatest("temperature_c", Coalesce("max_c", "temperature_c"))),
            n=Count("id"),
        )
        .order_by("-day")
    )
