"""Signed links in appointment reminders: the patient confirms, cancels or asks for another
time without signing in. The token names the session only; it is built when the reminder is
sent (clinic/channels.py swaps the placeholder), so the reminder sweep signs nothing.

Maintenance reminders carry a booking link the same way (the end of this module)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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
    signed now (its age counts from the sending, not from the sweep): the patient's
    stop-reminders link (the booking link is ``book_url``); the patient is the one the row is
    ``regarding``."""
    patient_id = reminders.patient_id_from_regarding(notification.regarding)
    return reminders.opt_out_url(patient_id) if patient_id is not None else ""


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


# --- Maintenance booking by the patient ----------------------------------------------------
# A maintenance reminder links to the free slots of the patient's practitioner. The token names
# the plan, its patient and the due date the reminder was about: once the plan is booked or has
# moved on to another due date, the link has done its job.

BOOK_SALT = "treatments.plan-book"
BOOK_PLACEHOLDER = reminders.BOOK_PLACEHOLDER


@dataclass(frozen=True)
class BookLink:
    plan_id: int
    patient_id: int
    due_on: dt.date


def _book_signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=BOOK_SALT)


_DAY_ZERO = dt.date(2020, 1, 1)
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _b36(n: int) -> str:
    out = ""
    while True:
        n, digit = divmod(n, 36)
        out = _B36[digit] + out
        if not n:
            return out


def book_token(*, plan_id: int, patient_id: int, due_on: dt.date) -> str:
    """``plan.patient.day`` in base 36 (the due date as days since 2020), signed with a
    timestamp: short, so the link fits a two-segment SMS with the place, the phone and the stop
    link."""
    day = (due_on - _DAY_ZERO).days
    return _book_signer().sign(f"{_b36(plan_id)}.{_b36(patient_id)}.{_b36(max(day, 0))}")


def book_url_for_plan(*, plan_id: int, patient_id: int, due_on: dt.date) -> str:
    token = book_token(plan_id=plan_id, patient_id=patient_id, due_on=due_on)
    return absolute_url(reverse("treatments:plan_book", args=[token]))


def book_url(notification) -> str:
    """Called by the outbox at send time for a maintenance reminder: the dedupe key names the
    plan and its due date, ``regarding`` the patient (no query)."""
    parsed = reminders.parse_maintenance_key(notification.dedupe_key)
    patient_id = reminders.patient_id_from_regarding(notification.regarding or "")
    if parsed is None or patient_id is None:
        return ""
    return book_url_for_plan(plan_id=parsed[0], patient_id=patient_id, due_on=parsed[1])


def booking_from_token(token: str) -> BookLink:
    """What a booking token names; LinkExpired past PATIENT_LINK_MAX_DAYS, LinkInvalid if tampered."""
    try:
        value = _book_signer().unsign(token, max_age=dt.timedelta(days=settings.PATIENT_LINK_MAX_DAYS))
    except signing.SignatureExpired:
        raise LinkExpired from None
    except signing.BadSignature:
        raise LinkInvalid from None
    parts = value.split(".")
    if len(parts) != 3 or not all(0 < len(part) < 13 and set(part) <= set(_B36) for part in parts):
        raise LinkInvalid
    plan_id, patient_id, day = (int(part, 36) for part in parts)
    try:
        return BookLink(plan_id, patient_id, _DAY_ZERO + dt.timedelta(days=day))
    except OverflowError:
        raise LinkInvalid from None
