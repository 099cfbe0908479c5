"""Dashboard panels per role, and page sections: the registries. Apps register panels here;
the dashboard view renders them. A section is a block an upper layer adds to a lower layer's
page (the lot page lists the patients treated with it, which products may not query).

A panel is a template plus a function returning its context. Panels must run a fixed
number of queries whatever the data size (the dashboard tests count them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clinic.roles import FRONT_DESK, MANAGER, PRACTITIONER


@dataclass(frozen=True)
class Panel:
    roles: tuple[str, ...]
    template: str
    context: Callable[[object], dict]


def _alerts(user) -> dict:
    from clinic.models import Notification

    alerts = list(
        Notification.objects.filter(recipient_user=user, channel="in_app", read_at__isnull=True).order_by(
            "-created_at"
        )[:5]
    )
    return {"alerts": alerts}


# The foundation's own panel; the reports panel is registered by ClinicConfig.ready() from
# clinic.reports (the top layer), the apps' panels by theirs.
PANELS: list[Panel] = [
    Panel((FRONT_DESK, PRACTITIONER, MANAGER), "clinic/panels/alerts.html", _alerts),
]


def register(panel: Panel) -> None:
    PANELS.append(panel)


def panels_for(user, role_key: str) -> list[dict]:
    return [{"template": p.template, **p.context(user)} for p in PANELS if role_key in p.roles]


@dataclass(frozen=True)
class Section:
    """A block on ``page`` for users holding ``permission``; ``context(user, obj)`` runs a fixed
    number of queries."""

    page: str
    permission: str
    template: str
    context: Callable[[object, object], dict]


SECTIONS: list[Section] = []


def register_section(section: Section) -> None:
    SECTIONS.append(section)


def sections_for(page: str, user, obj) -> list[dict]:
    return [
        {"template": s.template, **s.context(user, obj)}
        for s in SECTIONS
        if s.page == page and user.has_perm(s.permission)
    ]
