"""Recall writes: recall a lot and prepare the patients' messages, then send them after review.

Recall messages are held in the outbox ("awaiting review") until a manager reads them and
presses send; only then do they become pending and go out through the usual sweep.

Wording: a recall message may be read by someone else (a shared phone, a family inbox), so
it carries no clinical detail at all: not the product, the lot, the treatment or its date.
It asks the patient to contact the clinic, and gives the clinic's telephone number. It is a
safety message, not a reminder: it goes whatever the patient's reminder preference, to the
channel they chose for reminders when it has an address, else to whichever address we have,
and never during quiet hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from clinic.audit import AuditAction, audit_record
from clinic.models import Notification
from clinic.notifications import (
    NotificationKind,
    notifications_bulk_queue,
    notifications_cancel,
    notifications_release,
)
from clinic.phones import phone_is_valid, phone_national
from clinic.reports.recall import patients_to_notify

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SMS_LIMIT = 320


def recall_prefix(lot) -> str:
    # Keyed by the manufacturer's lot, so a recall run from any place of it writes one set.
    return f"recall:{lot.record_lot_id}:"


def recall_message(patient, location) -> tuple[str, str]:
    """Subject and text of the message to one patient. No clinical detail, on purpose."""
    clinic = settings.CLINIC_NAME
    where = location.name if location else clinic
    phone = phone_national((location.phone if location else "") or "")
    call = f"please call us on {phone}" if phone else "please call the clinic"
    if location and location.email:
        call += f" or email {location.email}"
    subject = f"Please contact {clinic}"
    body = (
        f"Hello {patient.first_name},\n\n"
        f"We would like to speak with you about a product used in your treatment at {clinic} ({where}). "
        f"When you can, {call}.\n\n"
        f"{clinic}"
    )
    return subject, body


def _channel_for(patient) -> tuple[str, str] | None:
    """(channel, address) for a patient, or None when we hold no address at all."""
    preferred = getattr(patient, "reminder_channel", "email")
    # A number kept as typed by the E.164 migration is no SMS address: a recall falls back to
    # email, or shows "no contact details" so the desk calls or writes.
    phone = patient.phone.strip()
    addresses = {"email": patient.email.strip(), "sms": phone if phone_is_valid(phone) else ""}
    if addresses.get(preferred):
        return preferred, addresses[preferred]
    for channel in ("email", "sms"):
        if addresses[channel]:
            return channel, addresses[channel]
    return None


@transaction.atomic
def lot_recall_prepare(*, lot, actor: User | None, reason: str) -> dict:
    """Recall the lot (if not yet recalled) and prepare one held message per patient treated.

    The lot is recalled through ``products.services.lot_recall`` (a ``recall`` ledger row; the
    remaining stock can never be used again). Messages are written "awaiting review", one per
    patient per lot (a second run adds only patients treated since). Returns counts.
    """
    from products.models import Lot
    from products.services import lot_recall

    recalled_now = False
    current = Lot.objects.select_for_update().get(pk=lot.pk)
    if not current.is_recalled:
        lot_recall(lot=current, actor=actor, reason=reason)
        recalled_now = True
    patients = list(patients_to_notify(lot=current))
    rows, unreachable = [], []
    now = timezone.now()
    review = reverse("reports:recall_messages", args=[current.pk])
    for patient in patients:
        target = _channel_for(patient)
        if target is None:
            unreachable.append(patient.pk)
            continue
        channel, address = target
        subject, body = recall_message(patient, patient.location)
        if channel == Notification.Channel.SMS:
            body = body[:SMS_LIMIT]
        rows.append(
            Notification(
                kind=NotificationKind.RECALL_PATIENT,
                channel=channel,
                to_address=address,
                location=patient.location,
                subject=subject,
                body=body,
                dedupe_key=f"{recall_prefix(current)}patient:{patient.pk}",
                regarding=f"treatments.patient:{patient.pk}",
                link=review,
                quiet_hours=True,
                due_at=now,
                status=Notification.Status.HELD,
            )
        )
    existing = set(
        Notification.objects.filter(dedupe_key__startswith=recall_prefix(current)).values_list(
            "dedupe_key", flat=True
        )
    )
    new_rows = [r for r in rows if r.dedupe_key not in existing]
    notifications_bulk_queue(new_rows)
    result = {
        "recalled_now": recalled_now,
        "patients": len(patients),
        "prepared": len(new_rows),
        "already_prepared": len(rows) - len(new_rows),
        "unreachable": unreachable,
    }
    audit_record(
        actor=actor,
        action=AuditAction.RECALL_PREPARE,
        obj=current,
        location=current.storage_unit.location,
        after={**result, "reason": reason},
    )
    return result


def awaiting_review(locations) -> list[Mapping[str, Any]]:
    """Recalls with messages awaiting review at these locations: [{link, n}]. One query."""
    from django.db.models import Count

    return list(
        Notification.objects.filter(
            kind=NotificationKind.RECALL_PATIENT, status=Notification.Status.HELD, location__in=locations
        )
        .values("link")
        .annotate(n=Count("id"))
        .order_by("link")
    )


def has_recall_messages(lot_pk: int, locations) -> bool:
    """Whether this lot's recall wrote messages to patients of these locations (one query):
    their managers review them even when the lot itself is kept at another location."""
    return Notification.objects.filter(
        dedupe_key__startswith=f"recall:{lot_pk}:", location__in=locations
    ).exists()


def held_for_lot(lot, locations):
    """Messages of this lot's recall still awaiting review, at the manager's locations."""
    return Notification.objects.filter(
        dedupe_key__startswith=recall_prefix(lot),
        status=Notification.Status.HELD,
        location__in=locations,
    )


@transaction.atomic
def recall_messages_send(*, lot, actor: User | None, locations) -> int:
    """Release the reviewed messages of a lot's recall at the manager's locations to the outbox."""
    ids = list(held_for_lot(lot, locations).values_list("pk", flat=True))
    return notifications_release(
        ids=ids,
        actor=actor,
        location=lot.storage_unit.location,
        reason=f"Recall messages for lot {lot.lot_number} sent after review",
    )


@transaction.atomic
def recall_message_cancel(*, notification: Notification, actor: User | None) -> None:
    notifications_cancel(notification=notification, actor=actor, reason="Recall message cancelled at review")
