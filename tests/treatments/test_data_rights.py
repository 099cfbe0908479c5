"""A patient's data rights: the subject-access export (schema, files, streaming, audit) and
restriction of processing (reminders stop, marketing stops, banner, lifting)."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinic.audit import AuditAction
from clinic.models import AuditEvent, Notification
from clinic.notifications import NotificationKind, notification_queue, outbox
from tests.treatments.factories import (
    PatientFactory,
    PlanFactory,
    SessionFactory,
    at,
    charted_patient_objects,
    sign_consent,
)
from tests.treatments.test_photos import add_photo, read_stored
from treatments.models import (
    AdverseEvent,
    ContactAttempt,
    InjectionPoint,
    Patient,
    ProductLine,
    SessionChange,
    SessionStatus,
)
from treatments.photos.models import Photo
from treatments.photos.services import photo_flag_marketing
from treatments.reminders import (
    appointment_reminders_sweep,
    maintenance_reminders_sweep,
    regarding_patient,
)
from treatments.rights import export
from treatments.rights.restriction import patient_restrict, patient_restriction_lift
from treatments.services import consent_withdraw, treatment_record_addendum

pytestmark = pytest.mark.django_db

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "subject-access.schema.json").read_text())
SECTIONS = [k for k, v in SCHEMA["properties"].items() if v.get("type") == "array"]


def _rich_patient(location, practitioner):
    """A patient with at least one row of every kind the export covers."""
    objects = charted_patient_objects(location, practitioner, "Dora")
    patient, record = objects["patient"], objects["record"]
    line = record.lines.first()
    InjectionPoint.objects.create(
        line=line, number=1, view="front", x=Decimal("0.5"), y=Decimal("0.4"), volume_ml=Decimal("0.1")
    )
    AdverseEvent.objects.create(
        record=record,
        kind="Bruising",
        severity="mild",
        action_taken="Cold pack",
        recorded_by=practitioner,
        recorded_at=timezone.now(),
    )
    treatment_record_addendum(actor=practitioner, record=objects["signed"], reason="Typo", text="Left cheek.")
    SessionChange.objects.create(
        session=record.session,
        kind="reschedule",
        changed_by=practitioner,
        from_starts_at=record.session.starts_at,
        to_starts_at=record.session.starts_at,
    )
    plan = PlanFactory(patient=patient)
    ContactAttempt.objects.create(plan=plan, outcome="no_answer", made_by=practitioner)
    consent = sign_consent(patient, practitioner, scope_photography=True)
    consent_withdraw(actor=practitioner, consent=consent, reason="Changed her mind", scopes=["photography"])
    photo_session = SessionFactory(
        patient=patient, practitioner=practitioner, status=SessionStatus.IN_TREATMENT
    )
    photo = add_photo(photo_session, practitioner)
    notification_queue(
        kind=NotificationKind.REMINDER_APPOINTMENT,
        channel="email",
        subject="Your appointment",
        body="See you on Tuesday.",
        dedupe_key=f"test:{patient.pk}",
        to_address=patient.email or "d@example.com",
        regarding=regarding_patient(patient.pk),
    )
    return patient, photo, consent


def _export_zip(client, patient) -> tuple[zipfile.ZipFile, object]:
    response = client.post(reverse("treatments:patient_export", args=[patient.pk]))
    assert response.status_code == 200, response
    body = b"".join(response.streaming_content)
    return zipfile.ZipFile(io.BytesIO(body)), response


class TestExport:
    def test_the_json_validates_against_the_schema_and_holds_every_kind_of_record(
        self, location, practitioner, manager, client_for
    ):
        patient, *_ = _rich_patient(location, practitioner)
        archive, _ = _export_zip(client_for(manager), patient)
        data = json.loads(archive.read("patient-data.json"))
        jsonschema.validate(data, SCHEMA, format_checker=jsonschema.FormatChecker())
        empty = [section for section in SECTIONS if not data[section]]
        assert empty == []
        assert data["patient"]["first_name"] == "Dora" and data["patient"]["location"] == location.name
        lines = ProductLine.objects.filter(record__session__patient=patient).select_related("lot")
        assert sorted(line["lot_number"] for line in data["product_lines"]) == sorted(
            line.lot.lot_number for line in lines
        )
        assert data["consent_withdrawals"][0]["reason"] == "Changed her mind"
        assert data["consent_templates"][0]["body"]
        assert data["messages"][0]["body"] == "See you on Tuesday."
        assert "dedupe_key" not in data["messages"][0] and "full_name" not in data["photos"][0]

    def test_the_photo_and_signature_files_are_in_the_archive_byte_for_byte(
        self, location, practitioner, manager, client_for
    ):
        patient, photo, consent = _rich_patient(location, practitioner)
        archive, _ = _export_zip(client_for(manager), patient)
        data = json.loads(archive.read("patient-data.json"))
        [exported_photo] = data["photos"]
        assert archive.read(exported_photo["file"]) == read_stored(photo.full_name)
        signed = {c["id"]: c["signature_file"] for c in data["consents"]}
        assert archive.read(signed[consent.pk]) == read_stored(consent.signature_name)
        assert archive.testzip() is None

    def test_the_summary_is_readable_and_escapes_what_staff_typed(
        self, location, practitioner, manager, client_for
    ):
        patient = PatientFactory(location=location, first_name="<script>alert(1)</script>", last_name="Doe")
        archive, _ = _export_zip(client_for(manager), patient)
        summary = archive.read("summary.html").decode()
        assert "<script>alert(1)" not in summary and "&lt;script&gt;" in summary
        assert "Your data held by" in summary

    def test_a_photo_lost_from_storage_is_said_so_not_a_broken_download(
        self, location, practitioner, manager, client_for
    ):
        patient, photo, _ = _rich_patient(location, practitioner)
        storages["private"].delete(photo.full_name)
        archive, _ = _export_zip(client_for(manager), patient)
        data = json.loads(archive.read("patient-data.json"))
        assert data["photos"][0]["file"] is None
        assert not [n for n in archive.namelist() if n.startswith("photos/")]

    def test_it_streams_in_bounded_chunks(self, location, practitioner, manager, client_for, monkeypatch):
        monkeypatch.setattr(export, "CHUNK", 1024)
        patient, photo, _ = _rich_patient(location, practitioner)
        response = client_for(manager).post(reverse("treatments:patient_export", args=[patient.pk]))
        assert response.streaming
        chunks = list(response.streaming_content)
        # Each photo chunk leaves as it is read: no chunk holds a whole photo.
        assert len(chunks) > photo.full_size // 1024
        assert max(len(c) for c in chunks[2:]) < photo.full_size
        zipfile.ZipFile(io.BytesIO(b"".join(chunks))).testzip()

    def test_the_download_is_private_named_without_the_patient_and_audited(
        self, location, practitioner, manager, client_for
    ):
        patient, *_ = _rich_patient(location, practitioner)
        _, response = _export_zip(client_for(manager), patient)
        assert response["Content-Type"] == "application/zip"
        assert response["Cache-Control"] == "private, no-store"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "Dora" not in response["Content-Disposition"]
        assert f"patient-{patient.pk}-data-" in response["Content-Disposition"]
        event = AuditEvent.objects.get(action=AuditAction.PATIENT_EXPORT)
        assert event.actor == manager and event.object_id == str(patient.pk)
        assert event.after["photos"] == 1 and event.after["files"] >= 2

    def test_the_query_count_does_not_grow_with_the_record(self, location, practitioner, manager, client_for):
        small = PatientFactory(location=location)
        SessionFactory(patient=small, practitioner=practitioner)
        big, *_ = _rich_patient(location, practitioner)
        for _ in range(3):
            SessionFactory(patient=big, practitioner=practitioner)
        client = client_for(manager)
        counts = []
        for patient in (small, big):
            with CaptureQueriesContext(connection) as queries:
                b"".join(
                    client.post(reverse("treatments:patient_export", args=[patient.pk])).streaming_content
                )
            counts.append(len(queries))
        assert counts[0] == counts[1]

    def test_a_manager_of_another_location_gets_404(self, location, practitioner, other_manager, client_for):
        patient, *_ = _rich_patient(location, practitioner)
        response = client_for(other_manager).post(reverse("treatments:patient_export", args=[patient.pk]))
        assert response.status_code == 404
        assert not AuditEvent.objects.filter(action=AuditAction.PATIENT_EXPORT).exists()

    def test_the_front_desk_and_practitioners_see_no_data_rights_button(
        self, location, front_desk, practitioner, manager, client_for
    ):
        patient = PatientFactory(location=location)
        url = reverse("treatments:patient_detail", args=[patient.pk])
        rights = reverse("treatments:patient_rights", args=[patient.pk])
        for user in (front_desk, practitioner):
            assert rights not in client_for(user).get(url).content.decode()
        assert rights in client_for(manager).get(url).content.decode()


# --- Restriction -------------------------------------------------------------------------------

TODAY = dt.date(2026, 3, 10)
NOW = at(TODAY, 10)


def _reminded_patient(location):
    patient = PatientFactory(
        location=location, reminder_opt_in=True, reminder_channel="email", email="dora@example.com"
    )
    SessionFactory(patient=patient, starts_at=NOW + dt.timedelta(hours=24, minutes=30))
    return patient


class TestRestriction:
    def test_restricting_cancels_a_due_reminder_and_the_sweep_writes_no_more(self, location, manager):
        patient = _reminded_patient(location)
        with time_machine.travel(NOW, tick=False):
            appointment_reminders_sweep(now=NOW)
            [row] = Notification.objects.filter(regarding=regarding_patient(patient.pk))
            patient_restrict(actor=manager, patient=patient, reason="Contests the record")
            row.refresh_from_db()
            assert row.status == Notification.Status.CANCELLED
            appointment_reminders_sweep(now=NOW)
            maintenance_reminders_sweep(now=NOW)
            assert Notification.objects.filter(regarding=regarding_patient(patient.pk)).count() == 1
        event = AuditEvent.objects.get(action=AuditAction.PATIENT_RESTRICT)
        assert event.after["cancelled_notifications"] == [row.pk] and event.actor == manager

    def test_a_reminder_already_claimed_is_not_sent_once_restricted(self, location, manager, mailoutbox):
        patient = _reminded_patient(location)
        with time_machine.travel(NOW + dt.timedelta(hours=1), tick=False):
            appointment_reminders_sweep(now=NOW)
            [row] = Notification.objects.filter(regarding=regarding_patient(patient.pk))
            # restricted behind the outbox's back (e.g. between the sweep's read and the send)
            Patient.objects.filter(pk=patient.pk).update(restricted_at=timezone.now())
            outbox.notification_send(notification_id=row.pk)
        row.refresh_from_db()
        assert row.status == Notification.Status.CANCELLED and mailoutbox == []

    def test_lifting_lets_the_next_sweep_write_reminders_again(self, location, manager):
        patient = _reminded_patient(location)
        with time_machine.travel(NOW, tick=False):
            patient_restrict(actor=manager, patient=patient, reason="Contests the record")
            appointment_reminders_sweep(now=NOW)
            assert not Notification.objects.filter(regarding=regarding_patient(patient.pk)).exists()
            patient_restriction_lift(actor=manager, patient=patient, reason="Record corrected")
            appointment_reminders_sweep(now=NOW)
            assert Notification.objects.filter(
                regarding=regarding_patient(patient.pk), status=Notification.Status.PENDING
            ).exists()
        lift = AuditEvent.objects.get(action=AuditAction.PATIENT_RESTRICTION_LIFT)
        assert lift.before["reason"] == "Contests the record" and lift.after["reason"] == "Record corrected"

    def test_restricting_takes_photos_out_of_marketing_and_refuses_marking_them(
        self, location, practitioner, manager
    ):
        patient = PatientFactory(location=location)
        sign_consent(patient, practitioner, scope_photography=True, scope_marketing=True)
        session = SessionFactory(
            patient=patient, practitioner=practitioner, status=SessionStatus.IN_TREATMENT
        )
        photo = add_photo(session, practitioner)
        photo_flag_marketing(actor=practitioner, photo=photo, marketing_use=True)
        patient_restrict(actor=manager, patient=patient, reason="Objects to marketing")
        assert not Photo.objects.get(pk=photo.pk).marketing_use
        with pytest.raises(ValidationError, match="restricted"):
            photo_flag_marketing(actor=practitioner, photo=photo, marketing_use=True)
        patient_restriction_lift(actor=manager, patient=patient, reason="Agreed again")
        assert not Photo.objects.get(pk=photo.pk).marketing_use  # a fresh decision, not restored

    def test_twice_or_without_a_reason_is_refused(self, location, manager):
        patient = PatientFactory(location=location)
        with pytest.raises(ValidationError, match="Say why"):
            patient_restrict(actor=manager, patient=patient, reason="  ")
        with pytest.raises(ValidationError, match="not restricted"):
            patient_restriction_lift(actor=manager, patient=patient, reason="x")
        patient_restrict(actor=manager, patient=patient, reason="Asked by email")
        with pytest.raises(ValidationError, match="already restricted"):
            patient_restrict(actor=manager, patient=patient, reason="Again")
        assert AuditEvent.objects.filter(action=AuditAction.PATIENT_RESTRICT).count() == 1

    def test_the_form_explains_a_missing_reason_and_changes_nothing(self, location, manager, client_for):
        patient = PatientFactory(location=location)
        response = client_for(manager).post(reverse("treatments:patient_restriction", args=[patient.pk]), {})
        assert response.status_code == 400
        assert "This field is required" in response.content.decode()
        assert not Patient.objects.get(pk=patient.pk).is_restricted

    def test_the_manager_restricts_and_lifts_from_the_page(self, location, manager, client_for):
        patient = PatientFactory(location=location)
        client = client_for(manager)
        url = reverse("treatments:patient_restriction", args=[patient.pk])
        page = client.post(url, {"reason": "Contests the record"}, follow=True).content.decode()
        assert "processing is restricted" in page and "Lift the restriction" in page
        assert Patient.objects.get(pk=patient.pk).restriction_reason == "Contests the record"
        page = client.post(url, {"reason": "Corrected"}, follow=True).content.decode()
        assert "is lifted" in page and not Patient.objects.get(pk=patient.pk).is_restricted

    def test_everyone_who_opens_the_record_sees_the_banner(
        self, location, front_desk, practitioner, manager, client_for
    ):
        patient = PatientFactory(location=location)
        patient_restrict(actor=manager, patient=patient, reason="Contests the record")
        for user in (front_desk, practitioner, manager):
            page = (
                client_for(user).get(reverse("treatments:patient_detail", args=[patient.pk])).content.decode()
            )
            assert 'data-testid="restricted-banner"' in page and "Stopped (restricted)" in page
