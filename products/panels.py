"""The manager's dashboard panel: stock and expiry, open excursions. Fixed query count."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Q

from products.models import Excursion, Lot
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
    return {
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
