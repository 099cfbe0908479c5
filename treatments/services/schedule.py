"""Practitioners' working hours and their private calendar feeds."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import secrets
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinic.audit import AuditAction, audit_record
from clinic.models import Location, StaffProfile
from treatments.models import CalendarFeed, WorkingHours
from treatments.services.common import require_location

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _hours_list(qs) -> list[str]:
    return [f"{h.weekday}:{h.start_time:%H:%M}-{h.end_time:%H:%M}" for h in qs]


@transaction.atomic
def working_hours_replace(
    *, actor: User | None, practitioner, location: Location, intervals: list[tuple[int, dt.time, dt.time]]
) -> list[WorkingHours]:
    """Replace a practitioner's weekly hours at one location with ``intervals``."""
    require_location(actor, location)
    StaffProfile.objects.select_for_update().filter(user=practitioner).first()
    if not practitioner.staff_profile.locations.filter(pk=location.pk).exists():
        raise ValidationError(f"{practitioner} does not work at {location}.")
    rows = sorted(intervals)
    for day, start, end in rows:
        if end <= start:
            raise ValidationError(f"{WorkingHours.Weekday(day).label}: the end must be after the start.")
    for (d1, _s1, e1), (d2, s2, _e2) in itertools.pairwise(rows):
        if d1 == d2 and s2 < e1:
            raise ValidationError(f"{WorkingHours.Weekday(d1).label}: two intervals overlap.")
    existing = WorkingHours.objects.filter(practitioner=practitioner, location=location)
    before = _hours_list(existing)
    existing.delete()
    created = WorkingHours.objects.bulk_create(
        WorkingHours(practitioner=practitioner, location=location, weekday=d, start_time=s, end_time=e)
        for d, s, e in rows
    )
    audit_record(
        actor=actor,
        action=AuditAction.WORKING_HOURS_REPLACE,
        object_type="auth.user",
        object_id=str(practitioner.pk),
        object_repr=str(practitioner),
        location=location,
        before={"hours": before},
        after={"hours": _hours_list(created)},
    )
    return created


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def calendar_feed_create(*, actor: User) -> tuple[CalendarFeed, str]:
    """A new private feed URL for the actor; any earlier one stops working. Returns (feed, secret)."""
    now = timezone.now()
    CalendarFeed.objects.filter(user=actor, revoked_at__isnull=True).update(revoked_at=now)
    secret = secrets.token_urlsafe(32)
    feed = CalendarFeed.objects.create(user=actor, secret_hash=_hash(secret))
    audit_record(actor=actor, action=AuditAction.CALENDAR_FEED_CREATE, obj=feed)
    return feed, secret


@transaction.atomic
def calendar_feed_revoke(*, actor: User | None, feed: CalendarFeed) -> CalendarFeed:
    updated = CalendarFeed.objects.filter(pk=feed.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if updated:
        audit_record(actor=actor, action=AuditAction.CALENDAR_FEED_REVOKE, obj=feed)
    feed.refresh_from_db()
    return feed


def calendar_feed_verify(*, feed_id: int, secret: str) -> CalendarFeed | None:
    """The live feed for this id whose secret matches (compared in constant time), else None."""
    feed = CalendarFeed.objects.select_related("user").filter(pk=feed_id, revoked_at__isnull=True).first()
    expected = feed.secret_hash if feed else _hash("no-such-feed")
    matches = secrets.compare_digest(expected, _hash(secret))
    if feed is None or not matches or not feed.user.is_active:
        return None
    # A feed stops with the right to have one (e.g. a practitioner moved to the front desk).
    if not feed.user.has_perm("treatments.add_calendarfeed"):
        return None
    return feed
