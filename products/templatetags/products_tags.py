from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone

from products.models import LotStatus
from products.models.stock import STATUS_TONES

register = template.Library()


@register.inclusion_tag("includes/badge.html")
def lot_badge(lot_or_status) -> dict:
    """The status badge of a lot (or a status code), the same colours on every page."""
    code = getattr(lot_or_status, "status", lot_or_status)
    status = LotStatus(code)
    return {"label": status.label, "tone": STATUS_TONES[status]}


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
