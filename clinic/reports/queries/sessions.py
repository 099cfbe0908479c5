"""Sessions: today's per practitioner, and the last weeks' outcomes chart."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q
from django.utils import timezone

from clinic.reports.periods import period_bounds
from clinic.reports.queries.common import PRACTITIONER_VALUES, person_name
from treatments.models import Session, SessionStatus


def todays_sessions_by_practitioner(locations, *, today: dt.date | None = None) -> list[dict]:
    start, end = period_bounds(today or timezone.localdate(), today or timezone.localdate())
    rows = (
        Session.objects.at(locations)
        .filter(starts_at__gte=start, starts_at__lt=end)
        .exclude(status=SessionStatus.CANCELLED)
        .values(*PRACTITIONER_VALUES)
        .annotate(
            total=Count("id"),
            booked=Count("id", filter=Q(status=SessionStatus.BOOKED)),
            in_clinic=Count("id", filter=Q(status__in=[SessionStatus.ARRIVED, SessionStatus.IN_TREATMENT])),
            done=Count("id", filter=Q(status=SessionStatus.COMPLETED)),
            no_show=Count("id", filter=Q(status=SessionStatus.NO_SHOW)),
        )
        .order_by("practitioner__last_name", "practitioner__first_name", "practitioner_id")
    )
    return [
        {
            "practitioner": person_name(
                r["practitioner__first_name"], r["practitioner__last_name"], r["practitioner__username"]
            ),
            **{k: r[k] for k in ("total", "booked", "in_clinic", "done", "no_show")},
        }
        for r in rows
    ]


SESSIONS_CHART_DAYS = 30


def sessions_chart(locations, *, days: int = SESSIONS_CHART_DAYS) -> dict:
    """Sessions per practitioner over the last ``days`` days, by outcome. One query.

    A workload view (who saw how many patients, who had no-shows) rather than a year's
    history: the recent weeks are what a manager acts on, and it reads a month of sessions.
    """
    today = timezone.localdate()
    start, end = period_bounds(today - dt.timedelta(days=days - 1), today)
    outcomes = [
        ("Completed", SessionStatus.COMPLETED),
        ("No-show", SessionStatus.NO_SHOW),
        ("Cancelled", SessionStatus.CANCELLED),
    ]
    rows = list(
        Session.objects.at(locations)
        .filter(starts_at__gte=start, starts_at__lt=end)
        .values(*PRACTITIONER_VALUES)
        .annotate(**{status: Count("id", filter=Q(status=status)) for _, status in outcomes})
        .order_by("practitioner__last_name", "practitioner__first_name", "practitioner_id")
    )
    return {
        "labels": [
            person_name(
                r["practitioner__first_name"], r["practitioner__last_name"], r["practitioner__username"]
            )
            for r in rows
        ],
        "datasets": [{"label": label, "data": [r[status] for r in rows]} for label, status in outcomes],
        "days": days,
    }
