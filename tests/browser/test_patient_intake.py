"""After booking, the patient opens the intake link from the captured email on a phone, answers
the screening questions and signs the consent; at the visit the practitioner sees what was
sent, confirms the screening in person and charts. The link is refused once the visit is under
way, and a tampered one is refused with a clear page."""

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
from tests.browser.conftest import assert_accessible, draw_signature, sign_in
from tests.treatments.factories import (
    PatientFactory,
    SessionFactory,
    all_week_hours,
    at,
    charting_lot,
    consent_template,
)
from treatments import links, services
from treatments.models import IntakeSubmission, Session, SessionStatus, TreatmentRecord

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_patient_fills_intake_on_a_phone_and_the_practitioner_confirms_and_charts(
    browser, page, live_server, settings, location, front_desk, practitioner
):
    settings.EMAIL_BACKEND = BACKEND
    settings.SITE_URL = live_server.url
    settings.QUIET_HOURS_END, settings.QUIET_HOURS_START = 0, 24  # deliver at any hour
    all_week_hours(practitioner, location)
    template = consent_template("skin_quality")
    patient = PatientFactory(
        location=location,
        first_name="Jane",
        last_name="Doe",
        email="jane@example.com",
        reminder_opt_in=True,
        reminder_channel="email",
    )
    with mock.patch("clinic.notifications.outbox.notification_enqueue"):
        session = services.session_book(
            actor=front_desk,
            patient=patient,
            practitioner=practitioner,
            location=location,
            starts_at=at(timezone.localdate() + dt.timedelta(days=2), 10),
            duration_minutes=45,
            treatment_type="skin_quality",
        )
    row = Notification.objects.get(kind="intake.request")
    assert notifications.notification_send(notification_id=row.pk) == "sent"
    kept = SentMail.objects.get(to__contains="jane@example.com")
    link = re.search(r"https?://\S+/treatments/i/\S+/", kept.body).group(0)

    # The patient, on their phone.
    phone = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    mobile = phone.new_page()
    mobile.set_default_timeout(10_000)
    mobile.goto(urlsplit(link).path)
    assert mobile.get_by_role("heading", level=1).inner_text() == "Before your visit"
    content = mobile.content()
    assert "Hello Jane" in content and "Doe" not in content
    assert "phase 3" in mobile.locator(".consent-text").inner_text()
    assert_accessible(mobile)
    mobile.get_by_label("Recent procedures (last 4 weeks) at or near the site").check()
    mobile.get_by_label("Details").fill("Laser at the temples three weeks ago.")
    mobile.get_by_label("I have read the consent text").check()
    mobile.get_by_label("Your full name").fill("Jane Doe")
    draw_signature(mobile)
    assert mobile.locator("#id_signature").input_value().startswith("data:image/png;base64,")
    with mobile.expect_navigation(wait_until="load"):
        mobile.get_by_role("button", name="Send my answers").click()
    assert "Thank you: we received your answers" in mobile.locator("#intake-status").inner_text()
    assert "Laser" not in mobile.content()  # nothing sent is shown back
    assert_accessible(mobile)
    submission = IntakeSubmission.objects.get(session=session)
    assert submission.consent.typed_name == "Jane Doe" and submission.consent.template == template
    assert submission.screening.submitted_by_patient and submission.screening.recent_procedures

    # A tampered link: a clear refusal.
    mobile.goto(urlsplit(link).path[:-4] + "xx/")
    assert mobile.get_by_role("heading", level=1).inner_text() == "This link is not valid"
    assert_accessible(mobile)

    # The day of the visit: the patient has arrived.
    Session.objects.filter(pk=session.pk).update(
        starts_at=timezone.now() - dt.timedelta(minutes=5),
        ends_at=timezone.now() + dt.timedelta(minutes=40),
        status=SessionStatus.ARRIVED,
    )
    lot = charting_lot(location, quantity=6)

    # The link cannot overwrite anything now.
    mobile.goto(urlsplit(link).path)
    assert mobile.get_by_role("heading", level=1).inner_text() == "This link has expired"
    assert_accessible(mobile)
    phone.close()

    # The practitioner sees what was sent and when, and confirms the screening in person.
    sign_in(page, practitioner.username)
    page.goto(f"/treatments/sessions/{session.pk}/")
    intake = page.locator("#intake").inner_text()
    sent = timezone.localtime(submission.submitted_at)
    assert f"Sent {sent:%-d %b %Y %H:%M}" in intake
    assert "Answered by the patient remotely" in intake and "Laser at the temples" in intake
    assert "counts for this session" in intake
    assert "Screening not yet confirmed for this visit" in page.locator("#clinical").inner_text()
    assert_accessible(page)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Patient confirms answers unchanged").click()
    assert "Confirmed unchanged" in page.locator("#clinical").inner_text()

    # Chart: the remotely signed consent is the session's consent.
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Start treatment of Jane Doe").click()
    page.get_by_role("link", name="Chart treatment").click()
    page.wait_for_url(f"**/treatments/sessions/{session.pk}/record/")
    page.get_by_label("Screening confirmed with the patient at this visit").check()
    page.get_by_label("Signed consent for this treatment checked").check()
    page.locator("#id_line-0-vials").fill("1")
    page.locator("#id_line-0-route").select_option("intradermal")
    page.locator("#id_line-0-areas_0").check()  # face
    page.locator("#id_line-0-needle_gauge").fill("31")
    page.locator("#id_line-0-volume_per_point_ml").fill("0.015")
    page.locator("#id_line-0-points").fill("60")
    page.get_by_role("button", name="Save treatment record").click()
    page.wait_for_url("**/treatments/records/*/")
    assert "Treatment record saved" in page.locator(".messages").inner_text()
    record = TreatmentRecord.objects.get(session=session)
    assert record.consent_id == submission.consent_id
    assert record.screening.confirms_id == submission.screening_id
    assert record.lines.get().lot_id == lot.pk
    assert page.console_errors == []


