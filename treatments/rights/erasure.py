"""Erasure on request (UK GDPR article 17), within the clinical record's retention.

Recording a request (``erasure_request_record``) erases at once what no duty requires:
- the email address and the front desk's notes, and the content and addresses of every
  message sent to the patient (the rows stay, so the outbox's history adds up);
- marketing: the marketing consent is withdrawn and photos leave marketing use;
- photos retired as taken in error (not part of the clinical record), if the patient asks;
and restricts processing (no reminders) from then on. The phone number stays with the
clinical record while it is kept: it is how the clinic reaches the patient in a product
recall, which patient safety requires.

The clinical record is kept ``CLINICAL_RETENTION_YEARS`` after the last treatment (and, for
a patient treated as a child, at least until their 25th birthday). When that lapses, the
daily job (``erasures_due_run``) erases it: name, birth date and phone are replaced, photos
and signatures deleted (rows and files), every free-text field cleared, and what the audit
trail says about the patient redacted. Sessions, treatment records' product lines, lots and
the stock ledger stay, so the ledger balances and a recall still finds "an erased patient
treated with lot X on date Y". Nothing is erased while a recall involving the patient is
open (a recalled lot they were treated with whose recall message has not reached them).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from clinic.audit import REDACTED, AuditAction, audit_record, audit_redact
from clinic.models import Notification, SentMail
from clinic.notifications import NotificationKind
from treatments.models import (
    Addendum,
    AdverseEvent,
    ConsentWithdrawal,
    ContactAttempt,
    ErasureRequest,
    Patient,
    PatientConsent,
    ProductLine,
    Scope,
    Screening,
    Session,
    SessionChange,
    TreatmentPlan,
    TreatmentRecord,
)
from treatments.photos.models import Photo
from treatments.reminders import regarding_patient
from treatments.rights.restriction import patient_restrict

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

ERASED_FIRST_NAME = "Erased"
ERASED_BIRTH_DATE = dt.date(1900, 1, 1)
CHILD_RECORDS_UNTIL_AGE = 25


def _years_after(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def last_treated_on(patient: Patient) -> dt.date | None:
    """The day of the patient's last clinical contact: a treatment record, else the last
    consent or screening (clinical data held without a treatment). None: no clinical record."""
    candidates = [
        TreatmentRecord.objects.filter(session__patient=patient).aggregate(d=Max("session__starts_at"))["d"],
        PatientConsent.objects.filter(patient=patient).aggregate(d=Max("signed_at"))["d"],
        Screening.objects.filter(patient=patient).aggregate(d=Max("answered_at"))["d"],
    ]
    moments = [m for m in candidates if m is not None]
    return timezone.localdate(max(moments)) if moments else None


def retention_end(patient: Patient, last: dt.date | None) -> dt.date | None:
    """When the clinical record may go: N years after the last treatment, and for a patient
    treated as a child not before their 25th birthday. None: there is nothing to keep."""
    if last is None:
        return None
    end = _years_after(last, settings.CLINICAL_RETENTION_YEARS)
    if _years_after(patient.date_of_birth, 18) > last:
        end = max(end, _years_after(patient.date_of_birth, CHILD_RECORDS_UNTIL_AGE))
    return end


def open_recalls(patient: Patient) -> list[str]:
    """Lot numbers of recalled lots used on the patient whose recall message has not been
    sent to them: the recall is still open for this patient."""
    recalled = (
        ProductLine.objects.filter(record__session__patient=patient, lot__is_recalled=True)
        .values_list("lot_id", "lot__lot_number")
        .distinct()
    )
    sent = set(
        Notification.objects.filter(
            kind=NotificationKind.RECALL_PATIENT,
            regarding=regarding_patient(patient.pk),
            status=Notification.Status.SENT,
        ).values_list("dedupe_key", flat=True)
    )
    return sorted(
        {number for lot_id, number in recalled if not any(k.startswith(f"recall:{lot_id}:") for k in sent)}
    )


def _erase_messages(patient: Patient) -> int:
    messages = Notification.objects.filter(regarding=regarding_patient(patient.pk))
    # Copies kept by the demo's mailbox backend (clinic.mailbox) go too: they hold the same text.
    kept = Q(pk__in=[])
    for pk in messages.values_list("pk", flat=True):
        kept |= Q(message_id__startswith=f"<notification-{pk}.")
    if patient.email:
        kept |= Q(to__iexact=patient.email)
    SentMail.objects.filter(kept).delete()
    messages.filter(status__in=[Notification.Status.PENDING, Notification.Status.HELD]).update(
        status=Notification.Status.CANCELLED
    )
    return messages.update(to_address="", subject=REDACTED, body="", html_body="", link="", last_error="")


def _delete_after_commit(names: set[str]) -> None:
    """Files go once the rows that point at them are gone for good (not if we roll back)."""

    def delete() -> None:
        storage = storages["private"]
        for name in names:
            try:
                storage.delete(name)
            except Exception:  # a disk's OSError or a bucket's ClientError: log it, go on with the rest
                logger.exception("could not delete erased file %s", name)

    transaction.on_commit(delete)


def _delete_photos(photos) -> int:
    names = {n for p in photos for n in (p.full_name, p.display_name, p.thumb_name) if n}
    count = len(photos)
    Photo.objects.filter(pk__in=[p.pk for p in photos]).delete()
    _delete_after_commit(names)
    return count


@transaction.atomic
def erasure_request_record(
    *,
    actor: User,
    patient: Patient,
    received_on: dt.date,
    channel: str,
    erase_retired_photos: bool = False,
) -> ErasureRequest:
    """Record the request, erase what no duty requires now, and schedule the rest."""
    patient = Patient.objects.select_for_update().select_related("location").get(pk=patient.pk)
    if ErasureRequest.objects.filter(patient=patient).exists():
        raise ValidationError("An erasure request is already recorded for this patient.")
    today = timezone.localdate()
    if received_on > today:
        raise ValidationError({"received_on": "The request cannot have been received in the future."})
    last = last_treated_on(patient)
    request = ErasureRequest(
        patient=patient,
        received_on=received_on,
        channel=channel,
        erase_retired_photos=erase_retired_photos,
        recorded_by=actor,
        last_treated_on=last,
        retain_until=retention_end(patient, last),
    )
    request.full_clean(exclude=["patient"])
    request.save()

    fields = [f for f in ("email", "front_desk_notes") if getattr(patient, f)]
    Patient.objects.filter(pk=patient.pk).update(email="", front_desk_notes="", reminder_opt_in=False)
    messages = _erase_messages(patient)
    withdrawn = 0
    for consent in PatientConsent.objects.filter(patient=patient, scope_marketing=True):
        if not consent.withdrawals.filter(scope=Scope.MARKETING).exists():
            ConsentWithdrawal.objects.create(
                consent=consent, scope=Scope.MARKETING, reason="Erasure requested", recorded_by=actor
            )
            withdrawn += 1
    Photo.objects.filter(patient=patient, marketing_use=True).update(marketing_use=False)
    retired = 0
    if erase_retired_photos:
        retired = _delete_photos(list(Photo.objects.filter(patient=patient, retired_at__isnull=False)))
    summary = {
        "contact_fields": fields,
        "messages": messages,
        "marketing_consents_withdrawn": withdrawn,
        "retired_photos": retired,
    }
    request.summary = {"immediate": summary}
    request.save(update_fields=["summary"])
    audit_record(
        actor=actor,
        action=AuditAction.ERASURE_REQUEST,
        obj=patient,
        location=patient.location,
        after={
            "received_on": received_on.isoformat(),
            "channel": channel,
            "retain_until": request.retain_until.isoformat() if request.retain_until else None,
            **summary,
        },
    )
    patient.refresh_from_db()
    if not patient.is_restricted:
        patient_restrict(actor=actor, patient=patient, reason="Erasure requested")
    if request.retain_until is None:
        request = erasure_complete(request=request, actor=actor)
    return request


def _clear(model, lookup: Q, **values) -> int:
    return model.objects.filter(lookup).update(**values)


@transaction.atomic
def erasure_complete(*, request: ErasureRequest, actor: User | None = None) -> ErasureRequest:
    """Erase the clinical record's personal data (retention lapsed, or nothing to keep)."""
    request = (
        ErasureRequest.objects.select_for_update().select_related("patient__location").get(pk=request.pk)
    )
    if request.status == ErasureRequest.Status.COMPLETED:
        return request
    patient = request.patient
    recalls = open_recalls(patient)
    if recalls:
        reason = f"Open recall of lot {', '.join(recalls)}: erased once the patient has been told."
        if request.held_reason != reason:
            request.held_reason = reason
            request.save(update_fields=["held_reason"])
            audit_record(actor=actor, action=AuditAction.ERASURE_HELD, obj=patient, after={"lots": recalls})
        return request

    of_patient = Q(patient=patient)
    of_session = Q(session__patient=patient)
    of_record = Q(record__session__patient=patient)
    photos = list(Photo.objects.filter(of_patient))
    photo_ids = [p.pk for p in photos]
    counts = {"photos": _delete_photos(photos), "messages": _erase_messages(patient)}
    consents = list(PatientConsent.objects.filter(of_patient).values_list("pk", "signature_name"))
    _delete_after_commit({name for _, name in consents if name})
    counts["signatures"] = len(consents)
    _clear(PatientConsent, of_patient, typed_name=REDACTED, signature_name="", signature_sha256="")
    counts["free_text"] = sum(
        [
            _clear(ConsentWithdrawal, Q(consent__patient=patient), reason=REDACTED),
            _clear(Screening, of_patient, details="", override_reason=""),
            _clear(Session, of_patient, booking_notes="", cancel_reason=""),
            _clear(SessionChange, of_session, reason=""),
            _clear(ContactAttempt, Q(plan__patient=patient), note=""),
            _clear(TreatmentRecord, of_session, notes="", post_care="", combined_settings=""),
            _clear(Addendum, of_record, reason=REDACTED, text=REDACTED),
            _clear(AdverseEvent, of_record, action_taken=REDACTED),
        ]
    )
    patient.first_name, patient.last_name = ERASED_FIRST_NAME, f"patient {patient.pk}"
    patient.date_of_birth, patient.phone, patient.email, patient.front_desk_notes = (
        ERASED_BIRTH_DATE,
        "",
        "",
        "",
    )
    patient.reminder_opt_in = False
    patient.save()

    ids = {
        "treatments.patient": [patient.pk],
        "treatments.session": list(Session.objects.filter(of_patient).values_list("pk", flat=True)),
        "treatments.treatmentplan": list(
            TreatmentPlan.objects.filter(of_patient).values_list("pk", flat=True)
        ),
        "treatments.patientconsent": [pk for pk, _ in consents],
        "treatments.screening": list(Screening.objects.filter(of_patient).values_list("pk", flat=True)),
        "treatments.treatmentrecord": list(
            TreatmentRecord.objects.filter(of_session).values_list("pk", flat=True)
        ),
        "photos.photo": photo_ids,
    }
    counts["audit_rows_redacted"] = audit_redact(objects=ids)
    request.status = ErasureRequest.Status.COMPLETED
    request.completed_at = timezone.now()
    request.held_reason = ""
    request.summary = {**request.summary, "completed": counts}
    request.save(update_fields=["status", "completed_at", "held_reason", "summary"])
    audit_record(actor=actor, action=AuditAction.ERASURE_COMPLETE, obj=patient, after=counts)
    return request


def erasures_due_run(*, today: dt.date | None = None) -> int:
    """The daily job: complete every request whose retention has lapsed. Returns how many."""
    today = today or timezone.localdate()
    done = 0
    due = ErasureRequest.objects.filter(status=ErasureRequest.Status.RETAINED, retain_until__lt=today)
    for request in due.order_by("retain_until", "pk"):
        # A treatment after the request (rare, but the patient may come back) moves retention on.
        last = last_treated_on(request.patient)
        end = retention_end(request.patient, last)
        if end is not None and end >= today:
            ErasureRequest.objects.filter(pk=request.pk).update(retain_until=end, last_treated_on=last)
            continue
        if erasure_complete(request=request).status == ErasureRequest.Status.COMPLETED:
            done += 1
    return done
