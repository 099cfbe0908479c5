"""Replies by text: the signed webhook, confirm / STOP / inbox, and the front desk's inbox."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import pytest
import time_machine

from clinic.models import AuditEvent, Notification
from clinic.notifications import NotificationKind
from tests.treatments.factories import PatientFactory, SessionFactory, at
from treatments.models import InboundMessage
from treatments.reminders import appointment_key
from treatments.views.inbound import body_signature

pytestmark = pytest.mark.django_db

SECRET = "s3cret"
NOW = at(dt.date(2026, 3, 10), 10)
URL = "/treatments/sms/inbound/"


def post(client, data, secret=SECRET):
    body = urlencode(data)
    return client.post(
        URL,
        body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_CLINIC_SIGNATURE=body_signature(body.encode(), secret),
    )


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.SMS_INBOUND_SECRET = SECRET


def reminded_session(patient):
    session = SessionFactory(patient=patient, starts_at=NOW + dt.timedelta(days=1))
    Notification.objects.create(
        kind=NotificationKind.REMINDER_APPOINTMENT,
        channel="sms",
        to_address=patient.phone,
        subject="",
        body="x",
        dedupe_key=appointment_key(session.pk, session.starts_at),
        status="sent",
    )
    return session


class TestWebhook:
    def test_no_secret_is_404(self, client, settings):
        settings.SMS_INBOUND_SECRET = ""
        assert post(client, {"from": "+447700900001", "body": "Y"}).status_code == 404

    def test_bad_signature_is_refused_and_stores_nothing(self, client):
        assert post(client, {"from": "+447700900001", "body": "hi"}, secret="wrong").status_code == 403
        assert InboundMessage.objects.count() == 0

    def test_get_is_405(self, client):
        assert client.get(URL).status_code == 405

    def test_yes_confirms_the_next_reminded_session(self, client, location):
        patient = PatientFactory(location=location)
        session = reminded_session(patient)
        with time_machine.travel(NOW, tick=False):
            response = post(client, {"from": patient.phone, "body": " yes "})
        assert response.content == b"confirmed"
        session.refresh_from_db()
        assert session.patient_response == "confirmed"
        event = AuditEvent.objects.get(action="session.patient_confirm")
        assert event.actor_id is None and event.after["by"] == "patient via SMS"

    def test_stop_opts_out(self, client, location):
        patient = PatientFactory(location=location, reminder_opt_in=True)
        with time_machine.travel(NOW, tick=False):
            assert post(client, {"from": patient.phone, "body": "STOP"}).content == b"opted-out"
        patient.refresh_from_db()
        assert patient.reminder_opt_in is False

    def test_anything_else_goes_to_the_inbox(self, client, location):
        patient = PatientFactory(location=location)
        with time_machine.travel(NOW, tick=False):
            assert post(client, {"from": patient.phone, "body": "Running late"}).content == b"inbox"
            assert post(client, {"from": "+447700900999", "body": "Y"}).content == b"inbox"
        known, unknown = InboundMessage.objects.order_by("pk")
        assert known.patient == patient and known.location == location
        assert unknown.patient is None
        assert AuditEvent.objects.filter(action="inbound_sms.received").count() == 2


class TestInbox:
    def test_front_desk_sees_own_location_and_marks_handled(
        self, client_for, front_desk, location, other_location
    ):
        mine = InboundMessage.objects.create(from_number="+447700900001", body="Mine here", location=location)
        InboundMessage.objects.create(from_number="+447700900002", body="Elsewhere", location=other_location)
        desk = client_for(front_desk)
        page = desk.get("/treatments/inbox/").content.decode()
        assert "Mine here" in page and "Elsewhere" not in page
        assert desk.post(f"/treatments/inbox/{mine.pk}/handled/").status_code == 302
        mine.refresh_from_db()
        assert mine.status == "handled" and mine.handled_by == front_desk
        assert AuditEvent.objects.filter(action="inbound_sms.handled").count() == 1

    def test_other_locations_message_cannot_be_handled(self, client_for, front_desk, other_location):
        theirs = InboundMessage.objects.create(from_number="+447700900002", body="x", location=other_location)
        assert client_for(front_desk).post(f"/treatments/inbox/{theirs.pk}/handled/").status_code == 404
