"""Dates and months in the clinic's time zone, shared by the report queries and forms."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def day_start(day: dt.date) -> dt.datetime:
    """Local midnight at the start of ``day`` (aware)."""
    return dt.datetime.combine(day, dt.time.min, timezone.get_current_timezone())


def period_bounds(date_from: dt.date, date_to: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of an inclusive date range, as aware datetimes."""
    return day_start(date_from), day_start(date_to + dt.timedelta(days=1))


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month_end(day: dt.date) -> dt.date:
    return add_months(day, 1) - dt.timedelta(days=1)


def last_months(count: int, today: dt.date | None = None) -> list[dt.date]:
    """First days of the last ``count`` months, oldest first, the current month last."""
    this = month_start(today or timezone.localdate())
    return [add_months(this, -i) for i in range(count - 1, -1, -1)]


def as_month(value) -> dt.date | None:
    """A TruncMonth result (date or datetime, aware or not) as the month's first day."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        value = value.date()
    return value.replace(day=1)
