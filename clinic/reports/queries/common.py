"""What the report queries share: money, people's names, the 12-month chart shape."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import DecimalField, Q

from clinic.reports.periods import add_months, day_start
from products.models.stock import MovementKind

PRACTITIONER_VALUES = (
    "practitioner_id",
    "practitioner__first_name",
    "practitioner__last_name",
    "practitioner__username",
)
MONEY = DecimalField(max_digits=14, decimal_places=2)
# The ledger kinds that take stock out for patients: sealed vials used, vials opened to draw.
USAGE_KINDS = (MovementKind.USED, MovementKind.OPENED)


def money(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


def person_name(first: str | None, last: str | None, username: str | None) -> str:
    name = f"{first or ''} {last or ''}".strip()
    return name or username or "system"


def monthly(date_field: str, months: list[dt.date], value) -> dict:
    """One filtered aggregate per month (``m0`` … ``m11``) on ``qs``'s groups.

    Month bounds are computed here in the clinic's time zone and compared with the indexed
    timestamp, which the database does far faster than truncating every row to its month.
    """
    bounds = [(day_start(m), day_start(add_months(m, 1))) for m in months]
    return {
        f"m{i}": value(Q(**{f"{date_field}__gte": a, f"{date_field}__lt": b}))
        for i, (a, b) in enumerate(bounds)
    }


def chart_series(months: list[dt.date], rows, label) -> dict:
    """Chart.js shape: month labels and one dataset per group, in label order."""
    datasets = [{"label": label(r), "data": [abs(r[f"m{i}"] or 0) for i in range(len(months))]} for r in rows]
    return {
        "labels": [m.strftime("%b %Y") for m in months],
        "datasets": sorted(datasets, key=lambda d: d["label"]),
    }
