"""The day and week calendars and today's list."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from clinic.scoping import locations_for
from treatments.calendar import Column, bookable_practitioners, build_grid, slot_links
from treatments.models import Session, SessionStatus, WorkingHours
from treatments.views.common import parse_day


def _location(request: HttpRequest, locations: list):
    """The location asked for (?location=id) among the user's, else their first; 404 otherwise."""
    if not locations:
        raise Http404("You work at no location.")
    wanted = request.GET.get("location")
    if wanted:
        match = [loc for loc in locations if str(loc.pk) == wanted]
        if not match:
            raise Http404("No such location.")
        return match[0]
    return locations[0]


def _hours_by(practitioner_ids, location, weekdays) -> dict:
    hours: dict = defaultdict(list)
    rows = WorkingHours.objects.filter(
        practitioner_id__in=practitioner_ids, location=location, weekday__in=weekdays
    ).order_by("start_time")
    for h in rows:
        hours[(h.practitioner_id, h.weekday)].append((h.start_time, h.end_time))
    return hours


def _grid(request: HttpRequest, columns: list, location) -> dict:
    """The grid's rows with their links built, and the booking permissions the page shows."""
    can_book = request.user.has_perm("treatments.add_session")
    can_book_outside = request.user.has_perm("treatments.book_outside_hours")
    rows = build_grid(columns)
    slot_links(rows, location_id=location.pk, can_book=can_book, can_book_outside=can_book_outside)
    return {
        "rows": rows,
        "can_book": can_book,
        "can_book_outside": can_book_outside,
    }


def _session_qs(location):
    return Session.objects.filter(location=location).select_related("patient", "room", "practitioner")


@permission_required("treatments.view_session", raise_exception=True)
@require_GET
def calendar_day(request: HttpRequest) -> HttpResponse:
    locations = list(locations_for(request.user))
    location = _location(request, locations)
    day = parse_day(request.GET.get("date"))
    practitioners = list(bookable_practitioners(location))
    # One query for the day: the cancelled sessions are only counted (the note above the grid).
    day_sessions = list(_session_qs(location).on_day(day))
    sessions = [s for s in day_sessions if s.status != SessionStatus.CANCELLED]
    hours = _hours_by([p.pk for p in practitioners], location, [day.weekday()])
    by_prac: dict = defaultdict(list)
    for s in sessions:
        by_prac[s.practitioner_id].append(s)
    # Someone no longer bookable here who still has sessions that day keeps a column.
    known = {p.pk for p in practitioners}
    practitioners += list(
        {s.practitioner.pk: s.practitioner for s in sessions if s.practitioner_id not in known}.values()
    )
    columns = [
        Column(
            key=p.pk,
            label=p.get_full_name() or p.username,
            day=day,
            practitioner=p,
            hours=hours.get((p.pk, day.weekday()), []),
            sessions=by_prac.get(p.pk, []),
        )
        for p in practitioners
    ]
    return render(
        request,
        "treatments/calendar_day.html",
        {
            "day": day,
            "today": timezone.localdate(),
            "prev_day": day - dt.timedelta(days=1),
            "next_day": day + dt.timedelta(days=1),
            "location": location,
            "locations": locations,
            "columns": columns,
            **_grid(request, columns, location),
            "cancelled_count": len(day_sessions) - len(sessions),
        },
    )


@permission_required("treatments.view_session", raise_exception=True)
@require_GET
def calendar_week(request: HttpRequest) -> HttpResponse:
    locations = list(locations_for(request.user))
    location = _location(request, locations)
    day = parse_day(request.GET.get("date"))
    monday = day - dt.timedelta(days=day.weekday())
    days = [monday + dt.timedelta(days=i) for i in range(7)]
    practitioners = list(bookable_practitioners(location))
    wanted = request.GET.get("practitioner")
    practitioner = next((p for p in practitioners if str(p.pk) == wanted), None)
    if practitioner is None:
        practitioner = next((p for p in practitioners if p.pk == request.user.pk), None) or (
            practitioners[0] if practitioners else None
        )
    columns = []
    if practitioner is not None:
        sessions = list(
            _session_qs(location)
            .filter(practitioner=practitioner)
            .between_days(days[0], days[-1])
            .exclude(status=SessionStatus.CANCELLED)
        )
        hours = _hours_by([practitioner.pk], location, range(7))
        by_day: dict = defaultdict(list)
        for s in sessions:
            by_day[timezone.localtime(s.starts_at).date()].append(s)
        columns = [
            Column(
                key=d,
                label=f"{d:%a %-d %b}",
                day=d,
                practitioner=practitioner,
                hours=hours.get((practitioner.pk, d.weekday()), []),
                sessions=by_day.get(d, []),
            )
            for d in days
        ]
    return render(
        request,
        "treatments/calendar_week.html",
        {
            "day": day,
            "days": days,
            "today": timezone.localdate(),
            "prev_week": monday - dt.timedelta(days=7),
            "next_week": monday + dt.timedelta(days=7),
            "location": location,
            "locations": locations,
            "practitioners": practitioners,
            "practitioner": practitioner,
            "columns": columns,
            **_grid(request, columns, location),
        },
    )


def todays_sessions(user, *, practitioner=None, limit: int | None = None):
    """Today's sessions at the user's locations (not cancelled), earliest first."""
    qs = (
        Session.objects.for_user(user)
        .on_day(timezone.localdate())
        .exclude(status=SessionStatus.CANCELLED)
        .select_related("patient", "practitioner", "room", "location")
        .order_by("starts_at", "pk")
    )
    if practitioner is not None:
        qs = qs.filter(practitioner=practitioner)
    return qs[:limit] if limit else qs


@permission_required("treatments.view_session", raise_exception=True)
@require_GET
def today(request: HttpRequest) -> HttpResponse:
    mine = request.GET.get("mine") == "1"
    sessions = list(todays_sessions(request.user, practitioner=request.user if mine else None))
    return render(
        request,
        "treatments/today.html",
        {"sessions": sessions, "mine": mine, "today": timezone.localdate(), "now": timezone.now()},
    )
