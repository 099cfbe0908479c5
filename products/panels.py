"""The manager's dashboard panel: stock and expiry, open excursions. Fixed query count."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Window

from products.models import Excursion, Lot, ReorderLevel


def stock_panel(user) -> dict:
    from products.compliance_report import count_where, shelf_summary

    lots = Lot.objects.for_user(user)
    # Counted from the one grouped pass over the shelf the compliance panel reads too (usable
    # and quarantined lots are all on the shelf: in stock, not recalled).
    summary = shelf_summary(user)
    counts = {"usable": count_where(summary, "usable"), "expiring": count_where(summary, "usable", "soon")}
    quarantined = count_where(summary, "held")
    # The counts are of usable lots (what charting offers); the list shows every available lot
    # that expires soon, an uncleared one with its "Not cleared" badge, so it is not forgotten.
    # The five are chosen first, then labelled: clearance asked of five lots, not planned for
    # every lot expiring soon (issue 19: the planner then hashes every certificate on file).
    first = lots.available().expiring_by().fefo()[:5]
    expiring = list(
        Lot.objects.filter(pk__in=first.values("pk")).with_clearance().fefo().select_related("product")
    )
    excursions = list(Excursion.objects.for_user(user).open().select_related("storage_unit__location")[:5])
    # Low stock (reorder levels below their minimum): the first five, each carrying how many
    # there are in all (a window count over the same rows): one query, apart from the above.
    low = ReorderLevel.objects.for_user(user).low().filter(product__is_active=True)
    low_levels = list(
        low.select_related("product", "location")
        .annotate(low_total=Window(Count("pk")))
        .order_by("product__name", "location__name")[:5]
    )
    low_count = low_levels[0].low_total if low_levels else 0
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
