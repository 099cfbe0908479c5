"""The practitioner's private iCalendar feed: valid, revocable, nothing clinical."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from icalendar import Calendar

from clinic.roles import PRACTITIONER
from tests.factories import staff
from tests.treatments.factories import PatientFactory, RoomFactory, SessionFactory
from treatments import services
from treatments.models import CalendarFeed, SessionStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def feed(practitioner, location):
    patient = PatientFactory(
        location=location,
        first_name="Jane",
        last_name="Doe",
        front_desk_notes="Prefers mornings",
        phone="+441134960123",
    )
    room = RoomFactory(location=location, name="Room 3")
    soon = timezone.now() + dt.timedelta(days=1)
    SessionFactory(
        patient=patient,
        practitioner=practitioner,
        room=room,
        starts_at=soon,
        treatment_type="hair",
        booking_notes="Bring previous photos",
    )
    SessionFactory(
        patient=patient,
        practitioner=practitioner,
        starts_at=soon + dt.timedelta(days=1),
        status=SessionStatus.CANCELLED,
    )
    other = staff(PRACTITIONER, location, username="someone_else")
    SessionFactory(patient=patient, practitioner=other, starts_at=soon + dt.timedelta(days=2))
    feed, secret = services.calendar_feed_create(actor=practitioner)
    return feed, secret


def _url(feed, secret):
    return f"/treatments/ical/{feed.pk}/{secret}.ics"


def test_the_feed_is_valid_icalendar_with_the_practitioners_live_sessions(client, feed):
    response = client.get(_url(*feed))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    cal = Calendar.from_ical(response.content)
    events = cal.walk("VEVENT")
    assert len(events) == 1  # not the cancelled one, not a colleague's
    event = events[0]
    assert str(event["SUMMARY"]) == "Patient J.D."
    assert "Room 3" in str(event["LOCATION"])
    assert event.decoded("DTEND") - event.decoded("DTSTART") == dt.timedelta(minutes=45)
    assert str(event["UID"]).startswith("session-")


def test_the_feed_shows_no_clinical_or_contact_detail(client, feed):
    body = client.get(_url(*feed)).content.decode()
    for secret in (
        "Doe",
        "Jane",
        "hair",
        "Hair",
        "Prefers mornings",
        "Bring previous photos",
        "+441134960123",
        "0113 496 0123",
    ):
        assert secret not in body


def test_a_wrong_secret_is_404(client, feed):
    f, secret = feed
    assert client.get(_url(f, secret[:-1] + ("A" if secret[-1] != "A" else "B"))).status_code == 404
    assert client.get(f"/treatments/ical/{f.pk + 1}/{secret}.ics").status_code == 404


def test_a_revoked_feed_is_404(client, feed, practitioner):
    f, secret = feed
    services.calendar_feed_revoke(actor=practitioner, feed=f)
    assert client.get(_url(f, secret)).status_code == 404


def test_a_new_address_revokes_the_old_one(client, feed, practitioner):
    old, old_secret = feed
    new, new_secret = services.calendar_feed_create(actor=practitioner)
    assert client.get(_url(old, old_secret)).status_code == 404
    assert client.get(_url(new, new_secret)).status_code == 200


def test_a_deactivated_practitioner_feed_is_404(client, feed, practitioner):
    practitioner.is_active = False
    practitioner.save()
    assert client.get(_url(*feed)).status_code == 404


def test_only_a_hash_of_the_secret_is_stored(feed):
    f, secret = feed
    assert secret not in CalendarFeed.objects.get(pk=f.pk).secret_hash


def test_the_practitioner_makes_and_revokes_the_address_from_the_page(client_for, practitioner):
    c = client_for(practitioner)
    response = c.post("/treatments/calendar-feed/")
    url = response.context["feed_url"]
    assert url.startswith("http://testserver/treatments/ical/")
    path = url.removeprefix("http://testserver")
    c.logout()
    assert c.get(path).status_code == 200
    c = client_for(practitioner)
    c.post("/treatments/calendar-feed/revoke/")
    c.logout()
    assert c.get(path).status_code == 404


def test_a_feed_stops_when_its_owner_loses_the_role(client, feed, practitioner):
    from django.contrib.auth.models import Group

    practitioner.groups.set([Group.objects.get(name="Front desk")])
    assert client.get(_url(*feed)).status_code == 404
