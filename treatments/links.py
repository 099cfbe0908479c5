"""Signed links in appointment reminders: the patient confirms, cancels or asks for another
time without signing in. The token names the session only; it is built when the reminder is
sent (clinic/channels.py swaps the placeholder), so the reminder sweep signs nothing."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from clinic.notifications.staff import absolute_url
from treatments import reminders

RESPOND_SALT = "treatments.session-respond"
RESPOND_PLACEHOLDER = "RESPONDURLPLACEHOLDER"
# In a maintenance reminder's stored body (written by treatments.reminders, which owns it):
# becomes the patient's link when it is sent (maintenance_url).
PATIENT_LINK_PLACEHOLDER = reminders.PATIENT_LINK_PLACEHOLDER
AFTER_START = dt.timedelta(days=1)


class LinkExpired(Exception):
    pass


class LinkInvalid(Exception):
    pass


def respond_token(session_id: int) -> str:
    return signing.dumps(session_id, salt=RESPOND_SALT, compress=False)


def respond_url_for_session(session_id: int) -> str:
    return absolute_url(reverse("treatments:session_respond", args=[respond_token(session_id)]))


def respond_url(notification) -> str:
    """Called by the outbox at send time for an appointment reminder (dedupe key names the session)."""
    from treatments.reminders import parse_appointment_key

    parsed = parse_appointment_key(notification.dedupe_key)
    return respond_url_for_session(parsed[0]) if parsed else ""


def maintenance_url(notification) -> str:
    """Called by the outbox at send time for a maintenance reminder: the patient's link,
    signed now (its age counts from the sending, not from the sweep). Today that is the
    patient's stop-reminders link, the only link the message has; the patient is the one
    the row is ``regarding``."""
    patient_id = reminders.patient_id_from_regarding(notification.regarding)
    return reminders.opt_out_url(patient_id) if patient_id is not None else ""


def session_id_from_token(token: str) -> int:
    """The session a token names; LinkExpired past PATIENT_LINK_MAX_DAYS, LinkInvalid if tampered."""
    try:
        value = signing.loads(
            token, salt=RESPOND_SALT, max_age=dt.timedelta(days=settings.PATIENT_LINK_MAX_DAYS)
        )
    except signing.SignatureExpired:
        raise LinkExpired from None
    except signing.BadSignature:
        raise LinkInvalid from None
    if not isinstance(value, int):
        raise LinkInvalid
    return value


def link_expired_for(starts_at: dt.datetime, now: dt.datetime | None = None) -> bool:
    return (now or timezone.now()) > starts_at + AFTER_START


def within_cancellation_window(starts_at: dt.datetime, now: dt.datetime | None = None) -> bool:
    return (now or timezone.now()) > starts_at - dt.timedelta(hours=settings.CANCELLATION_WINDOW_HOURS)
