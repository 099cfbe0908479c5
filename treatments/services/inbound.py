"""Replies by text message: confirm, stop, or a note for the front desk."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from clinic.audit import AuditAction, audit_record
from clinic.phones import phone_normalise
from treatments.models import InboundMessage, Patient, Session, SessionStatus
from treatments.reminders import appointment_key, patient_reminders_opt_out
from treatments.services.sessions import session_patient_respond

if TYPE_CHECKING:
    from django.contrib.auth.models import User

CONFIRM_WORDS = {"C", "YES", "Y", "CONFIRM"}
STOP_WORDS = {"STOP"}


def _patient_for(number: str) -> Patient | None:
    try:
        e164 = phone_normalise(number)
    except Exception:
        return None
    if not e164:
        return None
    matches = list(Patient.objects.filter(phone=e164, restricted_at__isnull=True)[:2])
    return matches[0] if len(matches) == 1 else None


def _next_reminded_session(patient: Patient) -> Session | None:
    from clinic.models import Notification
    from clinic.notifications import NotificationKind

    sessions = Session.objects.filter(
        patient=patient, status=SessionStatus.BOOKED, starts_at__gt=timezone.now()
    ).order_by("starts_at")
    for session in sessions[:5]:
        reminded = Notification.objects.filter(
            kind=NotificationKind.REMINDER_APPOINTMENT,
            # The reminder for this start only: one for a time it was moved from is not it.
            dedupe_key=appointment_key(session.pk, session.starts_at),
            status="sent",
        ).exists()
        if reminded:
            return session
    return None


@transaction.atomic
def inbound_sms_receive(*, from_number: str, body: str) -> str:
    """Act on one text; returns what was done: "confirmed", "opted-out" or "inbox"."""
    patient = _patient_for(from_number)
    word = (body or "").strip().upper().rstrip(".!")
    if patient is not None and word in CONFIRM_WORDS:
        session = _next_reminded_session(patient)
        if session is not None:
            session_patient_respond(session=session, answer="confirmed", by="patient via SMS")
            return "confirmed"
    if patient is not None and word in STOP_WORDS:
        patient_reminders_opt_out(patient_id=patient.pk, actor=None, via="SMS STOP")
        return "opted-out"
    message = InboundMessage.objects.create(
        from_number=from_number[:32],
        body=(body or "")[:1600],
        patient=patient,
        location=patient.location if patient else None,
    )
    audit_record(
        actor=None,
        action=AuditAction.INBOUND_SMS_RECEIVED,
        obj=message,
        location=message.location,
        after={"by": "patient via SMS", "patient_known": patient is not None},
    )
    return "inbox"


@transaction.atomic
def inbound_message_handle(*, actor: User, message: InboundMessage) -> InboundMessage:
    if message.status == InboundMessage.Status.HANDLED:
        return message
    message.status = InboundMessage.Status.HANDLED
    message.handled_at = timezone.now()
    message.handled_by = actor
    message.save(update_fields=["status", "handled_at", "handled_by"])
    audit_record(
        actor=actor,
        action=AuditAction.INBOUND_SMS_HANDLED,
        obj=message,
        location=message.location,
        before={"status": "new"},
        after={"status": "handled"},
    )
    return message
