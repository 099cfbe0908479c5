"""The reports' reads: set-based aggregations over the stock ledger, sessions and the cold chain.

Each function takes ``locations`` (ids, or a ``values("id")`` subquery from
``clinic.scoping.location_ids_for``) and runs a fixed number of queries. ``*_rows`` functions
return lazy querysets so an export can stream them with ``.iterator()``; the page variants
materialise the same querysets.

Where stock data come from: a ledger row belongs to the location of its lot's storage unit
(a lot transferred between locations takes its history with it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from clinic.models import Notification
from clinic.reports.periods import add_months, as_month, day_start, last_months, month_end, period_bounds
from products.models import (
    Excursion,
    Lot,
    OpenedVial,
    StockMovement,
    StorageUnit,
    TemperatureReading,
)
from products.models.coldchain import ReadingSource
from products.models.stock import MovementKind, WasteReason

PRACTITIONER_VALUES = (
    "practitioner_id",
    "practitioner__first_name",
    "practitioner__last_name",
    "practitioner__username",
)
MONEY = DecimalField(max_digits=14, decimal_places=2)
# The ledger kinds that take stock out for patients: sealed vials used, vials opened to draw.
USAGE_KINDS = (MovementKind.USED, MovementKind.OPENED)


def _money(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


def _person(first: str | None, last: str | None, username: str | None) -> str:
    name = f"{first or ''} {last or ''}".strip()
    return name or username or "system"


def _usable_q(prefix: str = "") -> Q:
    today = timezone.localdate()
    return Q(
        **{
            f"{prefix}is_recalled": False,
            f"{prefix}is_quarantined": False,
            f"{prefix}expiry_date__gte": today,
        }
    )


# --- Stock ----------------------------------------------------------------------------------


def stock_by_product(locations) -> list[dict]:
    """Per product: sealed vials on hand (and how many usable), open vials, value. Two queries.

    Value = sealed vials on hand × the product's unit cost (open vials are not counted: their
    cost was taken when they were opened). A product without a unit cost has no value.
    """
    rows = list(
        Lot.objects.filter(storage_unit__location__in=locations, quantity_on_hand__gt=0)
        .values("product_id", "product__name", "product__unit_cost")
        .annotate(
            on_hand=Sum("quantity_on_hand"),
            usable=Coalesce(Sum("quantity_on_hand", filter=_usable_q()), 0),
            lots=Count("id"),
        )
        .order_by("product__name", "product_id")
    )
    open_vials = {
        r["lot__product_id"]: r
        for r in OpenedVial.objects.filter(
            lot__storage_unit__location__in=locations, discarded_at__isnull=True
        )
        .values("lot__product_id", "lot__product__name")
        .annotate(n=Count("id"))
        .order_by()
    }
    result = []
    seen = set()
    for row in rows:
        cost = row["product__unit_cost"]
        result.append(
            {
                "product_id": row["product_id"],
                "product": row["product__name"],
                "on_hand": row["on_hand"],
                "usable": row["usable"],
                "held": row["on_hand"] - row["usable"],
                "lots": row["lots"],
                "open_vials": open_vials[row["product_id"]]["n"] if row["product_id"] in open_vials else 0,
                "unit_cost": cost,
                "value": _money(cost * row["on_hand"]) if cost is not None else None,
            }
        )
        seen.add(row["product_id"])
    # Products whose last sealed vial is gone but which still have vials open.
    for pid, r in open_vials.items():
        if pid not in seen:
            result.append(
                {
                    "product_id": pid,
                    "product": r["lot__product__name"],
                    "on_hand": 0,
                    "usable": 0,
                    "held": 0,
                    "lots": 0,
                    "open_vials": r["n"],
                    "unit_cost": None,
                    "value": None,
                }
            )
    return sorted(result, key=lambda r: (r["product"], r["product_id"]))


def valuation_rows(locations):
    """Stock valuation per location and product (lazy; one query), for the report and export."""
    value = ExpressionWrapper(F("quantity_on_hand") * F("product__unit_cost"), output_field=MONEY)
    open_vials = (
        OpenedVial.objects.filter(
            lot__product=OuterRef("product_id"),
            lot__storage_unit__location=OuterRef("storage_unit__location_id"),
            discarded_at__isnull=True,
        )
        .values("lot__product")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        Lot.objects.filter(storage_unit__location__in=locations, quantity_on_hand__gt=0)
        .values(
            "storage_unit__location_id",
            "storage_unit__location__name",
            "product_id",
            "product__name",
            "product__unit_cost",
        )
        .annotate(
            on_hand=Sum("quantity_on_hand"),
            usable=Coalesce(Sum("quantity_on_hand", filter=_usable_q()), 0),
            lots=Count("id"),
            value=Sum(value),
            usable_value=Sum(value, filter=_usable_q()),
            open_vials=Coalesce(Subquery(open_vials), 0),
        )
        .order_by("storage_unit__location__name", "product__name", "product_id")
    )


def expiring_lots(locations, *, limit: int = 10) -> tuple[int, list[Lot]]:
    """Lots with stock expiring within EXPIRING_SOON_DAYS (or already past), first expiry first."""
    cutoff = timezone.localdate() + dt.timedelta(days=settings.EXPIRING_SOON_DAYS)
    qs = Lot.objects.filter(
        storage_unit__location__in=locations,
        quantity_on_hand__gt=0,
        is_recalled=False,
        expiry_date__lte=cutoff,
    )
    count = qs.count()
    lots = list(qs.select_related("product", "storage_unit__location").order_by("expiry_date", "id")[:limit])
    return count, lots


# --- Cold chain on the dashboard ------------------------------------------------------------


def open_excursions(locations, *, limit: int = 10) -> list[Excursion]:
    return list(
        Excursion.objects.filter(storage_unit__location__in=locations, closed_at__isnull=True)
        .select_related("storage_unit__location")
        .order_by("started_at")[:limit]
    )


def units_missing_checks(locations, *, now: dt.datetime | None = None) -> list[Mapping[str, Any]]:
    """Active units with no manual check in the last completed working half-day. One query.

    Uses the products app's rule for when checks are due (08–13, 13–18, Monday–Friday).
    """
    from products.services.readings import last_manual_check_periods

    now = now or timezone.now()
    slots = last_manual_check_periods(now, 1)
    manual = TemperatureReading.objects.filter(storage_unit=OuterRef("pk"), source=ReadingSource.MANUAL)
    start, end = slots[0]
    return list(
        StorageUnit.objects.filter(location__in=locations, is_active=True)
        .annotate(
            checked=Exists(manual.filter(taken_at__gte=start, taken_at__lt=end)),
            last_manual=Subquery(
                manual.filter(taken_at__lte=now).order_by("-taken_at").values("taken_at")[:1]
            ),
        )
        .filter(checked=False)
        .values("pk", "name", "location__name", "last_manual")
        .order_by("location__name", "name")
    )


def compliance_gaps(locations) -> dict | None:
    """Compliance gaps of the stock on the shelves: lots with stock that may not be used
    because their product is not cleared (classification, documents, approval) or the lot
    lacks its certificate. One query, through ``Lot.objects.with_clearance()`` (the products
    app's rules in SQL). If the products app offers ``compliance.compliance_gap_counts``,
    that is used instead; without either, None (the dashboard says so).
    """
    from products import compliance

    counter = getattr(compliance, "compliance_gap_counts", None)
    if counter is not None:
        return counter(locations)
    lots = Lot.objects.filter(storage_unit__location__in=locations, quantity_on_hand__gt=0, is_recalled=False)
    if not hasattr(lots, "with_clearance"):
        return None
    counts = lots.with_clearance().aggregate(
        lots=Count("id", filter=Q(is_cleared=False)),
        products=Count("product_id", distinct=True, filter=Q(is_cleared=False)),
    )
    return {"Lots in stock not cleared for use": counts["lots"], "Products concerned": counts["products"]}


def notification_counts(locations) -> dict:
    """Failed and awaiting-review outbox rows at these locations (or location-less). One query."""
    return Notification.objects.filter(Q(location__in=locations) | Q(location__isnull=True)).aggregate(
        failed=Count("id", filter=Q(status=Notification.Status.FAILED)),
        held=Count("id", filter=Q(status=Notification.Status.HELD)),
    )


# --- Sessions -------------------------------------------------------------------------------


def todays_sessions_by_practitioner(locations, *, today: dt.date | None = None) -> list[dict]:
    from treatments.models import Session, SessionStatus

    start, end = period_bounds(today or timezone.localdate(), today or timezone.localdate())
    rows = (
        Session.objects.filter(location__in=locations, starts_at__gte=start, starts_at__lt=end)
        .exclude(status=SessionStatus.CANCELLED)
        .values(
            "practitioner_id", "practitioner__first_name", "practitioner__last_name", "practitioner__username"
        )
        .annotate(
            total=Count("id"),
            booked=Count("id", filter=Q(status=SessionStatus.BOOKED)),
            in_clinic=Count("id", filter=Q(status__in=[SessionStatus.ARRIVED, SessionStatus.IN_TREATMENT])),
            done=Count("id", filter=Q(status=SessionStatus.COMPLETED)),
            no_show=Count("id", filter=Q(status=SessionStatus.NO_SHOW)),
        )
        .order_by("practitioner__last_name", "practitioner__first_name", "practitioner_id")
    )
    return [
        {
            "practitioner": _person(
                r["practitioner__first_name"], r["practitioner__last_name"], r["practitioner__username"]
            ),
            **{k: r[k] for k in ("total", "booked", "in_clinic", "done", "no_show")},
        }
        for r in rows
    ]


# --- Charts (12 months) ---------------------------------------------------------------------


def _monthly(date_field: str, months: list[dt.date], value) -> dict:
    """One filtered aggregate per month (``m0`` … ``m11``) on ``qs``'s groups.

    Month bounds are computed here in the clinic's time zone and compared with the indexed
    timestamp, which the database does far faster than truncating every row to its month.
    """
    bounds = [(day_start(m), day_start(add_months(m, 1))) for m in months]
    return {
        f"m{i}": value(Q(**{f"{date_field}__gte": a, f"{date_field}__lt": b}))
        for i, (a, b) in enumerate(bounds)
    }


def _series(months: list[dt.date], rows, label) -> dict:
    """Chart.js shape: month labels and one dataset per group, in label order."""
    datasets = [{"label": label(r), "data": [abs(r[f"m{i}"] or 0) for i in range(len(months))]} for r in rows]
    return {
        "labels": [m.strftime("%b %Y") for m in months],
        "datasets": sorted(datasets, key=lambda d: d["label"]),
    }


def usage_chart(locations, months: list[dt.date]) -> dict:
    """Vials taken out for treatments (used sealed + opened) per product per month. One query."""
    rows = (
        StockMovement.objects.filter(
            kind__in=USAGE_KINDS,
            lot__storage_unit__location__in=locations,
            created_at__gte=day_start(months[0]),
        )
        .values("lot__product_id", "lot__product__name")
        .annotate(**_monthly("created_at", months, lambda q: Sum("quantity", filter=q)))
        .order_by()
    )
    return _series(months, rows, lambda r: r["lot__product__name"])


SESSIONS_CHART_DAYS = 30


def sessions_chart(locations, *, days: int = SESSIONS_CHART_DAYS) -> dict:
    """Sessions per practitioner over the last ``days`` days, by outcome. One query.

    A workload view (who saw how many patients, who had no-shows) rather than a year's
    history: the recent weeks are what a manager acts on, and it reads a month of sessions.
    """
    from treatments.models import Session, SessionStatus

    today = timezone.localdate()
    start, end = period_bounds(today - dt.timedelta(days=days - 1), today)
    outcomes = [
        ("Completed", SessionStatus.COMPLETED),
        ("No-show", SessionStatus.NO_SHOW),
        ("Cancelled", SessionStatus.CANCELLED),
    ]
    rows: list[Mapping[str, Any]] = list(
        Session.objects.filter(location__in=locations, starts_at__gte=start, starts_at__lt=end)
        .values(
            "practitioner_id", "practitioner__first_name", "practitioner__last_name", "practitioner__username"
        )
        .annotate(**{status: Count("id", filter=Q(status=status)) for _, status in outcomes})
        .order_by("practitioner__last_name", "practitioner__first_name", "practitioner_id")
    )
    return {
        "labels": [
            _person(r["practitioner__first_name"], r["practitioner__last_name"], r["practitioner__username"])
            for r in rows
        ],
        "datasets": [{"label": label, "data": [r[status] for r in rows]} for label, status in outcomes],
        "days": days,
    }


# --- Waste ----------------------------------------------------------------------------------


def _opened_left_ml():
    return ExpressionWrapper(
        F("volume_ml") - F("volume_drawn_ml"), output_field=DecimalField(max_digits=12, decimal_places=2)
    )


def _opened_left_value():
    # The share of the vial thrown away, at the product's unit cost.
    return ExpressionWrapper(
        (F("volume_ml") - F("volume_drawn_ml")) * F("lot__product__unit_cost") / F("volume_ml"),
        output_field=MONEY,
    )


def waste_rows(locations, start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Waste per reason and product in [start, end): two queries, merged.

    - sealed vials written off (ledger ``wasted`` rows, with their reason): vials × unit cost;
    - opened vials discarded (reconstituted/thawed/opened, then thrown away): the volume left
      in them, valued as that share of a vial × unit cost.
    """
    sealed = (
        StockMovement.objects.filter(
            kind=MovementKind.WASTED,
            lot__storage_unit__location__in=locations,
            created_at__gte=start,
            created_at__lt=end,
        )
        .values("reason", "lot__product_id", "lot__product__name")
        .annotate(
            vials=-Sum("quantity"),
            value=-Sum(ExpressionWrapper(F("quantity") * F("lot__product__unit_cost"), output_field=MONEY)),
        )
        .order_by()
    )
    opened = (
        OpenedVial.objects.filter(
            lot__storage_unit__location__in=locations,
            discarded_at__gte=start,
            discarded_at__lt=end,
        )
        .values("discard_reason", "lot__product_id", "lot__product__name")
        .annotate(n=Count("id"), ml=Sum(_opened_left_ml()), value=Sum(_opened_left_value()))
        .order_by()
    )
    merged: dict[tuple, dict] = {}

    def row_for(reason: str, pid: int, name: str) -> dict:
        key = (reason, pid)
        if key not in merged:
            merged[key] = {
                "reason": reason,
                "reason_label": WasteReason(reason).label if reason in WasteReason.values else reason or "—",
                "product_id": pid,
                "product": name,
                "sealed_vials": 0,
                "sealed_value": Decimal("0"),
                "opened_vials": 0,
                "opened_ml": Decimal("0"),
                "opened_value": Decimal("0"),
            }
        return merged[key]

    for r in sealed:
        row = row_for(r["reason"], r["lot__product_id"], r["lot__product__name"])
        row["sealed_vials"] += r["vials"] or 0
        row["sealed_value"] += _money(r["value"])
    for o in opened:
        row = row_for(o["discard_reason"], o["lot__product_id"], o["lot__product__name"])
        row["opened_vials"] += o["n"]
        row["opened_ml"] += Decimal(o["ml"] or 0).quantize(Decimal("0.01"))
        row["opened_value"] += _money(o["value"])
    order = {value: i for i, value in enumerate(WasteReason.values)}
    rows = sorted(merged.values(), key=lambda r: (order.get(r["reason"], 99), r["product"] or ""))
    for row in rows:
        row["value"] = row["sealed_value"] + row["opened_value"]
    return rows


def waste_by_reason(rows: list[dict]) -> list[dict]:
    """Totals per reason (every reason listed, zero when nothing was wasted for it)."""
    totals = {
        reason: {
            "reason": reason,
            "reason_label": label,
            "sealed_vials": 0,
            "sealed_value": Decimal("0"),
            "opened_vials": 0,
            "opened_ml": Decimal("0"),
            "opened_value": Decimal("0"),
            "value": Decimal("0"),
        }
        for reason, label in WasteReason.choices
    }
    for row in rows:
        total = totals.setdefault(row["reason"], {**row, "product": None})
        if total is row:
            continue
        for key in ("sealed_vials", "sealed_value", "opened_vials", "opened_ml", "opened_value", "value"):
            total[key] += row[key]
    return list(totals.values())


# Short labels for chart axes (the tables use the full ones).
CHART_REASON_LABELS = {
    "beyond_use": "Beyond use",
    "drawn_unused": "Drawn, unused",
    "temperature": "Temperature",
}


def waste_chart(locations, months: list[dt.date]) -> dict:
    """Value wasted per reason over the months (one bar per reason). Two queries."""
    start, end = day_start(months[0]), day_start(month_end(months[-1]) + dt.timedelta(days=1))
    totals = waste_by_reason(waste_rows(locations, start, end))
    return {
        "labels": [CHART_REASON_LABELS.get(t["reason"], t["reason_label"]) for t in totals],
        "values": [float(t["value"]) for t in totals],
    }


# --- Usage ----------------------------------------------------------------------------------


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
        "practitioner": _person(r["actor__first_name"], r["actor__last_name"], r["actor__username"]),
        "used": r["used"],
        "opened": r["opened"],
        "vials": r["vials"],
        "value": _money(r["value"]) if r["value"] is not None else None,
    }


