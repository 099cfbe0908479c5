"""Recall look-ups: who was treated with a lot (or a product over a period).

``treated_with`` is the one place that knows where "patient X received lot Y" is recorded
(the treatment records' product lines, ``treatments.ProductLine``); the recall pages, the
export and the notification service all go through it.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet

from clinic.reports.periods import period_bounds

# The columns a recall list shows and exports (values() of ProductLine).
LINE_FIELDS = (
    "id",
    "lot_id",
    "lot__lot_number",
    "lot__product__name",
    "source",
    "vials",
    "volume_ml",
    "route",
    "areas",
    "record__session_id",
    "record__session__starts_at",
    "record__session__location_id",
    "record__session__location__name",
    "record__practitioner__first_name",
    "record__practitioner__last_name",
    "record__practitioner__username",
    "patient_id",
    "patient_first_name",
    "patient_last_name",
    "patient_dob",
    "patient_phone",
    "patient_email",
)


def treated_with(
    *,
    lot=None,
    product=None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    locations=None,
) -> QuerySet:
    """Product lines of treatments given with ``lot`` (or any lot of ``product`` between the
    dates), newest session first, as dicts of ``LINE_FIELDS``. Lazy: one query when read.

    ``locations`` narrows to sessions at those locations (the manager's scope); None means
    every location (used when preparing notifications: every patient must be told).
    """
    from treatments.models import ProductLine

    qs = ProductLine.objects.all()
    if lot is not None:
        qs = qs.filter(lot__in=lot.family())
    elif product is not None:
        qs = qs.filter(lot__product=product)
    else:
        return qs.none()
    if date_from or date_to:
        start, end = period_bounds(date_from or dt.date(2000, 1, 1), date_to or dt.date(2999, 12, 31))
        qs = qs.filter(record__session__starts_at__gte=start, record__session__starts_at__lt=end)
    if locations is not None:
        qs = qs.filter(record__session__location__in=locations)
    return (
        qs.annotate(
            patient_id=F("record__session__patient_id"),
            patient_first_name=F("record__session__patient__first_name"),
            patient_last_name=F("record__session__patient__last_name"),
            patient_dob=F("record__session__patient__date_of_birth"),
            patient_phone=F("record__session__patient__phone"),
            patient_email=F("record__session__patient__email"),
        )
        .values(*LINE_FIELDS)
        .order_by("-record__session__starts_at", "-id")
    )


@contextmanager
def index_friendly_plans():
    """Run the recall look-up's queries with PostgreSQL costing random reads as cheap (as they
    are once the tables are cached, and on SSDs). With the default cost the planner scans all
    treatment records to hash-join a few thousand lines; priced realistically it follows the
    primary keys, about twice as fast for a lot used in 5 000 treatments. ``SET LOCAL``: this
    transaction only (the products chart does the same with ``work_mem``)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL random_page_cost = 1.1")
        yield


def patients_to_notify(*, lot) -> QuerySet:
    """Every patient treated with ``lot`` at any location, once each, with their contact
    details and the location of their latest session with it (who will call them back)."""
    from treatments.models import Patient

    return (
        Patient.objects.filter(sessions__record__lines__lot__in=lot.family())
        .distinct()
        .select_related("location")
        .order_by("pk")
    )


def treated_counts(*, lot, locations) -> dict:
    """Lines and distinct patients treated with ``lot`` inside ``locations``, and patients
    treated with it elsewhere (whom the manager does not see). One query."""
    from django.db.models import Count

    from treatments.models import ProductLine

    inside = Q(record__session__location__in=locations)
    return ProductLine.objects.filter(lot__in=lot.family()).aggregate(
        lines=Count("id", filter=inside),
        patients=Count("record__session__patient_id", distinct=True, filter=inside),
        elsewhere=Count("record__session__patient_id", distinct=True, filter=~inside),
    )


def line_display(r: dict) -> dict:
    """A product line's values() dict with display text: patient, practitioner, amount, route."""
    from clinic.reports.queries.common import person_name
    from treatments.models import Area, LineSource, Route

    if r["source"] == LineSource.SEALED:
        amount = f"{r['vials']} vial{'s' if r['vials'] != 1 else ''} ({r['volume_ml']} mL)"
    else:
        amount = f"{r['volume_ml']} mL from an opened vial"
    return {
        **r,
        "patient": f"{r['patient_first_name']} {r['patient_last_name']}",
        "practitioner": person_name(
            r["record__practitioner__first_name"],
            r["record__practitioner__last_name"],
            r["record__practitioner__username"],
        ),
        "amount": amount,
        "route_label": Route(r["route"]).label if r["route"] in Route.values else r["route"],
        "area_labels": ", ".join(Area(a).label for a in (r["areas"] or []) if a in Area.values),
    }
