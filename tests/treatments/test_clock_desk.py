"""The desk's bookings on the nights the clocks change (Europe/London): a session lasts real
minutes, a time that does not exist is refused with a message, a time of the repeated hour is
its first occurrence."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model

from clinic.clock import after, wall_instants
from tests.treatments.factories import SessionFactory
from treatments.forms import RescheduleForm

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")
BACK = dt.date(2026, 10, 25)  # 02:00 BST becomes 01:00 GMT
FORWARD = dt.date(2026, 3, 29)  # 01:00 GMT becomes 02:00 BST


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_wall_instants_name_none_one_or_two_moments():
    assert wall_instants(FORWARD, dt.time(1, 30), LONDON) == []
    assert wall_instants(FORWARD, dt.time(2, 30), LONDON) == [utc(2026, 3, 29, 1, 30)]
    assert wall_instants(BACK, dt.time(1, 30), LONDON) == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)]
    assert wall_instants(BACK, dt.time(10), LONDON) == [utc(2026, 10, 25, 10)]


def test_a_duration_is_real_time_across_the_change():
    first = dt.datetime(2026, 10, 25, 1, 30, tzinfo=LONDON)  # BST
    assert after(first, dt.timedelta(hours=1)) == utc(2026, 10, 25, 1, 30)  # 01:30 GMT
    assert first + dt.timedelta(hours=1) == utc(2026, 10, 25, 2, 30)  # what wall-clock arithmetic gave


def test_a_session_at_half_past_one_bst_ends_an_hour_later(location, practitioner):
    session = SessionFactory(
        practitioner=practitioner,
        patient__location=location,
        starts_at=dt.datetime(2026, 10, 25, 1, 30, tzinfo=LONDON),
        duration_minutes=60,
    )
    session.refresh_from_db()
    assert session.ends_at - session.starts_at == dt.timedelta(hours=1)
    assert session.ends_at == utc(2026, 10, 25, 1, 30)


def _form(practitioner, day: dt.date, time: str) -> RescheduleForm:
    return RescheduleForm(
        data={"date": day.isoformat(), "time": time, "duration_minutes": 45, "practitioner": practitioner.pk},
        practitioners=get_user_model().objects.filter(pk=practitioner.pk),
        rooms=location_rooms(),
        can_override=False,
    )


def location_rooms():
    from treatments.models import Room

    return Room.objects.none()


def test_the_desk_cannot_book_a_time_the_clocks_skip(practitioner):
    form = _form(practitioner, FORWARD, "01:30")
    assert not form.is_valid()
    assert form.errors["time"] == [
        "01:30 does not exist on 29 March: the clocks go forward that night. Choose another time."
    ]
    assert _form(practitioner, FORWARD, "02:30").is_valid()


def test_a_time_of_the_repeated_hour_is_its_first_occurrence(practitioner):
    form = _form(practitioner, BACK, "01:30")
    assert form.is_valid(), form.errors
    # Compared in UTC: Python never finds a time of the repeated hour equal across zones.
    assert form.starts_at().astimezone(dt.UTC) == utc(2026, 10, 25, 0, 30)
    assert form.starts_at().tzname() == "BST"
