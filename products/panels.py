"""The manager's dashboard panel: stock and expiry, open excursions. Fixed query count."""

from __future__ import annotations

from django.conf import settings
from django.db.models import BooleanField, Count, ExpressionWrapper, Q

from products.models import Excursion, Lot, ReorderLevel
from products.models.stock import expiring_soon_cutoff, usable_condition


def stock_panel(user) -> dict:
    lots = Lot.objects.for_user(user)
    # One pass over the lots in stock, grouped by three yes/no questions (a few rows), so the
    # usable rule (spelt ``bulk`` for a count) is evaluated once per lot.
    flags = {
        "is_usable": usable_condition(bulk=True),
        "soon": Q(expiry_date__lte=expiring_soon_cutoff()),
        "held": Q(is_quarantined=True, is_recalled=False),
    }
    groups = (
        lots.in_stock()
        .annotate(**{k: ExpressionWrapper(q, output_field=BooleanField()) for k, q in flags.items()})
        .order_by()
        .values(*flags)
        .annotate(n=Count("pk"))
    )
    counts = {"usable": 0, "expiring": 0}
    quarantined = 0
    for row in groups:
        if row["is_usable"]:
            counts["usable"] += row["n"]
            counts["expiring"] += row["n"] if row["soon"] else 0
        quarantined += row["n"] if row["held"] else 0
    # The counts are of usable lots (what charting offers); the list shows every available lot
    # that expires soon, an uncleared one with its "Not cleared" badge, so it is not forgotten.
    expiring = list(lots.available().expiring_by().with_clearance().fefo().select_related("product")[:5])
    excursions = list(Excursion.objects.for_user(user).open().select_related("storage_unit__location")[:5])
    # Low stock (reorder levels below their minimum): its own two queries, apart from the above.
    low = ReorderLevel.objects.for_user(user).low().filter(product__is_active=True)
    low_count = low.count()
    low_levels = list(
        low.select_related("product", "location").order_by("product__name", "location__name")[:5]
    )
    return {
        "low_count": low_count,
        "low_levels": low_levels,
        "usable_lots": counts["usable"],
        "expiring_count": counts["expiring"],
        "quarantined_count": quarantined,
        "expiring": expiring,
        "excursions": excursions,
        "days": settings.EXPIRING_SOON_DAYS,
    }


def compliance_panel(user) -> dict:
    """Gaps on the compliance page, counted as the page counts them (in SQL for lots: a fixed
    number of queries and no row per lot)."""
    from products.compliance_report import compliance_counts

    counts = compliance_counts(user)
    return {
        "gaps": counts.gaps,
        "blocking": counts.blocking,
        "uncleared_products": counts.uncleared_products,
        "uncleared_lots": counts.uncleared_lots,
    }
