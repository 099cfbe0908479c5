"""Registering patients, the duplicate warning and the type-ahead search."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from clinic.models import AuditEvent
from tests.treatments.factories import PatientFactory
from treatments import services
from treatments.models import Patient

pytestmark = pytest.mark.django_db


def register(actor, location, **kw):
    data = {
        "first_name": "Jane",
        "last_name": "Doe",
        "date_of_birth": dt.date(1980, 5, 17),
        "phone": "+44 113 496 0123",
    }
    return services.patient_create(actor=actor, location=location, **(data | kw))


class TestPatientCreate:
    def test_it_registers_and_audits(self, front_desk, location):
        patient = register(front_desk, location)
        assert patient.phone == "+441134960123"  # stored in E.164
        assert patient.phone_digits == "01134960123" and patient.last_name_key == "doe"
        assert AuditEvent.objects.filter(action="patient.create", object_id=str(patient.pk)).exists()

    def test_it_warns_about_a_likely_duplicate_until_confirmed(self, front_desk, location):
        first = register(front_desk, location)
        with pytest.raises(services.DuplicatePatientError) as exc:
            register(front_desk, location, first_name=" jane ", last_name="DOE")
        assert exc.value.duplicates == [first]
        assert register(front_desk, location, confirm_duplicate=True).pk != first.pk

    def test_a_different_birthday_is_not_a_duplicate(self, front_desk, location):
        register(front_desk, location)
        assert register(front_desk, location, date_of_birth=dt.date(1981, 5, 17)).pk

    def test_sms_reminders_need_a_phone_number(self, front_desk, location):
        with pytest.raises(ValidationError, match="need a phone number"):
            register(front_desk, location, phone="", reminder_opt_in=True, reminder_channel="sms")

    def test_update_audits_only_what_changed(self, front_desk, location):
        patient = register(front_desk, location)
        services.patient_update(actor=front_desk, patient=patient, phone="020 7946 0999")
        event = AuditEvent.objects.get(action="patient.update")
        assert event.before == {"phone": "+441134960123"} and event.after == {"phone": "+442079460999"}
        patient.refresh_from_db()
        assert patient.phone_digits == "02079460999"


class TestSearch:
    @pytest.fixture
    def people(self, location):
        return {
            "jane": PatientFactory(
                location=location,
                first_name="Jane",
                last_name="Doe",
                date_of_birth=dt.date(1980, 5, 17),
                phone="+441134960123",
            ),
            "john": PatientFactory(
                location=location,
                first_name="John",
                last_name="Dobson",
                date_of_birth=dt.date(1975, 1, 2),
                phone="+442079460001",
            ),
            "ada": PatientFactory(
                location=location,
                first_name="Ada",
                last_name="Janeway",
                date_of_birth=dt.date(1990, 3, 3),
                phone="+441614960000",
            ),
            "zoe": PatientFactory(
                location=location,
                first_name="Zoé",
                last_name="Martin",
                date_of_birth=dt.date(1985, 6, 6),
                phone="+33123456789",
            ),
        }

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("do", {"jane", "john"}),
            ("Jan", {"jane", "ada"}),
            ("jane doe", {"jane"}),
            ("doe jane", {"jane"}),
            ("j dob", {"john"}),
            ("0113", {"jane"}),
            ("0113 496 0123", {"jane"}),
            ("+44 113 496", {"jane"}),
            ("0044 113", {"jane"}),
            ("+33 1 23", {"zoe"}),
            ("17/05/1980", {"jane"}),
            ("1975-01-02", {"john"}),
            ("zz", set()),
            ("07", set()),  # too short to be useful
            ("", set()),
        ],
    )
    def test_it_finds_by_name_phone_or_birthday(self, people, query, expected):
        found = set(Patient.objects.search(query))
        assert found == {people[k] for k in expected}