def usage_by_product(rows: list[dict]) -> list[dict]:
    totals: dict[str, dict] = {}
    for r in rows:
        t = totals.setdefault(r["product"], {"product": r["product"], "vials": 0, "value": Decimal("0")})
        t["vials"] += r["vials"]
        t["value"] += r["value"] or 0
    return sorted(totals.values(), key=lambda t: t["product"])


# --- Dashboard ------------------------------------------------------------------------------


def dashboard_data(locations) -> dict:
    """Everything on the manager dashboard. A fixed number of queries (14)."""
    months = last_months(12)
    expiring_count, expiring = expiring_lots(locations)
    stock = stock_by_product(locations)
    return {
        "stock": stock,
        "stock_value": sum((r["value"] for r in stock if r["value"] is not None), Decimal("0")),
        "stock_uncosted": [r["product"] for r in stock if r["value"] is None and r["on_hand"]],
        "expiring_count": expiring_count,
        "expiring": expiring,
        "expiring_days": settings.EXPIRING_SOON_DAYS,
        "excursions": open_excursions(locations),
        "missed_checks": units_missing_checks(locations),
        "compliance": compliance_gaps(locations),
        "notifications": notification_counts(locations),
        "today": todays_sessions_by_practitioner(locations),
        "charts": {
            "usage": usage_chart(locations, months),
            "waste": waste_chart(locations, months),
            "sessions": sessions_chart(locations),
        },
    }
