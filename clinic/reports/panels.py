"""The managers' dashboard panel of the reports: the way in, with what waits for the manager."""

from __future__ import annotations

from clinic.reports.queries import notification_counts
from clinic.scoping import location_ids_for


def reports_panel(user) -> dict:
    """Failed and held messages at the manager's locations. One query."""
    return {"counts": notification_counts(location_ids_for(user))}
