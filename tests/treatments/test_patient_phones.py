"""Patients' phone numbers: the form refuses what is not a number, stores E.164 and shows it
nationally; numbers kept as typed by the E.164 migration are flagged and get no SMS."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
import time_machine
from django.apps import apps
from django.core.exceptions import ValidationError

from clinic.models import Notification
from clinic.notifications import notification_send
from tests.clinic.test_channels import FakeSms
from tests.treatments.factories import PatientFactory, PlanFactory, at
from treatments import services
from treatments.models import Patient, phone_digits
from treatments.reminders import maintenance_reminders_sweep

pytestmark = pytest.mark.django_db

MESSAGE = "Enter a phone number such as 020 7946 0000 or +44 20 7946 0000."


def _form(location, **changes) -> dict:
    return {
        "first_name": "Jane",
        "last_name": "Doe",
        "date_of_birth": "1980-05-17",
        "phone": "020 7946 0018",
        "email": "",
        "location": location.pk,
        "reminder_channel": "sms",
    } | changes


class TestPatientForm:
    def test_registering_refuses_call_me_maybe_with_the_message(self, client_for, front_desk, location):
        response = client_for(front_desk).post(
            "/treatments/patients/new/", _form(location, phone="call me maybe")
        )
        assert response.status_code == 200
        assert response.context["form"].errors["phone"] == [
            f"A phone number has digits only, no letters or extension. {MESSAGE}"
        ]
        assert MESSAGE in response.content.decode()
        assert not Patient.objects.exists()

    def test_registering_stores_e164(self, client_for, front_desk, location):
        response = client_for(front_desk).post("/treatments/patients/new/", _form(location))
        assert response.status_code == 302
        patient = Patient.objects.get()
        assert patient.phone == "+442079460018" and patient.phone_digits == "02079460018"

    def test_editing_opens_the_number_nationally_and_stores_e164(self, client_for, front_desk, location):
        patient = PatientFactory(location=location, phone="+442079460018")
        client = client_for(front_desk)
        url = f"/treatments/patients/{patient.pk}/edit/"
        assert client.get(url).context["form"]["phone"].value() == "020 7946 0018"
        data = _form(location, date_of_birth=patient.date_of_birth.isoformat(), phone="+44 113 496 0123")
        assert client.post(url, data).status_code == 302
        patient.refresh_from_db()
        assert patient.phone == "+441134960123"

    def test_a_number_kept_as_typed_must_be_corrected_when_edited(self, client_for, front_desk, location):
        patient = PatientFactory(location=location, last_name="Archer")
        Patient.objects.filter(pk=patient.pk).update(phone="call me maybe")
        data = _form(location, date_of_birth=patient.date_of_birth.isoformat(), phone="call me maybe")
        response = client_for(front_desk).post(f"/treatments/patients/{patient.pk}/edit/", data)
        assert response.status_code == 200 and MESSAGE in response.content.decode()
        patient.refresh_from_db()
        assert patient.phone == "call me maybe" and patient.last_name == "Archer"  # nothing changed


class TestServices:
    def test_the_service_refuses_a_bad_number_on_the_phone_field(self, front_desk, location):
        with pytest.raises(ValidationError) as exc:
            services.patient_create(
                actor=front_desk,
                location=location,
                first_name="Jane",
                last_name="Doe",
                date_of_birth=dt.date(1980, 5, 17),
                phone="call me maybe",
            )
        assert list(exc.value.message_dict) == ["phone"]
        assert not Patient.objects.exists()

    def test_an_update_without_the_phone_does_not_trip_over_a_kept_number(self, front_desk, location):
        patient = PatientFactory(location=location)
        Patient.objects.filter(pk=patient.pk).update(phone="call me maybe")
        services.patient_update(actor=front_desk, patient=patient, front_desk_notes="Prefers mornings.")
        patient.refresh_from_db()
        assert patient.phone == "call me maybe" and patient.front_desk_notes == "Prefers mornings."


class TestDisplay:
    def test_the_patient_page_shows_the_number_nationally(self, client_for, front_desk, location):
        patient = PatientFactory(location=location, phone="+442079460018")
        html = client_for(front_desk).get(f"/treatments/patients/{patient.pk}/").content.decode()
        assert '<a class="text-nowrap" href="tel:+442079460018">020 7946 0018</a>' in html
        assert "check this number" not in html

    def test_a_number_kept_as_typed_is_flagged_on_the_patient_page(self, client_for, front_desk, location):
        patient = PatientFactory(location=location)
        Patient.objects.filter(pk=patient.pk).update(phone="call me maybe")
        html = client_for(front_desk).get(f"/treatments/patients/{patient.pk}/").content.decode()
        assert "call me maybe" in html and "check this number" in html

    def test_the_list_and_the_search_show_numbers_nationally(self, client_for, front_desk, location):
        PatientFactory(location=location, last_name="Doe", phone="+442079460018")
        client = client_for(front_desk)
        assert "020 7946 0018" in client.get("/treatments/patients/", {"q": "doe"}).content.decode()
        [found] = client.get("/treatments/patients/search.json", {"q": "020 7946 0018"}).json()["results"]
        assert found["phone"] == "020 7946 0018"


# --- Reminders by SMS to a number kept as typed ----------------------------------------------


@pytest.fixture
def fake_sms(settings):
    settings.SMS_BACKEND = "tests.clinic.test_channels.FakeSms"
    FakeSms.sent = []
    return FakeSms.sent


def test_a_reminder_to_a_kept_number_is_not_sent_and_fails_on_the_patient_page(
    fake_sms, client_for, front_desk, location
):
    """Queued, then failed at once with the reason: the desk sees on the patient's page that the
    patient was not reminded, and why (a reminder left out silently would not be noticed)."""
    today = dt.date(2026, 3, 10)
    patient = PatientFactory(location=location, reminder_opt_in=True, reminder_channel="sms")
    Patient.objects.filter(pk=patient.pk).update(phone="call me maybe")
    PlanFactory(patient=patient, started_on=today)
    with time_machine.travel(at(today, 10), tick=False):
        assert maintenance_reminders_sweep() == 1
        row = Notification.objects.get()
        assert notification_send(notification_id=row.pk) == "undeliverable"
        html = client_for(front_desk).get(f"/treatments/patients/{patient.pk}/").content.decode()
    assert fake_sms == []
    row.refresh_from_db()
    assert row.status == Notification.Status.FAILED and row.attempts == 1
    assert "is not a valid phone number" in html and "check this number" in html


def test_a_reminder_to_a_valid_number_goes_to_e164_and_names_the_clinic_nationally(fake_sms, location):
    today = dt.date(2026, 3, 10)
    location.phone = "+442079460000"
    location.save()
    patient = PatientFactory(location=location, reminder_opt_in=True, reminder_channel="sms")
    PlanFactory(patient=patient, started_on=today)
    with time_machine.travel(at(today, 10), tick=False):
        maintenance_reminders_sweep()
        row = Notification.objects.get()
        assert notification_send(notification_id=row.pk) == "sent"
    [sms] = fake_sms
    assert sms["to"] == patient.phone and patient.phone.startswith("+44")
    assert "Call 020 7946 0000 to book." in sms["body"]


# --- The migration of patients' numbers -------------------------------------------------------


def test_the_migration_stores_valid_numbers_in_e164_and_keeps_the_rest(location):
    migration = importlib.import_module("treatments.migrations.0008_patient_phone_e164")
    typed = {
        "Ann": "020 7946 0018",
        "Ben": "+44 113 496 0123",
        "Cal": "0044 161 496 0002",
        "Dot": "call me maybe",
        "Eve": "07700 900123",  # Ofcom drama mobile: not a valid number, kept
        "Fay": "",
        "Gil": "+33 1 23 45 67 89",
        "Hal": "+442079460999",
    }
    for name in typed:
        PatientFactory(location=location, first_name=name)
    for name, phone in typed.items():
        # As stored before validation (and its search key as the old code wrote it).
        Patient.objects.filter(first_name=name).update(phone=phone, phone_digits=phone_digits(phone))

    migration.patient_phones_to_e164(apps, None)

    stored = {p.first_name: (p.phone, p.phone_digits) for p in Patient.objects.all()}
    assert stored == {
        "Ann": ("+442079460018", "02079460018"),
        "Ben": ("+441134960123", "01134960123"),
        "Cal": ("+441614960002", "01614960002"),
        "Dot": ("call me maybe", ""),  # kept exactly, never lost
        "Eve": ("07700 900123", "07700900123"),
        "Fay": ("", ""),
        "Gil": ("+33123456789", "33123456789"),
        "Hal": ("+442079460999", "02079460999"),  # already E.164: left as it was
    }
    assert set(Patient.objects.search("0161 496")) == {Patient.objects.get(first_name="Cal")}
