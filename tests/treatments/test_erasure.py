"""Erasure on request within retention: what goes at once, what waits for the retention date
(run with the clock moved before and after it), what stays (ledger, recall, the audit's facts),
and the hold while a recall involving the patient is open."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.urls import reverse

from clinic.audit import REDACTED, AuditAction, audit_record, audit_redact
from clinic.models import AuditEvent, Notification
from clinic.notifications import NotificationKind, notification_queue
from clinic.reports.recall import treated_with
from products.models import StockMovement
from products.services import lot_recall
from tests.treatments.factories import (
    PatientFactory,
    SessionFactory,
    at,
    chart,
    charted_patient_objects,
    line_input,
    sign_consent,
)
from tests.treatments.test_photos import add_photo
from treatments.models import (
    ErasureRequest,
    Patient,
    PatientConsent,
    ProductLine,
    Scope,
    SessionStatus,
    TreatmentRecord,
)
from treatments.photos.models import Photo
from treatments.photos.services import photo_flag_marketing, photo_retire
from treatments.reminders import regarding_patient
from treatments.rights.erasure import (
    erasure_request_record,
    erasures_due_run,
    open_recalls,
    retention_end,
)

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 3, 10)
NOW = at(DAY, 10)
KEPT_UNTIL = dt.date(2034, 3, 10)  # eight years after the last treatment, on DAY


def _patient(location, practitioner, manager):
    """Dora, charted today (DAY) with a lot, with photos, consent to marketing, a message."""
    objects = charted_patient_objects(location, practitioner, "Dora")
    patient = objects["patient"]
    Patient.objects.filter(pk=patient.pk).update(
        email="dora@example.com", phone="020 7946 0018", front_desk_notes="Prefers mornings"
    )
    TreatmentRecord.objects.filter(pk=objects["record"].pk).update(notes="Dora reacted well", post_care="Ice")
    sign_consent(patient, practitioner, scope_photography=True, scope_marketing=True)
    session = SessionFactory(patient=patient, practitioner=practitioner, status=SessionStatus.IN_TREATMENT)
    kept = add_photo(session, practitioner)
    photo_flag_marketing(actor=practitioner, photo=kept, marketing_use=True)
    retired = add_photo(session, practitioner)
    photo_retire(actor=practitioner, photo=retired, reason="Wrong angle")
    notification_queue(
        kind=NotificationKind.REMINDER_APPOINTMENT,
        channel="email",
        subject="Dora, your appointment",
        body="See you Tuesday, Dora.",
        dedupe_key=f"test:{patient.pk}",
        to_address="dora@example.com",
        regarding=regarding_patient(patient.pk),
    )
    patient.refresh_from_db()
    return patient, objects, kept, retired


def _exists(name: str) -> bool:
    return storages["private"].exists(name)


@pytest.fixture
def clinic_day():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


class TestRetentionDate:
    def test_eight_years_after_the_last_treatment(self):
        adult = Patient(date_of_birth=dt.date(1980, 1, 1))
        assert retention_end(adult, DAY) == KEPT_UNTIL
        assert retention_end(adult, dt.date(2028, 2, 29)) == dt.date(2036, 2, 29)
        assert retention_end(adult, None) is None

    def test_a_patient_treated_as_a_child_is_kept_until_their_25th_birthday(self):
        teen = Patient(date_of_birth=dt.date(2009, 6, 1))
        assert retention_end(teen, DAY) == dt.date(2034, 6, 1)  # 25th birthday after the 8 years

    def test_the_period_is_a_setting(self, settings):
        settings.CLINICAL_RETENTION_YEARS = 10
        assert retention_end(Patient(date_of_birth=dt.date(1980, 1, 1)), DAY) == dt.date(2036, 3, 10)


class TestAtOnce:
    def test_contact_marketing_messages_and_retired_photos_go_at_once(
        self, clinic_day, location, practitioner, manager, django_capture_on_commit_callbacks
    ):
        patient, _, kept, retired = _patient(location, practitioner, manager)
        with django_capture_on_commit_callbacks(execute=True):
            request = erasure_request_record(
                actor=manager, patient=patient, received_on=DAY, channel="email", erase_retired_photos=True
            )
        assert request.retain_until == KEPT_UNTIL and request.pending
        patient.refresh_from_db()
        assert (patient.email, patient.front_desk_notes, patient.reminder_opt_in) == ("", "", False)
        # the clinical record and the phone a recall needs are kept
        assert patient.first_name == "Dora" and patient.phone and patient.is_restricted
        [message] = Notification.objects.filter(regarding=regarding_patient(patient.pk))
        assert (message.status, message.to_address, message.body) == ("cancelled", "", "")
        assert "Dora" not in message.subject
        marketing = PatientConsent.objects.get(patient=patient, scope_marketing=True)
        assert marketing.withdrawals.filter(scope=Scope.MARKETING).exists()
        assert not Photo.objects.get(pk=kept.pk).marketing_use
        assert not Photo.objects.filter(pk=retired.pk).exists() and not _exists(retired.full_name)
        assert _exists(kept.full_name)
        event = AuditEvent.objects.get(action=AuditAction.ERASURE_REQUEST)
        assert event.after["retain_until"] == "2034-03-10" and event.after["retired_photos"] == 1
        assert "dora@example.com" not in json.dumps(event.after)

    def test_copies_kept_by_the_demo_mailbox_go_with_the_messages(
        self, clinic_day, location, practitioner, manager
    ):
        from clinic.models import SentMail

        patient, *_ = _patient(location, practitioner, manager)
        [message] = Notification.objects.filter(regarding=regarding_patient(patient.pk))
        by_id = SentMail.objects.create(
            message_id=f"<notification-{message.pk}.abc@clinic>", to="x@example.com"
        )
        by_address = SentMail.objects.create(to=patient.email.upper(), subject="Your appointment")
        other = SentMail.objects.create(to="someone@example.com", message_id="<notification-999999.x@clinic>")
        erasure_request_record(actor=manager, patient=patient, received_on=DAY, channel="email")
        assert list(SentMail.objects.values_list("pk", flat=True)) == [other.pk]
        assert not SentMail.objects.filter(pk__in=[by_id.pk, by_address.pk]).exists()

    def test_retired_photos_stay_unless_the_patient_asks(self, clinic_day, location, practitioner, manager):
        patient, _, _, retired = _patient(location, practitioner, manager)
        erasure_request_record(actor=manager, patient=patient, received_on=DAY, channel="letter")
        assert Photo.objects.filter(pk=retired.pk).exists()

    def test_a_patient_never_treated_is_erased_at_once(self, clinic_day, location, manager):
        patient = PatientFactory(location=location, first_name="Nora", email="nora@example.com")
        request = erasure_request_record(actor=manager, patient=patient, received_on=DAY, channel="email")
        assert request.status == ErasureRequest.Status.COMPLETED and request.retain_until is None
        patient.refresh_from_db()
        assert patient.first_name == "Erased" and patient.email == ""

    def test_twice_or_from_the_future_is_refused_and_changes_nothing(self, clinic_day, location, manager):
        patient = PatientFactory(location=location, email="nora@example.com")
        with pytest.raises(ValidationError, match="future"):
            erasure_request_record(
                actor=manager, patient=patient, received_on=DAY + dt.timedelta(days=1), channel="email"
            )
        assert Patient.objects.get(pk=patient.pk).email == "nora@example.com"
        SessionFactory(patient=patient)
        erasure_request_record(actor=manager, patient=patient, received_on=DAY, channel="email")
        with pytest.raises(ValidationError, match="already recorded"):
            erasure_request_record(actor=manager, patient=patient, received_on=DAY, channel="email")


class TestWhenRetentionLapses:
    def test_the_job_waits_for_the_date_then_erases_exactly_the_clinical_record(
        self, clinic_day, location, practitioner, manager, django_capture_on_commit_callbacks
    ):
        patient, objects, kept, _ = _patient(location, practitioner, manager)
        consent = PatientConsent.objects.filter(patient=patient).first()
        lot = objects["lot"]
        lot.refresh_from_db()
        on_hand, movements = lot.quantity_on_hand, StockMovement.objects.filter(lot=lot).count()
        lines = ProductLine.objects.filter(record__session__patient=patient).count()
        audit_rows = AuditEvent.objects.count()
        erasure_request_record(actor=manager, patient=patient, received_on=DAY, channel="email")

        clinic_day.move_to(at(KEPT_UNTIL, 3), tick=False)  # the last day of retention
        assert erasures_due_run() == 0
        assert Patient.objects.get(pk=patient.pk).first_name == "Dora" and _exists(kept.full_name)

        clinic_day.move_to(at(KEPT_UNTIL + dt.timedelta(days=1), 3), tick=False)
        with django_capture_on_commit_callbacks(execute=True):
            assert erasures_due_run() == 1
        patient.refresh_from_db()
        assert (patient.first_name, patient.last_name) == ("Erased", f"patient {patient.pk}")
        assert (patient.date_of_birth, patient.phone, patient.email) == (dt.date(1900, 1, 1), "", "")
        assert not Photo.objects.filter(patient=patient).exists() and not _exists(kept.full_name)
        consent.refresh_from_db()
        assert consent.typed_name == REDACTED and consent.signature_name == ""
        record = TreatmentRecord.objects.get(pk=objects["record"].pk)
        assert (record.notes, record.post_care) == ("", "")
        # The ledger balances and the recall still answers, with a de-identified patient.
        lot.refresh_from_db()
        assert lot.quantity_on_hand == on_hand
        assert StockMovement.objects.filter(lot=lot).count() == movements
        assert ProductLine.objects.filter(record__session__patient=patient).count() == lines
        [row, *_] = list(treated_with(lot=lot))
        assert "Dora" not in json.dumps(row, default=str)
        # The audit keeps every event and the fact of the erasure, not the data.
        assert AuditEvent.objects.count() > audit_rows
        about = AuditEvent.objects.filter(object_type="treatments.patient", object_id=str(patient.pk))
        earlier = about.filter(action=AuditAction.ERASURE_REQUEST).get()
        assert earlier.object_repr == REDACTED and earlier.after == {"erased": True}
        everything = json.dumps(
            list(AuditEvent.objects.values("object_repr", "before", "after")), default=str
        )
        assert "Dora" not in everything and "dora@example.com" not in everything
        done = AuditEvent.objects.get(action=AuditAction.ERASURE_COMPLETE)
        assert done.after["photos"] == 2 and done.actor is None
        request = ErasureRequest.objects.get(patient=patient)
        assert request.status == ErasureRequest.Status.COMPLETED
        assert erasures_due_run() == 0  # done once

    def test_an_open_recall_holds_the_erasure_until_the_patient_is_told(
        self, clinic_day, location, practitioner, manager
    ):
        patient, objects, _, _ = _patient(location, practitioner, manager)
        lot = objects["lot"]
        erasure_request_record(actor=manager, patient=patient, received_on=DAY, channel="email")
        lot_recall(lot=lot, actor=manager, reason="Manufacturer's notice FSN-12")
        assert open_recalls(patient) == [lot.lot_number]
        clinic_day.move_to(at(KEPT_UNTIL + dt.timedelta(days=30), 3), tick=False)
        assert erasures_due_run() == 0
        request = ErasureRequest.objects.get(patient=patient)
        assert request.pending and lot.lot_number in request.held_reason
        assert Patient.objects.get(pk=patient.pk).first_name == "Dora"
        assert erasures_due_run() == 0
        assert AuditEvent.objects.filter(action=AuditAction.ERASURE_HELD).count() == 1  # not daily

        Notification.objects.create(
            kind=NotificationKind.RECALL_PATIENT,
            channel="sms",
            subject="Recall",
            body="Please call us.",
            dedupe_key=f"recall:{lot.pk}:patient:{patient.pk}",
            regarding=regarding_patient(patient.pk),
            status=Notification.Status.SENT,
        )
        assert open_recalls(patient) == []
        assert erasures_due_run() == 1
        assert Patient.objects.get(pk=patient.pk).first_name == "Erased"

    def test_a_treatment_after_the_request_moves_retention_on(
        self, clinic_day, location, practitioner, manager
    ):
        patient, objects, _, _ = _patient(location, practitioner, manager)
        erasure_request_record(actor=manager, patient=patient, received_on=DAY, channel="email")
        later = objects["open_session"]
        later_day = dt.date(2027, 1, 5)
        later.starts_at = at(later_day, 10)
        later.save()
        chart(later, practitioner, line_input(objects["lot"]))
        clinic_day.move_to(at(KEPT_UNTIL + dt.timedelta(days=1), 3), tick=False)
        assert erasures_due_run() == 0
        assert ErasureRequest.objects.get(patient=patient).retain_until == dt.date(2035, 1, 5)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_postgresql_allows_redaction_only_through_audit_redact(manager):
    event = audit_record(
        actor=manager,
        action=AuditAction.PATIENT_VIEW,
        object_type="x.y",
        object_id="1",
        object_repr="Dora Doe",
    )
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(object_repr="tampered")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL clinic.audit_redaction = 'on'")
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")  # only repr/before/after
    assert audit_redact(objects={"x.y": [1]}) == 1
    assert AuditEvent.objects.get(pk=event.pk).object_repr == REDACTED
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(object_repr="again")  # the setting was local


class TestViews:
    def test_the_manager_records_a_request_and_everyone_sees_it_pending(
        self, clinic_day, location, practitioner, manager, front_desk, client_for
    ):
        patient, *_ = _patient(location, practitioner, manager)
        url = reverse("treatments:patient_erasure", args=[patient.pk])
        data = {"received_on": DAY.isoformat(), "channel": "email"}
        refused = client_for(manager).post(url, data)
        assert refused.status_code == 400 and "This field is required" in refused.content.decode()
        assert not ErasureRequest.objects.exists()
        page = client_for(manager).post(url, {**data, "identity_checked": "on"}, follow=True).content.decode()
        assert "kept until 10 March 2034" in page
        for user in (front_desk, practitioner):
            detail = (
                client_for(user).get(reverse("treatments:patient_detail", args=[patient.pk])).content.decode()
            )
            assert 'data-testid="erasure-banner"' in detail and "10 Mar 2034" in detail

    def test_the_daily_job_is_scheduled(self):
        tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
        assert "treatments.tasks.erasures_due" in tasks
