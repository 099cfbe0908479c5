"""Signed links in appointment reminders: confirm, cancel, ask for another time, no login."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail, signing

from clinic.models import AuditEvent, Notification
from clinic.notifications import NotificationKind, outbox
from tests.treatments.factories import PatientFactory, SessionFactory, at
from treatments import links
from treatments.models import Session, SessionStatus
from treatments.reminders import appointment_reminders_sweep

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 10)
NOW = at(TODAY, 10)


@pytest.fixture
def booked(location):
    patient = PatientFactory(location=location, reminder_opt_in=True, reminder_channel="email")
    return SessionFactory(patient=patient, starts_at=NOW + dt.timedelta(days=3))


def url(session):
    return f"/treatments/r/{links.respond_token(session.pk)}/"


class TestReminderCarriesTheLink:
    def test_the_sent_email_holds_a_working_link_built_at_send_time(self, location):
        patient = PatientFactory(location=location, reminder_opt_in=True, reminder_channel="email")
        session = SessionFactory(patient=patient, starts_at=NOW + dt.timedelta(hours=5))
        appointment_reminders_sweep(now=NOW)
        row = Notification.objects.get(kind=NotificationKind.REMINDER_APPOINTMENT)
        assert links.RESPOND_PLACEHOLDER in row.body  # the sweep signed nothing
        with time_machine.travel(NOW + dt.timedelta(minutes=1), tick=False):
            assert outbox.notification_send(notification_id=row.pk) == "sent"
        [message] = mail.outbox
        assert links.RESPOND_PLACEHOLDER not in message.body
        token = re.search(r"/treatments/r/([^/\s]+)/", message.body).group(1)
        with time_machine.travel(NOW + dt.timedelta(minutes=2), tick=False):
            assert links.session_id_from_token(token) == session.pk


class TestPage:
    def test_get_shows_the_page_and_changes_nothing(self, client, booked):
        with time_machine.travel(NOW, tick=False):
            response = client.get(url(booked))
        assert response.status_code == 200
        body = response.content.decode()
        assert booked.patient.first_name in body and booked.patient.last_name not in body
        booked.refresh_from_db()
        assert booked.patient_response == ""

    def test_confirm_without_login_is_audited_and_idempotent(self, client, booked):
        with time_machine.travel(NOW, tick=False):
            assert client.post(url(booked), {"answer": "confirmed"}).status_code == 200
            response = client.post(url(booked), {"answer": "confirmed"})
        assert "Confirmed" in response.content.decode()
        booked.refresh_from_db()
        assert booked.patient_response == "confirmed"
        [event] = AuditEvent.objects.filter(action="session.patient_confirm")
        assert event.actor_id is None and event.after["by"] == "patient via link"

    def test_cancel_goes_through_the_cancel_service(self, client, booked):
        with time_machine.travel(NOW, tick=False):
            client.post(url(booked), {"answer": "cancelled", "confirm": "1"})
        booked.refresh_from_db()
        assert booked.status == SessionStatus.CANCELLED
        assert booked.cancel_reason == "cancelled by patient"
        assert booked.patient_response == "cancelled"
        assert AuditEvent.objects.filter(action="session.cancel").exists()

    def test_no_cancel_inside_the_window(self, client, booked, settings):
        settings.CANCELLATION_WINDOW_HOURS = 100
        with time_machine.travel(NOW, tick=False):
            page = client.get(url(booked)).content.decode()
            response = client.post(url(booked), {"answer": "cancelled"})
        assert "too late to cancel online" in page
        assert response.status_code == 400
        booked.refresh_from_db()
        assert booked.status == SessionStatus.BOOKED and booked.patient_response == ""

    def test_reschedule_keeps_the_note(self, client, booked):
        with time_machine.travel(NOW, tick=False):
            client.post(url(booked), {"answer": "reschedule", "note": "Afternoons please"})
        booked.refresh_from_db()
        assert booked.patient_response == "reschedule" and booked.patient_note == "Afternoons please"
        assert AuditEvent.objects.filter(action="session.patient_reschedule").count() == 1


class TestBadLinks:
    def test_tampered_link_is_400_and_changes_nothing(self, client, booked):
        token = links.respond_token(booked.pk)
        with time_machine.travel(NOW, tick=False):
            response = client.post(f"/treatments/r/{token[:-2]}xx/", {"answer": "confirmed"})
        assert response.status_code == 400
        assert Session.objects.get(pk=booked.pk).patient_response == ""

    def test_a_token_for_another_salt_is_refused(self, client, booked):
        token = signing.dumps(booked.pk, salt="something else")
        with time_machine.travel(NOW, tick=False):
            assert client.get(f"/treatments/r/{token}/").status_code == 400

    def test_link_older_than_the_maximum_is_410(self, client, booked, settings):
        settings.PATIENT_LINK_MAX_DAYS = 1
        with time_machine.travel(NOW - dt.timedelta(days=2), tick=False):
            token = links.respond_token(booked.pk)
        with time_machine.travel(NOW, tick=False):
            response = client.post(f"/treatments/r/{token}/", {"answer": "confirmed"})
        assert response.status_code == 410
        assert Session.objects.get(pk=booked.pk).patient_response == ""

    def test_link_a_day_after_the_session_is_410(self, client, booked):
        with time_machine.travel(booked.starts_at - dt.timedelta(days=1), tick=False):
            token = links.respond_token(booked.pk)
        with time_machine.travel(booked.starts_at + dt.timedelta(days=1, minutes=1), tick=False):
            assert client.get(f"/treatments/r/{token}/").status_code == 410

    def test_rate_limited(self, client, booked):
        with time_machine.travel(NOW, tick=False):
            codes = [client.get(url(booked)).status_code for _ in range(31)]
        assert codes[-1] == 429 and codes[0] == 200


class TestDeskSeesTheAnswer:
    @pytest.mark.parametrize(
        ("answer", "badge"),
        [
            ("confirmed", "Confirmed"),
            ("reschedule", "Wants another time"),
            ("cancelled", "Cancelled by patient"),
        ],
    )
    def test_badge_on_today_calendar_and_history(
        self, client, client_for, front_desk, location, settings, answer, badge
    ):
        """Cancelled sessions leave the calendar and today list; their answer shows on the session."""
        settings.CANCELLATION_WINDOW_HOURS = 0
        patient = PatientFactory(location=location)
        with time_machine.travel(at(TODAY, 7), tick=False):
            session = SessionFactory(patient=patient, starts_at=at(TODAY, 15))
            client.post(
                url(session), {"answer": answer, "confirm": "1"}
            )  # confirm: the cancel's second press
            desk = client_for(front_desk)
            today = desk.get("/treatments/today/").content.decode()
            day = desk.get(f"/treatments/calendar/?date={TODAY.isoformat()}").content.decode()
            detail = desk.get(f"/treatments/sessions/{session.pk}/").content.decode()
        if answer != "cancelled":
            assert badge in today and badge in day
        assert "the patient (reminder link)" in detail and badge in detail
