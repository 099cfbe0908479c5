"""A manager reads the demo's kept mail (Admin > Sent mail) and follows a link in a reminder."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.utils import timezone

from clinic import notifications
from clinic.mailbox import BACKEND
from clinic.models import Notification, SentMail
from tests.browser.conftest import assert_accessible, nav_to, sign_in
from tests.treatments.factories import PatientFactory, SessionFactory
from treatments.reminders import appointment_reminders_sweep

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_opens_sent_mail_and_follows_the_link_in_a_reminder(
    page, live_server, settings, location, manager
):
    settings.EMAIL_BACKEND = BACKEND
    settings.SITE_URL = live_server.url
    settings.QUIET_HOURS_END, settings.QUIET_HOURS_START = 0, 24  # whatever hour the suite runs
    patient = PatientFactory(
        location=location,
        email="ada@example.com",
        reminder_opt_in=True,
        reminder_channel="email",
    )
    SessionFactory(patient=patient, starts_at=timezone.now() + dt.timedelta(hours=5))
    with mock.patch("clinic.notifications.outbox.notification_enqueue"):
        appointment_reminders_sweep()
    reminder = Notification.objects.get(kind="reminder.appointment", channel="email")
    assert notifications.notification_send(notification_id=reminder.pk) == "sent"
    kept = SentMail.objects.get()

    sign_in(page, manager.username)
    nav_to(page, "Admin", "Sent mail")
    assert page.get_by_role("heading", level=1).inner_text() == "Sent mail"
    assert_accessible(page)
    page.get_by_label("Recipient").fill("ada@")
    page.get_by_role("button", name="Filter").click()
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("link", name=kept.subject).click()
    assert page.get_by_role("heading", level=1).inner_text() == kept.subject
    assert_accessible(page)
    link = page.locator("[data-mail-body] a").filter(has_text="/clinic/reminders/stop/")
    with page.expect_navigation(wait_until="load"):
        link.click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Stop reminders from")
    assert page.console_errors == []
