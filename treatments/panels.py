"""Dashboard panels (registered in TreatmentsConfig.ready); each runs a fixed number of queries."""

from __future__ import annotations

from django.utils import timezone

PANEL_LIMIT = 10


def front_desk_today(user) -> dict:
    from treatments.models import SessionStatus, TreatmentPlan
    from treatments.views.calendar import todays_sessions

    sessions = list(todays_sessions(user, limit=PANEL_LIMIT + 1))
    return {
        "sessions": sessions[:PANEL_LIMIT],
        "more": len(sessions) > PANEL_LIMIT,
        "due_count": TreatmentPlan.objects.for_user(user).due(timezone.localdate()).count(),
        "booked": SessionStatus.BOOKED,
        "today": timezone.localdate(),
    }


def practitioner_today(user) -> dict:
    from treatments.models import SessionStatus
    from treatments.views.calendar import todays_sessions

    sessions = list(todays_sessions(user, practitioner=user, limit=PANEL_LIMIT + 1))
    return {
        "sessions": sessions[:PANEL_LIMIT],
        "more": len(sessions) > PANEL_LIMIT,
        "booked": SessionStatus.BOOKED,
        "today": timezone.localdate(),
    }
