"""The reports' reads, by subject: set-based aggregations over the stock ledger, sessions and
the cold chain.

Each function takes ``locations`` (ids, or a ``values("id")`` subquery from
``clinic.scoping.location_ids_for``) and runs a fixed number of queries. ``*_rows`` functions
return lazy querysets so an export can stream them with ``.iterator()``; the page variants
materialise the same querysets. The rules themselves (what is usable, expiring, open) are the
apps' queryset methods; nothing here re-states them.

Where stock data come from: a ledger row belongs to the location of its lot's storage unit
(a lot transferred between locations takes its history with it).
"""

from __future__ import annotations

from clinic.reports.queries.coldchain import open_excursions, units_missing_checks
from clinic.reports.queries.common import person_name
from clinic.reports.queries.dashboard import dashboard_data
from clinic.reports.queries.notifications import notification_counts
from clinic.reports.queries.sessions import sessions_chart, todays_sessions_by_practitioner
from clinic.reports.queries.stock import compliance_gaps, expiring_lots, stock_by_product, valuation_rows
from clinic.reports.queries.usage import usage_by_product, usage_chart, usage_row, usage_rows
from clinic.reports.queries.waste import waste_by_reason, waste_chart, waste_rows

__all__ = [
    "compliance_gaps",
    "dashboard_data",
    "expiring_lots",
    "notification_counts",
    "open_excursions",
    "person_name",
    "sessions_chart",
    "stock_by_product",
    "todays_sessions_by_practitioner",
    "units_missing_checks",
    "usage_by_product",
    "usage_chart",
    "usage_row",
    "usage_rows",
    "valuation_rows",
    "waste_by_reason",
    "waste_chart",
    "waste_rows",
]
