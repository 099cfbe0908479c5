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

RESPOND_SALT = "treatments.session-respond"
RESPOND_PLACEHOLDER = "RESPONDURLPLACEHOLDER"
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


def session_id_from_token(token: str, *, salt: str = RESPOND_SALT) -> int:
    """The session a token names; LinkExpired past PATIENT_LINK_MAX_DAYS, LinkInvalid if tampered."""
    try:
        value = signing.loads(token, salt=salt, max_age=dt.timedelta(days=settings.PATIENT_LINK_MAX_DAYS))
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


# --- Intake before the visit ---------------------------------------------------------------
# Its own salt: a reminder's token opens no intake page, and an intake token answers nothing.
INTAKE_SALT = "treatments.session-intake"
INTAKE_PLACEHOLDER = "INTAKEURLPLACEHOLDER"
_INTAKE_KEY = "intake:session:"


def intake_key(session_id: int) -> str:
    """The dedupe key of a session's intake message (one per session)."""
    return f"{_INTAKE_KEY}{session_id}"


def parse_intake_key(key: str) -> int | None:
    rest = key[len(_INTAKE_KEY) :] if key.startswith(_INTAKE_KEY) else ""
    return int(rest) if rest.isdigit() else None


def intake_token(session_id: int) -> str:
    return signing.dumps(session_id, salt=INTAKE_SALT, compress=False)


def intake_url_for_session(session_id: int) -> str:
    return absolute_url(reverse("treatments:session_intake", args=[intake_token(session_id)]))


def intake_url(notification) -> str:
    """Called by the outbox at send time for an intake message (dedupe key names the session)."""
    session_id = parse_intake_key(notification.dedupe_key)
    return intake_url_for_session(session_id) if session_id else ""


def intake_session_id_from_token(token: str) -> int:
    return session_id_from_token(token, salt=INTAKE_SALT)


def intake_closed_for(starts_at: dt.datetime, now: dt.datetime | None = None) -> bool:
    """An intake link closes when the visit starts (answers are then taken in person)."""
    return (now or timezone.now()) >= starts_at
