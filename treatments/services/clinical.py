"""Consent and screening: publish a template version, sign, withdraw; answer, confirm, override."""

from __future__ import annotations

import base64
import binascii
import io
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from clinic.audit import AuditAction, audit_record, snapshot
from clinic.files import delete_private, read_checked, store_private
from treatments.models import (
    SCREENING_DETAILS_MAX_LENGTH,
    SCREENING_QUESTIONS,
    ConsentTemplate,
    ConsentWithdrawal,
    Patient,
    PatientConsent,
    Scope,
    Screening,
    Session,
)
from treatments.services.common import require_location

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# A drawn signature is a small PNG; anything bigger is not a signature.
MAX_SIGNATURE_BYTES = 512 * 1024
SIGNATURE_PREFIX = "data:image/png;base64,"
CONSENT_AUDIT_FIELDS = (
    "patient",
    "template",
    "typed_name",
    "scope_treatment",
    "scope_photography",
    "scope_marketing",
)
SCREENING_FIELDS = tuple(f for f, _q, _c in SCREENING_QUESTIONS)


def _user(actor: User | None):
    return actor if getattr(actor, "is_authenticated", False) else None


@transaction.atomic
def consent_template_publish(
    *, actor: User | None, treatment_type: str, title: str, body: str
) -> ConsentTemplate:
    """Publish the next version of a treatment type's consent text (earlier versions stay as they are)."""
    title, body = (title or "").strip(), (body or "").strip()
    if not title or not body:
        raise ValidationError("A consent template needs a title and its text.")
    # Lock the existing versions of this type so two managers publishing get distinct numbers.
    list(ConsentTemplate.objects.select_for_update().filter(treatment_type=treatment_type).values("pk"))
    latest = ConsentTemplate.objects.filter(treatment_type=treatment_type).aggregate(v=Max("version"))["v"]
    template = ConsentTemplate(
        treatment_type=treatment_type,
        version=(latest or 0) + 1,
        title=title,
        body=body,
        published_at=timezone.now(),
        published_by=_user(actor),
    )
    template.full_clean()
    template.save()
    audit_record(
        actor=actor,
        action=AuditAction.CONSENT_TEMPLATE_PUBLISH,
        obj=template,
        after=snapshot(template, ("treatment_type", "version", "title")),
    )
    return template


def decode_signature(data_url: str) -> bytes:
    """A signature pad's data URL as a fresh PNG: checked by content and size, then decoded and
    re-encoded from its pixels (no text chunks, EXIF or anything after its end survives)."""
    text = (data_url or "").strip()
    if not text:
        raise ValidationError({"signature": "The patient has not signed: draw the signature in the box."})
    if not text.startswith(SIGNATURE_PREFIX):
        raise ValidationError({"signature": "The signature must be a PNG image from the signature pad."})
    encoded = text[len(SIGNATURE_PREFIX) :]
    if len(encoded) > (MAX_SIGNATURE_BYTES * 4) // 3 + 8:
        raise ValidationError({"signature": "The signature image is too large."})
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError({"signature": "The signature could not be read; sign again."}) from None
    try:
        data, _kind = read_checked(
            io.BytesIO(raw),
            allowed={"png"},
            max_bytes=MAX_SIGNATURE_BYTES,
            label="signature",
            # The pad makes images of about 1000×300; anything far larger is a decompression bomb.
            max_pixels=SIGNATURE_MAX_PIXELS,
        )
    except ValidationError as exc:
        raise ValidationError({"signature": exc.messages}) from None
    if _is_blank(data):
        raise ValidationError({"signature": "The signature box is empty: the patient must sign."})
    return data


SIGNATURE_MAX_PIXELS = 4_000_000

# The code of consent_sign's refusal of a template that is no longer the current version, so
# a page can word it for its reader (the patient's intake page shows the current text again).
CONSENT_OUTDATED = "consent_outdated"


