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


def _same_count(client, count_queries, location, url, params=None, day=None):
    day = day or timezone.localdate()
    _grow(location, 1, day)
    client.get(url, params or {})  # warm caches (permissions, content types)
    with count_queries() as few:
        assert client.get(url, params or {}).status_code == 200
    _grow(location, 4, day)
    with count_queries() as many:
        assert client.get(url, params or {}).status_code == 200
    assert many.count == few.count, f"{url}: {few.count} → {many.count} queries"
    return many.count


@pytest.mark.parametrize(
    "url",
    [
        "/treatments/calendar/",
        "/treatments/calendar/week/",
        "/treatments/today/",
        "/treatments/due/",
        "/treatments/patients/",
        "/treatments/patients/?q=a",
        "/treatments/patients/search.json?q=a",
        "/",
    ],
)
def test_front_desk_pages_have_a_fixed_query_count(client_for, front_desk, location, count_queries, url):
    path, _, query = url.partition("?")
    params = dict(p.split("=") for p in query.split("&")) if query else {}
    _same_count(client_for(front_desk), count_queries, location, path, params)


def test_the_practitioner_dashboard_has_a_fixed_query_count(client_for, location, count_queries):
    prac = staff(PRACTITIONER, location, username="me")
    all_week_hours(prac, location)
    c = client_for(prac)
    c.get("/")
    with count_queries() as few:
        c.get("/")
    for hour in range(8, 18):
        SessionFactory(
            patient=PatientFactory(location=location),
            practitioner=prac,
            starts_at=at(timezone.localdate(), hour),
        )
    with count_queries() as many:
        c.get("/")
    assert many.count == few.count


def test_the_patient_and_session_pages_have_a_fixed_query_count(
    client_for, front_desk, practitioner_all_hours, location, count_queries
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
    urls = [
        f"/treatments/patients/{patient.pk}/",
        f"/treatments/sessions/{first.pk}/",
        f"/treatments/plans/{plan.pk}/",
    ]
    for u in urls:
        c.get(u)
    counts = []
    for u in urls:
        with count_queries() as q:
            c.get(u)
        counts.append(q.count)
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
    for u, before in zip(urls, counts, strict=True):
        with count_queries() as q:
            c.get(u)
        assert q.count == before, u
