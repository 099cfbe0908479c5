"""Stock on the shelves: per product, valuation, what expires soon, compliance gaps.

The rules come from the products app's lot queryset (``usable``, ``on_shelf``,
``expiring_by``, ``stock_by_product``, ``with_clearance``), so the reports count exactly what
charting offers. Each function runs a fixed number of queries.
"""

from __future__ import annotations

from django.db.models import Count, ExpressionWrapper, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce

from clinic.reports.queries.common import MONEY, money
from products.models import Lot, OpenedVial
from products.models.stock import usable_condition


def stock_by_product(locations) -> list[dict]:
    """Per product: sealed vials on hand (and how many usable), open vials, value. Two queries.

    Value = sealed vials on hand × the product's unit cost (open vials are not counted: their
    cost was taken when they were opened). A product without a unit cost has no value.
    """
    rows = list(
        Lot.objects.at(locations)
        .stock_by_product("product__name", "product__unit_cost")
        .order_by("product__name", "product_id")
    )
    open_vials = {
        r["lot__product_id"]: r
        for r in OpenedVial.objects.at(locations)
        .still_open()
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
                "value": money(cost * row["on_hand"]) if cost is not None else None,
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
        OpenedVial.objects.still_open()
        .filter(
            lot__product=OuterRef("product_id"),
            lot__storage_unit__location=OuterRef("storage_unit__location_id"),
        )
        .values("lot__product")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        Lot.objects.at(locations)
        .stock_by_product(
            "storage_unit__location_id", "storage_unit__location__name", "product__name", "product__unit_cost"
        )
        .annotate(
            value=Sum(value),
            usable_value=Sum(value, filter=usable_condition(bulk=True)),
            open_vials=Coalesce(Subquery(open_vials), 0),
        )
        .order_by("storage_unit__location__name", "product__name", "product_id")
    )


def expiring_lots(locations, *, limit: int = 10) -> tuple[int, list[Lot]]:
    """Lots on the shelf expiring within EXPIRING_SOON_DAYS (or already past), first expiry first:
    the ones a manager must use first or take out."""
    qs = Lot.objects.at(locations).on_shelf().expiring_by()
    count = qs.count()
    lots = list(qs.select_related("product", "storage_unit__location").order_by("expiry_date", "id")[:limit])
    return count, lots


def compliance_gaps(locations) -> dict:
    """Lots on the shelf that may not be used because their product is not cleared
    (classification, documents, approval) or the lot lacks its certificate. One query."""
    counts = (
        Lot.objects.at(locations)
        .on_shelf()
        .with_clearance()
        .aggregate(
            lots=Count("id", filter=Q(is_cleared=False)),
            products=Count("product_id", distinct=True, filter=Q(is_cleared=False)),
        )
    )
    return {"Lots in stock not cleared for use": counts["lots"], "Products concerned": counts["products"]}
