"""The patient opens the link in their reminder email on a phone, confirms; the desk sees it."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from clinic.models import Notification
from clinic.notifications import NotificationKind, outbox
from tests.browser.conftest import assert_accessible, sign_in
from tests.treatments.factories import PatientFactory, SessionFactory
from treatments.reminders import appointment_reminders_sweep

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_patient_confirms_from_the_reminder_email(
    browser, page, live_server, mailoutbox, settings, front_desk, location
):
    settings.QUIET_HOURS_END, settings.QUIET_HOURS_START = 0, 24  # deliver at any hour
    patient = PatientFactory(
        location=location, first_name="Jane", last_name="Doe", reminder_opt_in=True, reminder_channel="email"
    )
    session = SessionFactory(patient=patient, starts_at=timezone.now() + dt.timedelta(hours=5))
    appointment_reminders_sweep()
    row = Notification.objects.get(kind=NotificationKind.REMINDER_APPOINTMENT)
    assert outbox.notification_send(notification_id=row.pk) == "sent"
    [message] = mailoutbox
    link = re.search(r"https?://\S+/treatments/r/\S+/", message.body).group(0)

    phone = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    patient_page = phone.new_page()
    patient_page.goto(urlsplit(link).path)
    assert "Hello Jane" in patient_page.content() and "Doe" not in patient_page.content()
    assert_accessible(patient_page)
    patient_page.get_by_role("button", name="Confirm").click()
    patient_page.wait_for_selector("#current-answer")
    assert "Confirmed" in patient_page.locator("#current-answer").inner_text()
    phone.close()

    sign_in(page, front_desk.username)
    page.goto(f"/treatments/sessions/{session.pk}/")
    assert "Confirmed" in page.content()
    assert "the patient (reminder link)" in page.content()