def _is_blank(data: bytes) -> bool:
    """No ink at all: every pixel transparent (or all one colour)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        if image.mode in ("RGBA", "LA") or "transparency" in image.info:
            return image.convert("RGBA").getchannel("A").getbbox() is None
        extrema = image.convert("L").getextrema()
        return extrema[0] == extrema[1]


def consent_sign(
    *,
    actor: User | None,
    patient: Patient,
    template: ConsentTemplate,
    typed_name: str,
    signature_data_url: str,
    scope_treatment: bool = True,
    scope_photography: bool = False,
    scope_marketing: bool = False,
    session: Session | None = None,
    submitted_by_patient: bool = False,
) -> PatientConsent:
    """Record a patient's signed consent to the current version of a template.

    ``submitted_by_patient``: the patient signed it remotely from the session's intake link
    (``actor`` is None: no practitioner witnessed it; the same rules apply)."""
    require_location(actor, patient.location)
    if _user(actor) is None and not submitted_by_patient:
        raise ValidationError(
            "A consent is signed with a practitioner, or by the patient from their intake link."
        )
    current = ConsentTemplate.current(template.treatment_type)
    if current is not None and current.pk != template.pk:  # never None: ``template`` is one
        raise ValidationError(
            f"A newer version of this consent (v{current.version}) has been published; "
            "the patient must read and sign that one.",
            code=CONSENT_OUTDATED,
        )
    typed_name = " ".join((typed_name or "").split())
    if not typed_name:
        raise ValidationError({"typed_name": "The patient types their full name."})
    if not (scope_treatment or scope_photography or scope_marketing):
        raise ValidationError("Tick at least one thing the patient consents to.")
    if scope_marketing and not scope_photography:
        raise ValidationError(
            {"scope_marketing": "Marketing use of photos needs consent to clinical photography too."}
        )
    if session is not None and session.patient_id != patient.pk:
        raise ValidationError("This session belongs to another patient.")
    # Decoded and re-encoded (a fresh PNG: no text chunks or metadata) before the transaction,
    # so a refused signature writes nothing and the decoding holds no lock.
    data = decode_signature(signature_data_url)
    stored = store_private(data, folder="consents/signatures", kind="png")
    try:
        with transaction.atomic():
            consent = PatientConsent(
                patient=patient,
                template=template,
                session=session,
                practitioner=_user(actor),
                submitted_by_patient=submitted_by_patient,
                signed_at=timezone.now(),
                typed_name=typed_name[:160],
                signature_name=stored.name,
                signature_sha256=stored.sha256,
                scope_treatment=scope_treatment,
                scope_photography=scope_photography,
                scope_marketing=scope_marketing,
            )
            consent.full_clean()
            consent.save()
            audit_record(
                actor=actor,
                action=AuditAction.CONSENT_SIGN,
                obj=consent,
                location=patient.location,
                after=snapshot(
                    consent,
                    (
                        "patient",
                        "template",
                        "typed_name",
                        "scope_treatment",
                        "scope_photography",
                        "scope_marketing",
                        "submitted_by_patient",
                    ),
                )
                | {"signature_sha256": stored.sha256},
            )
            return consent
    except BaseException:
        # The row did not commit, so its signature must not stay behind unreferenced.
        delete_private(stored.name)
        raise


@transaction.atomic
def consent_withdraw(
    *, actor: User | None, consent: PatientConsent, reason: str, scopes: list[str] | None = None
) -> list[ConsentWithdrawal]:
    """Withdraw some scopes (or, with ``scopes=None``, every scope still given) from now on."""
    require_location(actor, consent.patient.location)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Record why the patient withdraws consent."})
    consent = PatientConsent.objects.select_for_update().select_related("patient").get(pk=consent.pk)
    already = set(consent.withdrawals.values_list("scope", flat=True))
    given = [s for s in Scope.values if consent.granted(s) and s not in already]
    if scopes is None:
        scopes = given
    if not scopes:
        raise ValidationError("Nothing left to withdraw: every scope of this consent is already withdrawn.")
    for scope in scopes:
        if scope not in Scope.values:
            raise ValidationError(f"Unknown consent scope {scope}.")
        if scope not in given:
            raise ValidationError(f"{Scope(scope).label} was not given or is already withdrawn.")
    now = timezone.now()
    rows = [
        ConsentWithdrawal.objects.create(
            consent=consent, scope=scope, withdrawn_at=now, reason=reason[:300], recorded_by=_user(actor)
        )
        for scope in scopes
    ]
    audit_record(
        actor=actor,
        action=AuditAction.CONSENT_WITHDRAW,
        obj=consent,
        location=consent.patient.location,
        after={"scopes": scopes, "reason": reason, "withdrawn_at": now.isoformat()},
    )
    return rows


DETAILS_NEEDED = "Give details of every “yes” (which drug, which allergy, when…)."


def screening_details_problem(answers: dict[str, bool], details: str) -> str | None:
    """What is wrong with the details given for these answers, or None (the form says it
    with the other fields' errors; ``screening_record`` refuses the same)."""
    details = (details or "").strip()
    if any(answers.get(f) for f in SCREENING_FIELDS) and not details:
        return DETAILS_NEEDED
    if len(details) > SCREENING_DETAILS_MAX_LENGTH:
        return f"Keep the details to {SCREENING_DETAILS_MAX_LENGTH} characters or fewer."
    return None


@transaction.atomic
def screening_record(
    *,
    actor: User | None,
    patient: Patient,
    answers: dict[str, bool],
    details: str = "",
    session: Session | None = None,
    submitted_by_patient: bool = False,
) -> Screening:
    """Record the full questionnaire (before the first treatment, or new answers at a visit).

    ``submitted_by_patient``: answered by the patient remotely (intake link); stored without a
    session, so it is never the visit's screening until a practitioner confirms it there."""
    require_location(actor, patient.location)
    unknown = set(answers) - set(SCREENING_FIELDS)
    if unknown:
        raise ValueError(f"Unknown screening answers: {sorted(unknown)}")
    if session is not None and session.patient_id != patient.pk:
        raise ValidationError("This session belongs to another patient.")
    details = (details or "").strip()
    problem = screening_details_problem(answers, details)
    if problem:
        raise ValidationError({"details": problem})
    screening = Screening(
        patient=patient,
        session=session,
        answered_at=timezone.now(),
        recorded_by=_user(actor),
        submitted_by_patient=submitted_by_patient,
        details=details,
        **{f: bool(answers.get(f)) for f in SCREENING_FIELDS},
    )
    screening.full_clean()
    screening.save()
    audit_record(
        actor=actor,
        action=AuditAction.SCREENING_RECORD,
        obj=screening,
        location=patient.location,
        after=snapshot(screening, (*SCREENING_FIELDS, "session", "details", "submitted_by_patient")),
    )
    return screening


def latest_screening(patient: Patient) -> Screening | None:
    return Screening.objects.filter(patient=patient).order_by("-answered_at", "-pk").first()


@transaction.atomic
def screening_confirm(*, actor: User | None, session: Session) -> Screening:
    """At a visit, the patient confirms their last answers are unchanged (copied, linked)."""
    require_location(actor, session.location)
    previous = latest_screening(session.patient)
    if previous is None:
        raise ValidationError(
            "This patient has never been screened: answer the full questionnaire before the first treatment."
        )
    screening = Screening(
        patient=session.patient,
        session=session,
        confirms=previous,
        answered_at=timezone.now(),
        recorded_by=_user(actor),
        details=previous.details,
        **{f: getattr(previous, f) for f in SCREENING_FIELDS},
    )
    screening.save()
    audit_record(
        actor=actor,
        action=AuditAction.SCREENING_CONFIRM,
        obj=screening,
        location=session.location,
        after={"session": session.pk, "confirms": previous.pk},
    )
    return screening


@transaction.atomic
def screening_override(*, actor: User | None, screening: Screening, reason: str) -> Screening:
    """A practitioner decides to treat despite contraindicating answers, and says why."""
    if actor is not None and not actor.has_perm("treatments.override_screening"):
        raise PermissionDenied("Only a practitioner can override a contraindication.")
    screening = Screening.objects.select_for_update().select_related("patient__location").get(pk=screening.pk)
    require_location(actor, screening.patient.location)
    if not screening.contraindications:
        raise ValidationError("These answers contraindicate nothing; there is nothing to override.")
    if screening.is_overridden:
        raise ValidationError("This screening has already been overridden.")
    reason = (reason or "").strip()
    if len(reason) < 10:
        raise ValidationError(
            {"reason": "Write the clinical reason for treating despite the contraindication."}
        )
    screening.override_reason = reason
    screening.overridden_by = _user(actor)
    screening.overridden_at = timezone.now()
    screening.save(update_fields=["override_reason", "overridden_by", "overridden_at"])
    audit_record(
        actor=actor,
        action=AuditAction.SCREENING_OVERRIDE,
        obj=screening,
        location=screening.patient.location,
        after={"contraindications": screening.contraindications, "reason": reason},
    )
    return screening
