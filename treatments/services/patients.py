"""Registering and editing patients."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction

from clinic.audit import AuditAction, audit_record, snapshot
from clinic.models import Location
from clinic.phones import phone_normalise
from treatments.models import Patient
from treatments.services.common import require_location

if TYPE_CHECKING:
    from django.contrib.auth.models import User

PATIENT_FIELDS = (
    "location",
    "first_name",
    "last_name",
    "date_of_birth",
    "phone",
    "email",
    "reminder_channel",
    "reminder_opt_in",
    "front_desk_notes",
)


class DuplicatePatientError(ValidationError):
    """A patient with the same name and date of birth exists; the desk must confirm."""

    def __init__(self, duplicates: list[Patient]):
        self.duplicates = duplicates
        super().__init__(
            "A patient with this name and date of birth is already registered. "
            "Open the existing record, or confirm that this is a different person.",
            code="duplicate",
        )


def _phone(value: str) -> str:
    """The number in E.164, or the desk's message on the phone field."""
    try:
        return phone_normalise(value)
    except ValidationError as exc:
        raise ValidationError({"phone": exc.messages}) from None


def _validate_reminders(patient: Patient) -> None:
    if patient.reminder_opt_in:
        if patient.reminder_channel == "email" and not patient.email:
            raise ValidationError({"email": "Reminders by email need an email address."})
        if patient.reminder_channel == "sms" and not patient.phone:
            raise ValidationError({"phone": "Reminders by SMS need a phone number."})
    if patient.date_of_birth and patient.date_of_birth > dt.date.today():
        raise ValidationError({"date_of_birth": "The date of birth is in the future."})


@transaction.atomic
def patient_create(
    *,
    actor: User | None,
    location: Location,
    first_name: str,
    last_name: str,
    date_of_birth: dt.date,
    phone: str = "",
    email: str = "",
    reminder_channel: str = "sms",
    reminder_opt_in: bool = False,
    front_desk_notes: str = "",
    confirm_duplicate: bool = False,
) -> Patient:
    """Register a patient. Raises DuplicatePatientError unless the desk confirmed a look-alike."""
    require_location(actor, location)
    patient = Patient(
        location=location,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        date_of_birth=date_of_birth,
        phone=_phone(phone),
        email=email.strip(),
        reminder_channel=reminder_channel,
        reminder_opt_in=reminder_opt_in,
        front_desk_notes=front_desk_notes,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    patient.refresh_keys()
    patient.full_clean()
    _validate_reminders(patient)
    if not confirm_duplicate:
        # Across every location: the same person may have registered at another site.
        duplicates = list(
            Patient.objects.likely_duplicates(
                first_name=first_name, last_name=last_name, date_of_birth=date_of_birth
            ).select_related("location")[:5]
        )
        if duplicates:
            raise DuplicatePatientError(duplicates)
    patient.save()
    audit_record(
        actor=actor,
        action=AuditAction.PATIENT_CREATE,
        obj=patient,
        after=snapshot(patient, PATIENT_FIELDS) | {"duplicate_confirmed": confirm_duplicate},
    )
    return patient


@transaction.atomic
def patient_update(*, actor: User | None, patient: Patient, **changes) -> Patient:
    """Change contact or front-desk fields (any of PATIENT_FIELDS).

    A phone number is checked only when it is among the changes: a number kept as typed by
    the E.164 migration (flagged on the patient's page) does not block other edits.
    """
    unknown = set(changes) - set(PATIENT_FIELDS)
    if unknown:
        raise TypeError(f"Unknown patient fields: {sorted(unknown)}")
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    before = snapshot(patient, PATIENT_FIELDS)
    for name, value in changes.items():
        setattr(
            patient, name, value.strip() if isinstance(value, str) and name != "front_desk_notes" else value
        )
    if "phone" in changes:
        patient.phone = _phone(patient.phone)
    if "location" in changes:
        require_location(actor, patient.location)
    patient.refresh_keys()
    patient.full_clean()
    _validate_reminders(patient)
    patient.save()
    after = snapshot(patient, PATIENT_FIELDS)
    changed = [k for k in PATIENT_FIELDS if before[k] != after[k]]
    if changed:
        audit_record(
            actor=actor,
            action=AuditAction.PATIENT_UPDATE,
            obj=patient,
            before={k: before[k] for k in changed},
            after={k: after[k] for k in changed},
        )
    return patient
