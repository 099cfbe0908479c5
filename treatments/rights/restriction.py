"""Restricting a patient's processing (UK GDPR article 18), and lifting it.

While a patient is restricted the clinic keeps their record (care goes on, and the record
must stay complete) but uses it for nothing else: no reminder is written or sent, and no
photo of theirs may be used for marketing. Restricting cancels what is already queued and
takes the marketing mark off their photos; lifting does not put it back (marketing use
needs a fresh decision, with the patient's consent).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinic.audit import AuditAction, audit_record
from treatments.models import Patient
from treatments.photos.models import Photo
from treatments.reminders import patient_messages_cancel

if TYPE_CHECKING:
    from django.contrib.auth.models import User

REASON_MAX = 300


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why (e.g. “patient contests the accuracy of the record”)."})
    if len(reason) > REASON_MAX:
        raise ValidationError({"reason": f"Keep the reason under {REASON_MAX} characters."})
    return reason


@transaction.atomic
def patient_restrict(*, actor: User, patient: Patient, reason: str) -> Patient:
    """Restrict the patient's processing: cancel their queued messages, unmark marketing photos."""
    reason = _reason(reason)
    patient = Patient.objects.select_for_update().select_related("location").get(pk=patient.pk)
    if patient.is_restricted:
        raise ValidationError("This patient's processing is already restricted.")
    now = timezone.now()
    Patient.objects.filter(pk=patient.pk).update(
        restricted_at=now, restricted_by=actor, restriction_reason=reason
    )
    patient.restricted_at, patient.restricted_by, patient.restriction_reason = now, actor, reason
    cancelled = patient_messages_cancel(
        patient_id=patient.pk, reason="The patient's processing is restricted."
    )
    unmarked = list(Photo.objects.filter(patient=patient, marketing_use=True).values_list("id", flat=True))
    Photo.objects.filter(id__in=unmarked).update(marketing_use=False)
    audit_record(
        actor=actor,
        action=AuditAction.PATIENT_RESTRICT,
        obj=patient,
        location=patient.location,
        before={"restricted": False},
        after={
            "restricted": True,
            "reason": reason,
            "cancelled_notifications": cancelled,
            "marketing_photos_unmarked": unmarked,
        },
    )
    return patient


@transaction.atomic
def patient_restriction_lift(*, actor: User, patient: Patient, reason: str) -> Patient:
    """Lift the restriction: reminders are written again from the next sweep."""
    reason = _reason(reason)
    patient = Patient.objects.select_for_update().select_related("location").get(pk=patient.pk)
    if not patient.is_restricted:
        raise ValidationError("This patient's processing is not restricted.")
    before = {
        "restricted": True,
        "since": patient.restricted_at.isoformat() if patient.restricted_at else None,
        "reason": patient.restriction_reason,
    }
    Patient.objects.filter(pk=patient.pk).update(
        restricted_at=None, restricted_by=None, restriction_reason=""
    )
    patient.restricted_at, patient.restricted_by, patient.restriction_reason = None, None, ""
    audit_record(
        actor=actor,
        action=AuditAction.PATIENT_RESTRICTION_LIFT,
        obj=patient,
        location=patient.location,
        before=before,
        after={"restricted": False, "reason": reason},
    )
    return patient
