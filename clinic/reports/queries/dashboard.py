"""Everything on the managers' dashboard, from the subject modules."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from clinic.reports.periods import last_months
from clinic.reports.queries.coldchain import open_excursions, units_missing_checks
from clinic.reports.queries.notifications import notification_counts
from clinic.reports.queries.sessions import sessions_chart, todays_sessions_by_practitioner
from clinic.reports.queries.stock import compliance_gaps, expiring_lots, stock_by_product
from clinic.reports.queries.usage import usage_chart
from clinic.reports.queries.waste import waste_chart


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
