"""Links in reminders are built when the message is sent, not when the sweep writes the row
(issue 20 item 6): the stored row holds a placeholder, the patient's message a working link
whose age counts from the sending."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail, signing

from clinic.models import Notification
from clinic.notifications import NotificationKind, outbox
from tests.clinic.test_channels import FakeSms
from tests.treatments.factories import PatientFactory, PlanFactory, SessionFactory, at
from treatments import links
from treatments.models import Patient, Session
from treatments.reminders import OPT_OUT_SALT, appointment_reminders_sweep, maintenance_reminders_sweep

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 10)  # a Tuesday
NOW = at(TODAY, 10)
STOP = re.compile(r"/clinic/reminders/stop/([^/\s\"<]+)/")


def maintenance_reminder(location, channel: str = "email", due: dt.date = TODAY + dt.timedelta(days=7)):
    patient = PatientFactory(
        location=location, reminder_opt_in=True, reminder_channel=channel, phone="+441134960123"
    )
    PlanFactory(patient=patient, started_on=due)
    with time_machine.travel(NOW, tick=False):
        assert maintenance_reminders_sweep(now=NOW) == 1
    return Notification.objects.get(kind=NotificationKind.REMINDER_MAINTENANCE)


def send(row: Notification, when: dt.datetime) -> None:
    with time_machine.travel(when, tick=False):
        assert outbox.notification_send(notification_id=row.pk) == "sent"


class TestMaintenanceReminderLink:
    def test_the_stored_row_holds_a_placeholder_and_no_signature(self, location):
        row = maintenance_reminder(location)
        assert links.PATIENT_LINK_PLACEHOLDER in row.body and links.PATIENT_LINK_PLACEHOLDER in row.html_body
        assert "/clinic/reminders/stop/" not in row.body + row.html_body

    def test_the_sent_email_carries_the_patients_link_in_text_and_html(self, location):
        row = maintenance_reminder(location)
        send(row, NOW + dt.timedelta(minutes=1))
        [message] = mail.outbox
        html = message.alternatives[0][0]
        assert links.PATIENT_LINK_PLACEHOLDER not in message.body + html
        [token] = set(STOP.findall(message.body))
        assert STOP.findall(html) == [token]
        assert signing.loads(token, salt=OPT_OUT_SALT) == int(row.regarding.split(":")[1])

    def test_the_sent_sms_carries_the_link(self, location, settings):
        settings.SMS_BACKEND = "tests.clinic.test_channels.FakeSms"
        FakeSms.sent = []
        row = maintenance_reminder(location, channel="sms")
        send(row, NOW + dt.timedelta(minutes=1))
        [sms] = FakeSms.sent
        assert links.PATIENT_LINK_PLACEHOLDER not in sms["body"] and STOP.search(sms["body"])
        assert len(sms["body"]) < 320

    def test_each_patient_gets_their_own_link_from_the_same_stored_text(self, location):
        first = maintenance_reminder(location)
        second_patient = PatientFactory(location=location, reminder_opt_in=True, reminder_channel="email")
        PlanFactory(patient=second_patient, started_on=TODAY + dt.timedelta(days=7))
        maintenance_reminders_sweep(now=NOW)
        second = Notification.objects.exclude(pk=first.pk).get(kind=NotificationKind.REMINDER_MAINTENANCE)
        assert first.body == second.body  # one text for both: nothing per patient in the row
        send(first, NOW + dt.timedelta(minutes=1))
        send(second, NOW + dt.timedelta(minutes=1))
        tokens = [STOP.search(message.body).group(1) for message in mail.outbox]
        ids = [signing.loads(token, salt=OPT_OUT_SALT) for token in tokens]
        assert set(ids) == {int(first.regarding.split(":")[1]), second_patient.pk}

    def test_a_message_sent_days_later_is_signed_when_sent_and_its_link_still_works(self, client, location):
        row = maintenance_reminder(location)  # written on day 0
        sent_at = NOW + dt.timedelta(days=5)  # the worker was down until day 5
        send(row, sent_at)
        token = STOP.search(mail.outbox[0].body).group(1)
        # Signed at the sending: less than an hour old then, though the row is five days old.
        with time_machine.travel(sent_at + dt.timedelta(minutes=30), tick=False):
            assert signing.loads(token, salt=OPT_OUT_SALT, max_age=dt.timedelta(hours=1))
        with time_machine.travel(sent_at + dt.timedelta(hours=2), tick=False):
            with pytest.raises(signing.SignatureExpired):
                signing.loads(token, salt=OPT_OUT_SALT, max_age=dt.timedelta(hours=1))
            response = client.post(f"/clinic/reminders/stop/{token}/")
        assert response.status_code == 200
        assert Patient.objects.get(pk=int(row.regarding.split(":")[1])).reminder_opt_in is False

    def test_the_stop_link_never_expires_but_a_tampered_one_is_refused(self, client, location):
        """A patient must be able to stop reminders whenever they read the message: the stop
        link has no maximum age (PATIENT_LINK_MAX_DAYS is for links that change a booking)."""
        row = maintenance_reminder(location)
        send(row, NOW + dt.timedelta(minutes=1))
        token = STOP.search(mail.outbox[0].body).group(1)
        with time_machine.travel(NOW + dt.timedelta(days=400), tick=False):
            assert client.post(f"/clinic/reminders/stop/{token[:-2]}xx/").status_code == 400
            assert client.post(f"/clinic/reminders/stop/{token}/").status_code == 200

    def test_a_row_about_no_patient_gets_no_link(self, location):
        row = maintenance_reminder(location)
        row.regarding = ""
        assert links.maintenance_url(row) == ""


class TestAppointmentLinkSentLater:
    def test_its_age_counts_from_the_sending_and_it_expires_after_the_maximum(
        self, client, location, settings
    ):
        settings.PATIENT_LINK_MAX_DAYS = 1
        settings.APPOINTMENT_REMINDER_HOURS = 100  # written now for a session four days ahead
        patient = PatientFactory(location=location, reminder_opt_in=True, reminder_channel="email")
        session = SessionFactory(patient=patient, starts_at=NOW + dt.timedelta(days=4))
        appointment_reminders_sweep(now=NOW)
        row = Notification.objects.get(kind=NotificationKind.REMINDER_APPOINTMENT)
        assert links.RESPOND_PLACEHOLDER in row.body
        sent_at = NOW + dt.timedelta(days=2)  # two days late: older than the maximum if signed at writing
        send(row, sent_at)
        path = re.search(r"/treatments/r/[^/\s]+/", mail.outbox[0].body).group(0)
        with time_machine.travel(sent_at + dt.timedelta(hours=20), tick=False):
            assert client.get(path).status_code == 200
        with time_machine.travel(sent_at + dt.timedelta(days=1, hours=1), tick=False):
            assert client.post(path, {"answer": "confirmed"}).status_code == 410
        assert Session.objects.get(pk=session.pk).patient_response == ""
