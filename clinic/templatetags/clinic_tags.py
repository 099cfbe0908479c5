from __future__ import annotations

from django import template
from django.utils.html import format_html

from clinic.audit import AuditAction
from clinic.notifications import NotificationKind
from clinic.phones import phone_invalid as _phone_invalid
from clinic.phones import phone_national as _phone_national

register = template.Library()


@register.simple_tag(takes_context=True)
def sort_th(context, label: str, key: str, current: str) -> str:
    """A sortable column header: a link that toggles ascending/descending on ``key``."""
    request = context["request"]
    params = request.GET.copy()
    params.pop("page", None)
    if current == key:
        params["sort"], state, arrow = f"-{key}", "ascending", " ▲"
    elif current == f"-{key}":
        params["sort"], state, arrow = key, "descending", " ▼"
    else:
        params["sort"], state, arrow = key, "none", ""
    return format_html(
        '<th scope="col" aria-sort="{}"><a href="?{}" class="sort-link">{}{}</a></th>',
        state,
        params.urlencode(),
        label,
        arrow,
    )


BADGES = {
    "pending": "secondary",
    "sending": "info",
    "sent": "success",
    "failed": "danger",
    "cancelled": "dark",
}


@register.inclusion_tag("includes/badge.html")
def status_badge(status: str, label: str | None = None, tone: str | None = None) -> dict:
    return {
        "label": label or str(status).replace("_", " ").capitalize(),
        "tone": tone or BADGES.get(str(status), "secondary"),
    }


@register.filter
def code_label(code: str) -> str:
    """'excursion.opened' → 'Excursion opened', 'reminder.appointment' → 'Reminder appointment'."""
    words = str(code).replace(".", " ").replace("_", " ").split()
    return " ".join(words).capitalize() if words else ""


@register.filter
def action_label(action: str) -> str:
    """The audit page's wording of a stored action: its ``AuditAction`` label."""
    return AuditAction(action).label if action in AuditAction.values else code_label(action)


@register.filter
def kind_label(kind: str) -> str:
    """The outbox page's wording of a stored kind: its ``NotificationKind`` label."""
    return NotificationKind(kind).label if kind in NotificationKind.values else code_label(kind)


@register.filter
def phone_national(value: str) -> str:
    """A stored number as the desk dials it (``020 7946 0018``); one kept as typed, unchanged."""
    return _phone_national(value or "")


@register.filter
def phone_invalid(value: str) -> bool:
    """A stored number that is not a valid E.164 number: shown with "check this number"."""
    return _phone_invalid(value or "")
