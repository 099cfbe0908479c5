"""The manager's dashboard panel: stock and expiry, open excursions. Fixed query count."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Q

from products.models import Excursion, Lot, ReorderLevel
from products.models.stock import expiring_soon_cutoff


def stock_panel(user) -> dict:
    lots = Lot.objects.for_user(user)
    counts = lots.usable().aggregate(
        usable=Count("pk"), expiring=Count("pk", filter=Q(expiry_date__lte=expiring_soon_cutoff()))
    )
    quarantined = lots.in_stock().filter(is_quarantined=True, is_recalled=False).count()
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
    """Gaps on the compliance page, counted with the same overview (a fixed number of queries)."""
    from products.compliance_report import compliance_overview

    overview = compliance_overview(user)
    return {
        "gaps": len(overview.gaps),
        "blocking": overview.blocking,
        "uncleared_products": sum(1 for row in overview.products if not row.cleared),
        "uncleared_lots": sum(1 for row in overview.lots if not row.cleared),
    }
