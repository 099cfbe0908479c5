"""The managers' dashboard panel of the reports (the way in, with what waits for the manager),
and the lot page's list of patients treated with the lot."""

from __future__ import annotations

from clinic.reports.queries import notification_counts
from clinic.scoping import location_ids_for


def reports_panel(user) -> dict:
    """Failed and held messages at the manager's locations. One query."""
    return {"counts": notification_counts(location_ids_for(user))}


#: Lines shown on the lot page; the recall look-up lists them all.
LOT_PAGE_LINES = 10


def lot_patients_section(user, lot) -> dict:
    """The latest treatments given with ``lot`` (any of its places) at the user's locations, and
    how many there are. Two queries, whatever the lot's use."""
    from clinic.reports import recall

    locations = location_ids_for(user)
    counts = recall.treated_counts(lot=lot, locations=locations)
    lines = [
        recall.line_display(r) for r in recall.treated_with(lot=lot, locations=locations)[:LOT_PAGE_LINES]
    ]
    return {"lot": lot, "counts": counts, "lines": lines, "more": max(counts["lines"] - len(lines), 0)}
