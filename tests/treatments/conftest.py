from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from clinic.roles import PRACTITIONER
from tests.factories import staff
from tests.treatments.factories import PatientFactory, RoomFactory, all_week_hours


@pytest.fixture
def room(location):
    return RoomFactory(location=location, name="Room 1")


@pytest.fixture
def other_room(location):
    return RoomFactory(location=location, name="Room 2")


@pytest.fixture
def patient(location):
    return PatientFactory(location=location, first_name="Jane", last_name="Doe")


@pytest.fixture
def other_patient(other_location):
    return PatientFactory(location=other_location, first_name="Otto", last_name="Outside")


@pytest.fixture
def practitioner_all_hours(practitioner, location):
    all_week_hours(practitioner, location)
    return practitioner


@pytest.fixture
def nurse(location):
    user = staff(PRACTITIONER, location, username="nurse", first_name="Nadia", last_name="Okafor")
    all_week_hours(user, location)
    return user


@pytest.fixture
def tomorrow():
    return timezone.localdate() + dt.timedelta(days=1)
