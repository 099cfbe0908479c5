"""The front desk books a session by tapping an empty calendar slot, then checks the patient in."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.browser.conftest import assert_accessible, sign_in
from tests.treatments.factories import PatientFactory, all_week_hours
from treatments.models import Session, SessionStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _next_free_slot() -> dt.datetime:
    """A quarter-hour slot later today (check-in works only on the day)."""
    now = timezone.localtime()
    slot = now.replace(second=0, microsecond=0) + dt.timedelta(minutes=30 - now.minute % 15)
    if slot.date() != now.date() or slot.time() > dt.time(23, 0):
        pytest.skip("too close to midnight to book a slot today")
    return slot


def test_the_desk_books_from_an_empty_slot_and_checks_the_patient_in(
    page, front_desk, practitioner, location
):
    all_week_hours(practitioner, location)
    PatientFactory(location=location, first_name="Jane", last_name="Doe", date_of_birth=dt.date(1980, 5, 17))
    PatientFactory(location=location, first_name="John", last_name="Smith")
    slot = _next_free_slot()

    sign_in(page, front_desk.username)
    page.get_by_role("link", name="Calendar", exact=True).click()
    page.wait_for_url("**/treatments/calendar/")
    assert_accessible(page)

    page.locator(f'a[data-slot="{practitioner.username} {slot:%Y-%m-%dT%H:%M}"]').click()
    page.wait_for_url("**/treatments/sessions/new/**")
    assert page.get_by_label("Practitioner").input_value() == str(practitioner.pk)
    assert page.get_by_label("Time").input_value() == f"{slot:%H:%M}"
    assert page.get_by_label("Date").input_value() == f"{slot:%Y-%m-%d}"

    page.get_by_label("Search for the patient").fill("doe")
    page.get_by_role("button", name="Jane Doe").click()
    assert "Jane Doe (born 17/05/1980)" in page.locator("#chosen-patient").inner_text()
    assert_accessible(page)
    page.get_by_role("button", name="Book", exact=True).click()

    page.wait_for_url("**/treatments/calendar/?date=*")
    assert "Booked Jane Doe" in page.locator(".messages").inner_text()
    session = Session.objects.get()
    assert (session.practitioner, timezone.localtime(session.starts_at)) == (practitioner, slot)

    page.get_by_role("button", name="Check in Jane Doe").click()
    page.wait_for_load_state()
    assert "Jane Doe is checked in." in page.locator(".messages").inner_text()
    assert page.locator(".cal-event .badge", has_text="Arrived").count() == 1
    session.refresh_from_db()
    assert session.status == SessionStatus.ARRIVED
    assert page.console_errors == []


def test_type_ahead_on_the_patient_list_opens_the_patient(page, front_desk, location):
    patient = PatientFactory(location=location, first_name="Zelda", last_name="Quartermain")
    sign_in(page, front_desk.username)
    page.goto("/treatments/patients/")
    page.get_by_label("Find a patient").fill("quarter")
    page.get_by_role("link", name="Zelda Quartermain").click()
    page.wait_for_url(f"**/treatments/patients/{patient.pk}/")
    assert_accessible(page)
    assert page.console_errors == []
