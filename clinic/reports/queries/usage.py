"""Usage: vials taken out for treatments, per month, product and person."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import ExpressionWrapper, F, Q, Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from clinic.reports.periods import as_month, day_start
from clinic.reports.queries.common import MONEY, USAGE_KINDS, chart_series, money, monthly, person_name
from products.models import StockMovement
from products.models.stock import MovementKind


def usage_chart(locations, months: list[dt.date]) -> dict:
    """Vials taken out for treatments (used sealed + opened) per product per month. One query."""
    rows = (
        StockMovement.objects.filter(
            kind__in=USAGE_KINDS,
            lot__storage_unit__location__in=locations,
            created_at__gte=day_start(months[0]),
        )
        .values("lot__product_id", "lot__product__name")
        .annotate(**monthly("created_at", months, lambda q: Sum("quantity", filter=q)))
        .order_by()
    )
    return chart_series(months, rows, lambda r: r["lot__product__name"])


def usage_rows(locations, start: dt.datetime, end: dt.datetime):
    """Vials taken out for treatments per month, product and person (lazy; one query).

    From the stock ledger: ``used`` rows (sealed vials used in a treatment) and ``opened``
    rows (a vial reconstituted/thawed/opened to draw doses from), by the person who moved the
    stock. Value = vials × the product's unit cost.
    """
    tz = timezone.get_current_timezone()
    return (
        StockMovement.objects.filter(
            kind__in=USAGE_KINDS,
            lot__storage_unit__location__in=locations,
            created_at__gte=start,
            created_at__lt=end,
        )
        .annotate(month=TruncMonth("created_at", tzinfo=tz))
        .values(
            "month",
            "lot__product_id",
            "lot__product__name",
            "actor_id",
            "actor__first_name",
            "actor__last_name",
            "actor__username",
        )
        .annotate(
            used=Coalesce(-Sum("quantity", filter=Q(kind=MovementKind.USED)), 0),
            opened=Coalesce(-Sum("quantity", filter=Q(kind=MovementKind.OPENED)), 0),
            vials=-Sum("quantity"),
            value=-Sum(ExpressionWrapper(F("quantity") * F("lot__product__unit_cost"), output_field=MONEY)),
        )
        .order_by("month", "lot__product__name", "actor__last_name", "actor__first_name", "actor_id")
    )


def usage_row(r: dict) -> dict:
    return {
        "month": as_month(r["month"]),
        "product": r["lot__product__name"],
        "practitioner": person_name(r["actor__first_name"], r["actor__last_name"], r["actor__username"]),
        "used": r["used"],
        "opened": r["opened"],
        "vials": r["vials"],
        "value": money(r["value"]) if r["value"] is not None else None,
    }


def usage_by_product(rows: list[dict]) -> list[dict]:
    totals: dict[str, dict] = {}
    for r in rows:
        t = totals.setdefault(r["product"], {"product": r["product"], "vials": 0, "value": Decimal("0")})
        t["vials"] += r["vials"]
        t["value"] += r["value"] or 0
    return sorted(totals.values(), key=lambda t: t["product"])
