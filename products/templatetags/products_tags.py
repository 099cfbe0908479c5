from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone

from products.models import LotStatus
from products.models.stock import STATUS_TONES, UNUSABLE

register = template.Library()


@register.inclusion_tag("products/includes/lot_badge.html")
def lot_badge(lot_or_status, cleared=None) -> dict:
    """The status badge of a lot (or a status code), the same colours on every page.

    A lot not cleared for use (regulatory clearance: ``cleared`` False, or the lot's
    ``is_cleared`` from ``Lot.objects.with_clearance()``) is never labelled "Available" or
    "Expiring soon": it shows "Not cleared" instead. A status that already forbids use
    (expired, quarantined...) keeps its badge, with "Not cleared" beside it.
    """
    if isinstance(lot_or_status, str):
        code = lot_or_status
    else:
        # The SQL twin when the list annotated it, else the Python rule.
        code = getattr(lot_or_status, "status_code", None) or lot_or_status.status
        if cleared is None:
            cleared = getattr(lot_or_status, "is_cleared", None)
    status = LotStatus(code)
    not_cleared = cleared is False
    if not_cleared and status not in UNUSABLE:
        return {"label": "Not cleared", "tone": "danger", "also_not_cleared": False}
    return {"label": status.label, "tone": STATUS_TONES[status], "also_not_cleared": not_cleared}


@register.filter
def time_left(moment: dt.datetime) -> str:
    """“3 h 20 min left”, or “past” once the moment has gone."""
    seconds = int((moment - timezone.now()).total_seconds())
    if seconds <= 0:
        return "past its beyond-use time"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h left"
    if hours:
        return f"{hours} h {minutes} min left"
    return f"{minutes} min left"


@register.filter
def duration(value: dt.timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days} d"] if days else []
    if hours or days:
        parts.append(f"{hours} h")
    parts.append(f"{minutes} min")
    return " ".join(parts)


@register.filter
def minutes_span(value: int | None) -> str:
    """Whole minutes as "1 h 5 min" (exposure times are stored in minutes)."""
    return duration(dt.timedelta(minutes=value or 0))
