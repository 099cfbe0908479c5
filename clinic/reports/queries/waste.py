"""Waste: sealed vials written off and opened vials discarded, per reason and product."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, DecimalField, ExpressionWrapper, F, Sum

from clinic.reports.periods import day_start, month_end
from clinic.reports.queries.common import MONEY, money
from products.models import OpenedVial, StockMovement
from products.models.stock import MovementKind, WasteReason


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
        OpenedVial.objects.at(locations)
        .filter(
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
        row["sealed_value"] += money(r["value"])
    for r in opened:
        row = row_for(r["discard_reason"], r["lot__product_id"], r["lot__product__name"])
        row["opened_vials"] += r["n"]
        row["opened_ml"] += Decimal(r["ml"] or 0).quantize(Decimal("0.01"))
        row["opened_value"] += money(r["value"])
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
