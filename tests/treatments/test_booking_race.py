"""Two desks book the same slot at the same moment: exactly one succeeds (PostgreSQL)."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.concurrency import at_once
from tests.treatments.factories import PatientFactory, at
from treatments import services
from treatments.models import Session

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


def _race(bookings: list[dict]) -> tuple[list, list]:
    jobs = [lambda kw=kw: services.session_book(**kw).pk for kw in bookings]
    successes, refusals, unexpected = at_once(*jobs)
    assert unexpected == []
    return successes, refusals


def _booking(actor, patient, practitioner, start, room=None):
    return {
        "actor": actor,
        "patient": patient,
        "practitioner": practitioner,
        "location": patient.location,
        "starts_at": start,
        "duration_minutes": 45,
        "treatment_type": "skin_quality",
        "room": room,
    }


@pytest.mark.parametrize("attempt", range(3))
def test_two_desks_booking_one_practitioner_at_once_cannot_both_succeed(
    attempt, front_desk, manager, practitioner_all_hours, location, tomorrow
):
    a, b = PatientFactory(location=location), PatientFactory(location=location)
    start = at(tomorrow, 10)
    successes, refusals = _race(
        [
            _booking(front_desk, a, practitioner_all_hours, start),
            _booking(manager, b, practitioner_all_hours, at(tomorrow, 10, 15)),
        ]
    )
    assert len(successes) == 1 and len(refusals) == 1
    assert "already booked" in str(refusals[0])
    assert Session.objects.filter(practitioner=practitioner_all_hours).count() == 1


def test_two_desks_booking_one_room_at_once_cannot_both_succeed(
    front_desk, manager, practitioner_all_hours, nurse, location, room, tomorrow
):
    a, b = PatientFactory(location=location), PatientFactory(location=location)
    successes, refusals = _race(
        [
            _booking(front_desk, a, practitioner_all_hours, at(tomorrow, 11), room),
            _booking(manager, b, nurse, at(tomorrow, 11, 30), room),
        ]
    )
    assert len(successes) == 1 and len(refusals) == 1
    assert Session.objects.filter(room=room).count() == 1


def test_many_desks_at_once_still_give_one_booking(location, front_desk, practitioner_all_hours, tomorrow):
    patients = [PatientFactory(location=location) for _ in range(6)]
    successes, refusals = _race(
        [_booking(front_desk, p, practitioner_all_hours, at(tomorrow, 12)) for p in patients]
    )
    assert len(successes) == 1 and len(refusals) == 5
