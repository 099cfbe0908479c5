"""The public opt-out link in patient reminders: signed token, confirmation, audit."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from clinic.channels import email_message
from clinic.models import AuditEvent, Notification
from tests.treatments.factories import PatientFactory, PlanFactory, at
from treatments.models import Patient
from treatments.reminders import maintenance_reminders_sweep, opt_out_patient_id, opt_out_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(location):
    return PatientFactory(location=location, reminder_opt_in=True, reminder_channel="email")


def this_morning() -> dt.datetime:
    """10:00 today, clinic time: the sweep's day is the day the plans are dated from.

    (10:00 UTC of the UTC day was yesterday's sweep between midnight and 01:00 BST, and the
    plan due in seven days was then eight days away: no reminder.)
    """
    return at(timezone.localdate(), 10)


def url_for(patient_id: int) -> str:
    return reverse("clinic:reminder_opt_out", args=[opt_out_token(patient_id)])


def test_the_token_names_the_patient_and_cannot_be_forged(patient):
    token = opt_out_token(patient.pk)
    assert opt_out_patient_id(token) == patient.pk
    # Another patient's id with this token's timestamp and signature.
    from django.core.signing import b64_encode

    _payload, timestamp, signature = token.rsplit(":", 2)
    forged = ":".join([b64_encode(str(patient.pk + 1).encode()).decode(), timestamp, signature])
    assert forged != token
    assert opt_out_patient_id(forged) is None
    assert opt_out_patient_id("not-a-token") is None
    # A token signed for something else (another salt) is refused too.
    from django.core import signing

    assert opt_out_patient_id(signing.dumps(patient.pk)) is None


def test_get_asks_for_confirmation_and_changes_nothing(client, patient):
    response = client.get(url_for(patient.pk))
    assert response.status_code == 200
    assert b"Stop reminders" in response.content
    assert patient.last_name.encode() not in response.content  # nothing about the patient
    patient.refresh_from_db()
    assert patient.reminder_opt_in is True


def test_post_records_the_opt_out_with_an_audit_row_and_cancels_pending_reminders(client, patient, location):
    PlanFactory(patient=patient, started_on=timezone.localdate() + dt.timedelta(days=7))
    maintenance_reminders_sweep(now=this_morning())
    [pending] = Notification.objects.filter(regarding=f"treatments.patient:{patient.pk}")
    response = client.post(url_for(patient.pk))
    assert response.status_code == 200 and b"Reminders stopped" in response.content
    patient.refresh_from_db()
    assert patient.reminder_opt_in is False
    pending.refresh_from_db()
    assert pending.status == "cancelled"
    event = AuditEvent.objects.get(action="patient.reminders_opt_out")
    assert event.actor is None and event.object_id == str(patient.pk) and event.location == location
    assert event.before == {"reminder_opt_in": True}
    assert event.after["reminder_opt_in"] is False and event.after["cancelled_notifications"] == [pending.pk]


def test_a_second_post_is_harmless(client, patient):
    client.post(url_for(patient.pk))
    response = client.post(url_for(patient.pk))
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action="patient.reminders_opt_out").count() == 1


def test_a_bad_token_is_refused(client, patient):
    assert client.get("/clinic/reminders/stop/garbage/").status_code == 400
    response = client.post("/clinic/reminders/stop/garbage/")
    assert response.status_code == 400
    patient.refresh_from_db()
    assert patient.reminder_opt_in is True


def test_a_deleted_patient_answers_not_found(client):
    assert client.post(url_for(999999)).status_code == 404


def test_other_methods_are_refused(client, patient):
    assert client.put(url_for(patient.pk)).status_code == 405


def test_the_link_in_a_reminder_leads_to_the_page(client, patient, settings):
    settings.SITE_URL = "https://clinic.example"
    PlanFactory(patient=patient, started_on=timezone.localdate() + dt.timedelta(days=7))
    maintenance_reminders_sweep(now=this_morning())
    reminder = Notification.objects.get(regarding=f"treatments.patient:{patient.pk}")
    message = email_message(reminder)  # the link is built when the reminder is sent
    links = set(re.findall(r"https://clinic\.example(/clinic/reminders/stop/[^\s\"<]+)", message.body))
    assert links and links == set(
        re.findall(r"https://clinic\.example(/clinic/reminders/stop/[^\s\"<]+)", message.alternatives[0][0])
    )
    response = client.post(links.pop())
    assert response.status_code == 200
    assert Patient.objects.get(pk=patient.pk).reminder_opt_in is False


def test_staff_signed_in_can_use_it_too(client_for, front_desk, patient):
    assert client_for(front_desk).get(url_for(patient.pk)).status_code == 200
