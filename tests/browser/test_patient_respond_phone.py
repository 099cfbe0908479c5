"""On a phone (390×844), from the link in the reminder email the mail backend kept, the
patient cancels or asks for another time; the front desk sees each answer.
(Confirming is tests/browser/test_patient_link.py.)"""

from __future__ import annotations

import datetime as dt
import re
from unittest import mock
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from clinic import notifications
from clinic.mailbox import BACKEND
from clinic.models import Notification, SentMail
from clinic.notifications import NotificationKind
from tests.browser.conftest import assert_accessible, sign_in
from tests.treatments.factories import PatientFactory, SessionFactory
from treatments.models import SessionStatus
from treatments.reminders import appointment_reminders_sweep

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def reminder_link(settings, live_server, location):
    settings.EMAIL_BACKEND = BACKEND
    settings.SITE_URL = live_server.url
    settings.QUIET_HOURS_END, settings.QUIET_HOURS_START = 0, 24  # whatever hour the suite runs
    settings.CANCELLATION_WINDOW_HOURS = 1  # the session is 5 hours away: still cancellable online
    patient = PatientFactory(
        location=location, first_name="Jane", last_name="Doe", reminder_opt_in=True, reminder_channel="email"
    )
    session = SessionFactory(patient=patient, starts_at=timezone.now() + dt.timedelta(hours=5))
    with mock.patch("clinic.notifications.outbox.notification_enqueue"):
        appointment_reminders_sweep()
        row = Notification.objects.get(kind=NotificationKind.REMINDER_APPOINTMENT)
        assert notifications.notification_send(notification_id=row.pk) == "sent"
    body = SentMail.objects.get().body
    path = urlsplit(re.search(r"https?://\S+/treatments/r/\S+/", body).group(0)).path
    return session, path


def _phone_page(browser, live_server, path):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    phone = context.new_page()
    phone.set_default_timeout(10_000)
    phone.goto(path)
    assert "Hello Jane" in phone.content() and "Doe" not in phone.content()
    assert_accessible(phone)
    return context, phone


def test_patient_cancels_and_the_desk_sees_it(browser, page, live_server, reminder_link, front_desk):
    session, path = reminder_link
    context, phone = _phone_page(browser, live_server, path)
    with phone.expect_navigation(wait_until="load"):
        phone.get_by_role("button", name="Cancel appointment").click()
    # The first press only asks; nothing has changed yet.
    assert (
        phone.get_by_role(
            "heading", name=re.compile(r"^Cancel your appointment on .+ at \d\d:\d\d\?$")
        ).count()
        == 1
    )
    assert phone.get_by_role("button", name="Keep it").count() == 1
    assert_accessible(phone)
    session.refresh_from_db()
    assert session.status == SessionStatus.BOOKED
    with phone.expect_navigation(wait_until="load"):
        phone.get_by_role("button", name="Yes, cancel it").click()
    assert "Cancelled by patient" in phone.locator("#current-answer").inner_text()
    assert "This appointment was cancelled." in phone.locator("#appointment-status").inner_text()
    assert phone.get_by_role("button", name="Cancel appointment").count() == 0
    assert_accessible(phone)
    context.close()
    session.refresh_from_db()
    assert session.status == SessionStatus.CANCELLED

    sign_in(page, front_desk.username)
    page.goto(f"/treatments/sessions/{session.pk}/")
    assert "Cancelled by patient" in page.content()
    assert "the patient (reminder link)" in page.content()


def test_keep_it_goes_back_and_cancels_nothing(browser, live_server, reminder_link):
    session, path = reminder_link
    context, phone = _phone_page(browser, live_server, path)
    with phone.expect_navigation(wait_until="load"):
        phone.get_by_role("button", name="Cancel appointment").click()
    with phone.expect_navigation(wait_until="load"):
        phone.get_by_role("button", name="Keep it").click()
    assert phone.get_by_role("button", name="Cancel appointment").count() == 1
    context.close()
    session.refresh_from_db()
    assert session.status == SessionStatus.BOOKED and session.patient_response == ""


def test_patient_asks_for_another_time_and_the_desk_sees_it(
    browser, page, live_server, reminder_link, front_desk
):
    session, path = reminder_link
    context, phone = _phone_page(browser, live_server, path)
    phone.get_by_label("Ask for another time (optional note)").fill("Afternoons please")
    with phone.expect_navigation(wait_until="load"):
        phone.get_by_role("button", name="Ask to reschedule").click()
    assert "Wants another time" in phone.locator("#current-answer").inner_text()
    assert_accessible(phone)
    context.close()

    sign_in(page, front_desk.username)
    day = timezone.localtime(session.starts_at).date()
    page.goto(f"/treatments/calendar/?date={day.isoformat()}")
    assert page.get_by_text("Wants another time").count() >= 1
    page.goto(f"/treatments/sessions/{session.pk}/")
    assert "Wants another time: Afternoons please" in page.content()
    assert "the patient (reminder link)" in page.content()
