"""List and detail pages run a fixed number of queries whatever the data size."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from clinic.roles import PRACTITIONER
from tests.factories import staff
from tests.treatments.factories import (
    PatientFactory,
    PlanFactory,
    RoomFactory,
    SessionFactory,
    all_week_hours,
    at,
)
from treatments import services
from treatments.models import ContactAttempt, SessionStatus

pytestmark = pytest.mark.django_db


def _grow(location, n: int, day: dt.date) -> None:
    """n more practitioners, rooms, patients, sessions that day, due plans and contact attempts."""
    for i in range(n):
        prac = staff(PRACTITIONER, location, username=f"p{n}_{i}_{day:%d}")
        all_week_hours(prac, location)
        room = RoomFactory(location=location, name=f"R{n}-{i}")
        patient = PatientFactory(location=location, first_name="Anna")  # matches the search "a"
        for hour, status in (
            (9, SessionStatus.COMPLETED),
            (11, SessionStatus.BOOKED),
            (14, SessionStatus.CANCELLED),
        ):
            SessionFactory(
                patient=patient, practitioner=prac, room=room, starts_at=at(day, hour), status=status
            )
        plan = PlanFactory(patient=patient, started_on=day - dt.timedelta(days=5))
        ContactAttempt.objects.create(plan=plan, outcome="called")
        PlanFactory(
            patient=PatientFactory(location=location, last_name="Abbot"),
            started_on=day - dt.timedelta(days=40),
        )


def _same_count(client, assert_num_queries, location, url, queries, params=None):
    """The page takes exactly ``queries`` queries with one of everything and with five."""
    day = timezone.localdate()
    _grow(location, 1, day)
    client.get(url, params or {})  # warm caches (permissions, content types)
    with assert_num_queries(queries, info=f"{url}, small"):
        assert client.get(url, params or {}).status_code == 200
    _grow(location, 4, day)
    with assert_num_queries(queries, info=f"{url}, five times the data"):
        assert client.get(url, params or {}).status_code == 200


@pytest.mark.parametrize(
    ("url", "queries"),
    [
        ("/treatments/calendar/", 9),
        ("/treatments/calendar/week/", 9),
        ("/treatments/today/", 6),
        ("/treatments/due/", 7),
        ("/treatments/patients/", 7),
        ("/treatments/patients/?q=a", 7),
        ("/treatments/patients/search.json?q=a", 5),
        ("/", 8),
    ],
)
def test_front_desk_pages_have_a_fixed_query_count(
    client_for, front_desk, location, django_assert_num_queries, url, queries
):
    path, _, query = url.partition("?")
    params = dict(p.split("=") for p in query.split("&")) if query else {}
    _same_count(client_for(front_desk), django_assert_num_queries, location, path, queries, params)


def test_the_practitioner_dashboard_has_a_fixed_query_count(client_for, location, django_assert_num_queries):
    prac = staff(PRACTITIONER, location, username="me")
    all_week_hours(prac, location)
    c = client_for(prac)
    c.get("/")
    with django_assert_num_queries(7):
        c.get("/")
    for hour in range(8, 18):
        SessionFactory(
            patient=PatientFactory(location=location),
            practitioner=prac,
            starts_at=at(timezone.localdate(), hour),
        )
    with django_assert_num_queries(7):
        c.get("/")


def test_the_patient_and_session_pages_have_a_fixed_query_count(
    client_for, front_desk, practitioner_all_hours, location, django_assert_num_queries
):
    patient = PatientFactory(location=location)
    plan = PlanFactory(patient=patient)
    # Sessions at 10:00 on later days, not "now + n days": at 23:30 a 45-minute session would end
    # after midnight, outside any day's working hours, and the reschedules below be refused.
    today = timezone.localdate()
    first = SessionFactory(
        patient=patient, practitioner=practitioner_all_hours, starts_at=at(today + dt.timedelta(days=3), 10)
    )
    c = client_for(front_desk)
    pages = [  # (url, queries)
        (f"/treatments/patients/{patient.pk}/", 12),
        (f"/treatments/sessions/{first.pk}/", 7),
        (f"/treatments/plans/{plan.pk}/", 8),
    ]
    for u, _ in pages:
        c.get(u)
    for u, queries in pages:
        with django_assert_num_queries(queries, info=u):
            c.get(u)
    for i in range(6):
        SessionFactory(
            patient=patient,
            plan=plan,
            practitioner=practitioner_all_hours,
            starts_at=timezone.now() - dt.timedelta(days=30 * (i + 1)),
            status=SessionStatus.COMPLETED,
        )
        services.contact_attempt_record(actor=front_desk, plan=plan, outcome="called")
        services.session_reschedule(
            actor=front_desk, session=first, starts_at=at(today + dt.timedelta(days=4 + i), 10)
        )
    for u, queries in pages:
        with django_assert_num_queries(queries, info=f"{u}, with history"):
            c.get(u)
