"""Clinic wall time and real instants, across the nights the clocks change.

Python's arithmetic and equality on zone-aware datetimes are wall-clock: ``01:30 BST + 1 hour``
is ``02:30`` with the same zone, which is GMT that night, two real hours on; and an aware
datetime with ``fold=1`` never equals the same instant in another zone. So durations are added
and times compared in UTC, and a wall time typed or offered is turned into the instants it
names first.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def wall_instants(day: dt.date, time: dt.time, zone: dt.tzinfo | None = None) -> list[dt.datetime]:
    """Every UTC instant whose clinic wall time is ``day`` at ``time``: none in the hour skipped
    when the clocks go forward, two in the hour repeated when they go back, else one."""
    zone = zone or timezone.get_current_timezone()
    wall = dt.datetime.combine(day, time)
    found: list[dt.datetime] = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(dt.UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == wall and instant not in found:
            found.append(instant)
    return found


def after(instant: dt.datetime, duration: dt.timedelta) -> dt.datetime:
    """The instant ``duration`` of real time after ``instant`` (in UTC)."""
    return instant.astimezone(dt.UTC) + duration
