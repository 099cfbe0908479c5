"""The intake message: after a session is booked, the patient gets a link to answer the
screening questionnaire and read and sign the consent on their phone before the visit.

One outbox row per session (dedupe key ``intake:session:<id>``), on the patient's chosen
channel, only for a patient who agreed to messages and has an address; the link is built when
the row is sent (``clinic.channels.SEND_TIME_LINKS``) and closes when the visit starts. The
message names the time and place only: nothing clinical.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone
from django.utils.formats import date_format

from clinic.mail import render_message
from clinic.models import Notification
from clinic.notifications import NotificationKind, notification_queue, outside_quiet_hours
from clinic.phones import phone_national
from treatments.links import INTAKE_PLACEHOLDER, intake_key, parse_intake_key
from treatments.models import Session, SessionStatus
from treatments.reminders import regarding_patient

# Not worth sending when the patient could only open it this close to the visit.
INTAKE_MIN_NOTICE = dt.timedelta(hours=1)


def intake_request_queue(*, session: Session, now: dt.datetime | None = None) -> Notification | None:
    """Queue the intake message for a just-booked session (in the booking's transaction: it is
    enqueued after commit). None when nothing is sent: no agreement to messages, no address, a
    restricted record, or too little time before the visit."""
    now = now or timezone.now()
    patient = session.patient
    if not patient.reminder_opt_in or patient.restricted_at is not None:
        return None
    email = patient.reminder_channel == Notification.Channel.EMAIL
    address = ((patient.email if email else patient.phone) or "").strip()
    if not address:
        return None
    due_at = outside_quiet_hours(now)
    if due_at > session.starts_at - INTAKE_MIN_NOTICE:
        return None
    location = session.location
    local = timezone.localtime(session.starts_at)
    contact = {
        "name": location.name,
        "address": location.address,
        "phone": phone_national(location.phone or ""),
        "email": location.email,
    }
    if email:
        message = render_message(
            "intake_request", {"location": contact, "starts_at": local, "intake_url": INTAKE_PLACEHOLDER}
        )
        subject, body, html = message.subject, message.text, message.html
        channel = Notification.Channel.EMAIL
    else:
        subject, html = "Before your visit", ""
        body = (
            f"{settings.CLINIC_NAME}: before your appointment at {location.name} on "
            f"{date_format(local.date(), 'D j M')} at {local:%H:%M}, please answer the health "
            f"questions and sign the consent: {INTAKE_PLACEHOLDER}"
        )
        channel = Notification.Channel.SMS
    return notification_queue(
        kind=NotificationKind.INTAKE_REQUEST,
        channel=channel,
        to_address=address,
        location=location,
        subject=subject,
        body=body,
        html_body=html,
        dedupe_key=intake_key(session.pk),
        due_at=due_at,
        quiet_hours=True,
        regarding=regarding_patient(patient.pk),
    )


def intake_request_still_current(notification: Notification) -> bool:
    """Checked just before sending: the session is still booked and has not started."""
    session_id = parse_intake_key(notification.dedupe_key)
    if session_id is None:
        return False
    return Session.objects.filter(
        pk=session_id, status=SessionStatus.BOOKED, starts_at__gt=timezone.now() + INTAKE_MIN_NOTICE
    ).exists()
