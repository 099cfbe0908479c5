"""Intake before the visit: the patient answers the screening questions and signs the consent
from the session's intake link (no login).

The rules are the staff ones: ``screening_record`` and ``consent_sign`` are called as they are,
with ``submitted_by_patient=True``. The answers are stored without a session, so the visit's
screening gate still waits for the practitioner's confirmation in person (``screening_confirm``
copies them onto the session); the consent is bound to the session and counts for that
session only, while its template version is current (``treatments.consent.treatment_consent_for``).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinic.audit import AuditAction, audit_record
from clinic.files import delete_private
from treatments.links import intake_closed_for
from treatments.models import ConsentTemplate, IntakeSubmission, PatientConsent, Session, SessionStatus
from treatments.services.clinical import consent_sign, screening_record

CLOSED_MESSAGE = (
    "Your appointment has started, so these answers can no longer be changed online: "
    "your practitioner goes through them with you at the clinic."
)


def intake_open(session: Session) -> bool:
    """Whether the session's intake link still takes answers: booked and not started."""
    return session.status == SessionStatus.BOOKED and not intake_closed_for(session.starts_at)


def intake_submit(
    *,
    session: Session,
    answers: dict[str, bool],
    details: str,
    template: ConsentTemplate | None,
    typed_name: str = "",
    signature_data_url: str = "",
    scope_treatment: bool = True,
    scope_photography: bool = False,
    scope_marketing: bool = False,
) -> IntakeSubmission:
    """Store what the patient sent: screening answers and, when ``template`` is given (the
    version the page showed), the signed consent. Refused once the visit has started.

    A patient may send again before the visit; the newest answers are the ones confirmed.
    """
    consent: PatientConsent | None = None
    try:
        with transaction.atomic():
            # Locked, so a check-in and a submission cannot cross: after it, nothing is written.
            session = (
                Session.objects.select_for_update()
                .select_related("patient__location", "location")
                .get(pk=session.pk)
            )
            if not intake_open(session):
                raise ValidationError(CLOSED_MESSAGE, code="closed")
            if template is not None and template.treatment_type != session.treatment_type:
                raise ValidationError("This consent is not the one for your appointment.")
            screening = screening_record(
                actor=None,
                patient=session.patient,
                answers=answers,
                details=details,
                submitted_by_patient=True,
            )
            if template is not None:
                consent = consent_sign(
                    actor=None,
                    patient=session.patient,
                    template=template,
                    session=session,
                    typed_name=typed_name,
                    signature_data_url=signature_data_url,
                    scope_treatment=scope_treatment,
                    scope_photography=scope_photography,
                    scope_marketing=scope_marketing,
                    submitted_by_patient=True,
                )
            submission = IntakeSubmission(
                session=session, submitted_at=timezone.now(), screening=screening, consent=consent
            )
            submission.full_clean()
            submission.save()
            audit_record(
                actor=None,
                action=AuditAction.INTAKE_SUBMIT,
                obj=submission,
                location=session.location,
                after={
                    "session": session.pk,
                    "screening": screening.pk,
                    "consent": consent.pk if consent else None,
                    "by": "the patient (intake link)",
                },
            )
            return submission
    except BaseException:
        # consent_sign stored the signature file; the rows it belongs to did not commit.
        if consent is not None:
            delete_private(consent.signature_name)
        raise


def intake_submissions_for(session: Session) -> list[IntakeSubmission]:
    """What the patient sent for this session, newest first (for the session and chart pages)."""
    return list(
        IntakeSubmission.objects.filter(session=session).select_related("screening", "consent__template")
    )
