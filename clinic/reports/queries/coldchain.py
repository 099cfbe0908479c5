"""The cold chain on the managers' dashboard: open excursions, units missing their checks."""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from products.models import Excursion, StorageUnit, TemperatureReading
from products.models.coldchain import ReadingSource


def open_excursions(locations, *, limit: int = 10) -> list[Excursion]:
    return list(
        Excursion.objects.at(locations)
        .open()
        .select_related("storage_unit__location")
        .order_by("started_at")[:limit]
    )


def units_missing_checks(locations, *, now: dt.datetime | None = None) -> list[dict]:
    """Active units with no manual check in the last completed working half-day. One query.

    Uses the products app's rule for when checks are due (08–13, 13–18, Monday–Friday). A
    check recorded since that half-day ended counts too (the unit has been checked: nothing
    to do now), and a unit that did not exist when it began was not due one.
    """
    from products.services.checks import last_manual_check_periods

    now = now or timezone.now()
    slots = last_manual_check_periods(now, 1)
    manual = TemperatureReading.objects.filter(storage_unit=OuterRef("pk"), source=ReadingSource.MANUAL)
    start, _end = slots[0]
    return list(
        StorageUnit.objects.at(locations)
        .filter(is_active=True, created_at__lte=start)
        .annotate(
            checked=Exists(manual.filter(taken_at__gte=start, taken_at__lte=now)),
            last_manual=Subquery(
                manual.filter(taken_at__lte=now).order_by("-taken_at").values("taken_at")[:1]
            ),
        )
        .filter(checked=False)
        .values("pk", "name", "location__name", "last_manual")
        .order_by("location__name", "name")
    )
