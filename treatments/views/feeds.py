"""Practitioners' private iCalendar feeds: a page to make or revoke the URL, and the feed."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from icalendar import Calendar, Event

from treatments import services
from treatments.models import CalendarFeed, Session, SessionStatus
from treatments.services.schedule import calendar_feed_verify

FEED_PAST = dt.timedelta(days=30)
FEED_FUTURE = dt.timedelta(days=180)


@permission_required("treatments.add_calendarfeed", raise_exception=True)
@require_http_methods(["GET", "POST"])
def calendar_feed(request: HttpRequest) -> HttpResponse:
    """GET: whether a feed is live. POST: make a new URL (the old one stops working), shown once."""
    feed_url = None
    if request.method == "POST":
        feed, secret = services.calendar_feed_create(actor=request.user)
        feed_url = request.build_absolute_uri(reverse("treatments:ical_feed", args=[feed.pk, secret]))
    live = CalendarFeed.objects.filter(user=request.user, revoked_at__isnull=True).first()
    response = render(request, "treatments/calendar_feed.html", {"feed": live, "feed_url": feed_url})
    response["Cache-Control"] = "no-store"
    return response


@permission_required("treatments.add_calendarfeed", raise_exception=True)
@require_POST
def calendar_feed_revoke(request: HttpRequest) -> HttpResponse:
    for feed in CalendarFeed.objects.filter(user=request.user, revoked_at__isnull=True):
        services.calendar_feed_revoke(actor=request.user, feed=feed)
    messages.success(request, "Your calendar feed is revoked; calendar apps can no longer read it.")
    return redirect("treatments:calendar_feed")


@login_not_required
@never_cache
@require_GET
def ical_feed(request: HttpRequest, feed_id: int, secret: str) -> HttpResponse:
    """The practitioner's sessions as iCalendar: times, place and initials only, nothing clinical."""
    feed = calendar_feed_verify(feed_id=feed_id, secret=secret)
    if feed is None:
        raise Http404("No such calendar.")
    CalendarFeed.objects.filter(pk=feed.pk).update(last_used_at=timezone.now())
    now = timezone.now()
    sessions = (
        Session.objects.filter(
            practitioner=feed.user,
            starts_at__gte=now - FEED_PAST,
            starts_at__lt=now + FEED_FUTURE,
        )
        .exclude(status__in=[SessionStatus.CANCELLED, SessionStatus.NO_SHOW])
        .select_related("patient", "location", "room")
        .order_by("starts_at")
    )
    cal = Calendar()
    cal.add("prodid", f"-//{settings.CLINIC_NAME}//Sessions//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{settings.CLINIC_NAME} sessions")
    host = request.get_host().split(":")[0]
    for s in sessions:
        event = Event()
        event.add("uid", f"session-{s.pk}@{host}")
        event.add("dtstamp", now)
        event.add("dtstart", s.starts_at)
        event.add("dtend", s.ends_at)
        event.add("summary", f"Patient {s.patient.initials}")
        event.add("location", f"{s.location.name}{' · ' + s.room.name if s.room else ''}")
        event.add("status", "CONFIRMED")
        cal.add_component(event)
    response = HttpResponse(cal.to_ical(), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="sessions.ics"'
    response["X-Robots-Tag"] = "noindex"
    return response
