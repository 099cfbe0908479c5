"""On a phone (390×844), patients book their maintenance session from the link in their
reminder email, as kept by the mail backend; a second patient racing for the same slot is
told to pick another; expired and tampered links get a clear page; the desk sees the booking."""

from __future__ import annotations

import datetime as dt
import re
from unittest import mock
from urllib.parse import urlsplit

import pytest
import time_machine
from django.utils import timezone

from clinic import notifications
from clinic.mailbox import BACKEND
from clinic.models import Notification, SentMail
from clinic.notifications import NotificationKind
from tests.browser.conftest import assert_accessible, sign_in
from tests.treatments.booking_setup import due_plan, weekday_hours
from treatments import links
from treatments.models import Session, SessionStatus
from treatments.reminders import maintenance_reminders_sweep

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
LINK = re.compile(r"https?://\S+/treatments/b/[^/\s]+/")


@pytest.fixture
def kept_mail(settings, live_server):
    settings.EMAIL_BACKEND = BACKEND
    settings.SITE_URL = live_server.url
    settings.QUIET_HOURS_END, settings.QUIET_HOURS_START = 0, 24  # whatever hour the suite runs
    # The outbox rows are sent here, by hand; nothing is handed to a worker.
    with mock.patch("clinic.notifications.outbox.notification_enqueue"):
        yield


def _booking_link(patient) -> str:
    """Send the patient's maintenance reminder and read the link from the kept email."""
    row = Notification.objects.get(
        kind=NotificationKind.REMINDER_MAINTENANCE, to_address=patient.email, channel="email"
    )
    assert notifications.notification_send(notification_id=row.pk) == "sent"
    mail = SentMail.objects.get(to__contains=patient.email)
    return urlsplit(LINK.search(mail.body).group(0)).path


def _phone(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


def _first_slot(page):
    """The first offered time: (its radio's value, its label)."""
    radio = page.locator("input[name=slot]").first
    label = page.locator(f"label[for='{radio.get_attribute('id')}']")
    return radio.get_attribute("value"), label


def test_two_patients_race_for_one_slot_one_books_the_other_picks_again(
    browser, page, live_server, kept_mail, location, practitioner, front_desk
):
    weekday_hours(practitioner, location)
    due = timezone.localdate() + dt.timedelta(days=7)
    ann = due_plan(location, practitioner, due, first_name="Ann", last_name="Able", email="ann@example.com")
    bea = due_plan(location, practitioner, due, first_name="Bea", last_name="Baker", email="bea@example.com")
    maintenance_reminders_sweep()
    ann_link, bea_link = _booking_link(ann.patient), _booking_link(bea.patient)

    # Bea opens her page first and leaves it open.
    bea_context, bea_page = _phone(browser, live_server)
    bea_page.goto(bea_link)
    assert "Hello Bea" in bea_page.content() and "Baker" not in bea_page.content()
    assert "Priya" in bea_page.content() and "Shah" not in bea_page.content()
    assert_accessible(bea_page)

    # Ann books the first time offered.
    ann_context, ann_page = _phone(browser, live_server)
    ann_page.goto(ann_link)
    assert ann_page.get_by_role("heading", level=1).inner_text() == "Book your next appointment"
    # Mobile first: nothing wider than the phone.
    assert ann_page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    value, label = _first_slot(ann_page)
    label.click()
    with ann_page.expect_navigation(wait_until="load"):
        ann_page.get_by_role("button", name="Book the chosen time").click()
    assert ann_page.get_by_role("heading", level=1).inner_text() == "You are booked"
    assert_accessible(ann_page)
    booked = Session.objects.get(plan=ann, status=SessionStatus.BOOKED)
    assert booked.booked_by_patient and booked.starts_at == dt.datetime.fromisoformat(value)
    when = timezone.localtime(booked.starts_at)
    assert f"{when:%H:%M}" in ann_page.locator("#booked-time").inner_text()

    # Bea picks the same time from her stale page: refused, with the other times still there.
    bea_value, bea_label = _first_slot(bea_page)
    assert bea_value == value
    bea_label.click()
    with bea_page.expect_navigation(wait_until="load"):
        bea_page.get_by_role("button", name="Book the chosen time").click()
    assert "That time has just been taken" in bea_page.locator("#book-error").inner_text()
    assert bea_page.locator(f"input[name=slot][value='{value}']").count() == 0
    assert_accessible(bea_page)
    assert not Session.objects.filter(plan=bea, status=SessionStatus.BOOKED).exists()
    # ... and books the next one.
    next_value, next_label = _first_slot(bea_page)
    next_label.click()
    with bea_page.expect_navigation(wait_until="load"):
        bea_page.get_by_role("button", name="Book the chosen time").click()
    assert bea_page.get_by_role("heading", level=1).inner_text() == "You are booked"
    assert Session.objects.get(plan=bea, status=SessionStatus.BOOKED).starts_at == dt.datetime.fromisoformat(
        next_value
    )

    # The link is used now: opened again it shows the booking, not the times.
    ann_page.goto(ann_link)
    assert ann_page.get_by_role("heading", level=1).inner_text() == "You are booked"
    assert ann_page.locator("input[name=slot]").count() == 0
    ann_context.close()
    bea_context.close()

    # Ann's confirmation went out.
    confirmation = Notification.objects.get(
        kind=NotificationKind.BOOKING_CONFIRMATION, to_address=ann.patient.email
    )
    assert notifications.notification_send(notification_id=confirmation.pk) == "sent"
    assert f"at {when:%H:%M}" in SentMail.objects.get(subject=confirmation.subject).body

    # The front desk sees who booked it.
    sign_in(page, front_desk.username)
    page.goto(f"/treatments/calendar/?date={when.date().isoformat()}")
    assert page.get_by_text("Booked by patient").count() >= 1
    page.goto(f"/treatments/sessions/{booked.pk}/")
    assert "Booked by patient" in page.content() and "the patient (booking link)" in page.content()


def test_expired_and_tampered_links_get_a_clear_page(browser, live_server, location, practitioner, settings):
    weekday_hours(practitioner, location)
    due = timezone.localdate() + dt.timedelta(days=7)
    plan = due_plan(location, practitioner, due, first_name="Cy")
    with time_machine.travel(timezone.now() - dt.timedelta(days=settings.PATIENT_LINK_MAX_DAYS + 1)):
        old = links.book_token(plan_id=plan.pk, patient_id=plan.patient_id, due_on=due)
    fresh = links.book_token(plan_id=plan.pk, patient_id=plan.patient_id, due_on=due)
    context, phone = _phone(browser, live_server)
    phone.goto(f"/treatments/b/{old}/")
    assert phone.get_by_role("heading", level=1).inner_text() == "This link has expired"
    assert_accessible(phone)
    phone.goto(f"/treatments/b/{fresh[:-3]}abc/")
    assert phone.get_by_role("heading", level=1).inner_text() == "This link is not valid"
    assert "Cy" not in phone.content()
    assert_accessible(phone)
    context.close()
    assert not Session.objects.filter(plan=plan, status=SessionStatus.BOOKED).exists()
