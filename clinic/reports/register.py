"""The treatment register: every product given, per treatment line, from the treatment records.

One row per ``treatments.ProductLine`` (a lot given to a patient at a session): the base of
the register an inspector asks for, and of recalls. Lazy and streamable.
"""

from __future__ import annotations

from django.db.models import F
from django.utils import timezone

from clinic.reports.recall import line_display

REGISTER_FIELDS = (
    "id",
    "record_id",
    "record__session_id",
    "record__session__starts_at",
    "record__session__location__name",
    "record__session__treatment_type",
    "record__signed_at",
    "record__practitioner__first_name",
    "record__practitioner__last_name",
    "record__practitioner__username",
    "patient_id",
    "patient_first_name",
    "patient_last_name",
    "patient_dob",
    "lot_id",
    "lot__lot_number",
    "lot__expiry_date",
    "lot__product__name",
    "source",
    "vials",
    "volume_ml",
    "route",
    "areas",
)

REGISTER_HEADER = [
    "session_time",
    "location",
    "patient",
    "date_of_birth",
    "practitioner",
    "product",
    "lot",
    "lot_expiry",
    "amount",
    "volume_ml",
    "route",
    "areas",
    "signed",
    "record_id",
    "patient_id",
]


def register_rows(locations, start, end):
    """Product lines of sessions in [start, end) at ``locations``, oldest first (lazy)."""
    from treatments.models import ProductLine

    return (
        ProductLine.objects.filter(
            record__session__location__in=locations,
            record__session__starts_at__gte=start,
            record__session__starts_at__lt=end,
        )
        .annotate(
            patient_id=F("record__session__patient_id"),
            patient_first_name=F("record__session__patient__first_name"),
            patient_last_name=F("record__session__patient__last_name"),
            patient_dob=F("record__session__patient__date_of_birth"),
        )
        .values(*REGISTER_FIELDS)
        .order_by("record__session__starts_at", "id")
    )


def register_row(r: dict) -> dict:
    return line_display(r)


def register_csv_row(r: dict) -> tuple:
    line = register_row(r)
    return (
        timezone.localtime(r["record__session__starts_at"]).strftime("%Y-%m-%d %H:%M"),
        r["record__session__location__name"],
        line["patient"],
        r["patient_dob"].isoformat() if r["patient_dob"] else "",
        line["practitioner"],
        r["lot__product__name"],
        r["lot__lot_number"],
        r["lot__expiry_date"].isoformat(),
        line["amount"],
        r["volume_ml"],
        line["route_label"],
        line["area_labels"],
        timezone.localtime(r["record__signed_at"]).strftime("%Y-%m-%d %H:%M")
        if r["record__signed_at"]
        else "",
        r["record_id"],
        r["patient_id"],
    )