def test_errors_come_at_once_and_a_consent_published_meanwhile_is_signed_again(
    browser, live_server, location, practitioner
):
    template = consent_template("skin_quality")
    patient = PatientFactory(location=location, first_name="Jane", last_name="Doe")
    session = SessionFactory(
        patient=patient,
        practitioner=practitioner,
        starts_at=at(timezone.localdate() + dt.timedelta(days=2), 10),
    )
    phone = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    mobile = phone.new_page()
    mobile.set_default_timeout(10_000)
    errors: list[str] = []
    mobile.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    mobile.goto(f"/treatments/i/{links.intake_token(session.pk)}/")
    assert mobile.locator('input[name="template"]').input_value() == str(template.pk)

    # A "yes" without details and no signature: both said at once, in a summary that has the focus.
    mobile.get_by_label("Recent procedures (last 4 weeks) at or near the site").check()
    mobile.get_by_label("I have read the consent text").check()
    mobile.get_by_label("Your full name").fill("Jane Doe")
    with mobile.expect_navigation(wait_until="load"):
        mobile.get_by_role("button", name="Send my answers").click()
    summary = mobile.get_by_role("alert")
    assert "2 things to check" in summary.inner_text()
    assert "Give details" in summary.inner_text() and "You have not signed yet" in summary.inner_text()
    assert mobile.evaluate("document.activeElement.id") == "error-summary"
    assert_accessible(mobile)
    summary.get_by_role("link", name=re.compile("You have not signed yet")).click()
    assert mobile.evaluate("document.activeElement.id") == "id_signature-pad"
    assert mobile.locator("#id_signature-pad").get_attribute("aria-describedby") == "signature-error"

    # Meanwhile the clinic publishes a new text: the patient reads and signs that one.
    newer = services.consent_template_publish(
        actor=None, treatment_type="skin_quality", title="Consent v2", body="The second text of the consent."
    )
    mobile.get_by_label("Details").fill("Laser at the temples three weeks ago.")
    mobile.get_by_label("I have read the consent text").check()
    draw_signature(mobile)
    with mobile.expect_navigation(wait_until="load"):
        mobile.get_by_role("button", name="Send my answers").click()
    assert "The consent text has been updated. Please read it and sign again." in summary.inner_text()
    assert "The second text of the consent." in mobile.locator(".consent-text").inner_text()
    assert mobile.get_by_label("Details").input_value() == "Laser at the temples three weeks ago."
    assert mobile.get_by_label("Your full name").input_value() == "Jane Doe"
    assert not mobile.get_by_label("I have read the consent text").is_checked()
    assert mobile.locator('input[name="template"]').input_value() == str(newer.pk)
    assert not IntakeSubmission.objects.exists()
    assert_accessible(mobile)
    mobile.get_by_label("I have read the consent text").check()
    draw_signature(mobile)
    with mobile.expect_navigation(wait_until="load"):
        mobile.get_by_role("button", name="Send my answers").click()
    assert "Thank you: we received your answers" in mobile.locator("#intake-status").inner_text()
    assert IntakeSubmission.objects.get(session=session).consent.template == newer
    assert [e for e in errors if "status of 400" not in e] == []  # a refused form is answered 400
    phone.close()
