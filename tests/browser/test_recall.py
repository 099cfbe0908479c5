"""A manager runs a recall from the recall page to reviewed messages in the outbox."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from clinic.models import Notification
from products.models import Lot
from tests.browser.conftest import assert_accessible, sign_in
from tests.treatments.factories import PatientFactory, chart, charting_lot, line_input, ready_session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def treated(location, practitioner):
    lot = charting_lot(location, quantity=8, name="Kimeravive Exosome Serum")
    Lot.objects.filter(pk=lot.pk).update(lot_number="KV-2231")
    lot.refresh_from_db()
    patients = [
        PatientFactory(location=location, first_name="Amelia", last_name="Hart", email="amelia@example.com",
                       reminder_channel="email"),
        PatientFactory(location=location, first_name="Omar", last_name="Said", email="", phone="+442079460777",  # noqa: E501
                       reminder_channel="sms"),
    ]  # fmt: skip
    for patient in patients:
        chart(ready_session(patient, practitioner), practitioner, line_input(Lot.objects.get(pk=lot.pk)))
    return lot


def test_a_manager_recalls_a_lot_and_sends_reviewed_messages(page, manager, treated, settings):
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = 24, 0  # deliverable now, whatever the hour
    sign_in(page, manager.username)
    page.get_by_role("link", name="Reports").click()
    page.wait_for_url("**/clinic/reports/")
    assert_accessible(page)
    page.get_by_role("link", name="Recall").first.click()
    page.wait_for_url("**/clinic/reports/recall/")
    page.get_by_label("Lot number").fill("KV-2231")
    page.get_by_role("button", name="Find").click()
    page.get_by_role("link", name="Kimeravive Exosome Serum · lot KV-2231").click()
    page.wait_for_url(f"**/clinic/reports/recall/lots/{treated.pk}/")
    expect(page.get_by_role("link", name="Amelia Hart")).to_be_visible()
    expect(page.get_by_role("link", name="Omar Said")).to_be_visible()
    assert_accessible(page)

    page.get_by_label("Recall notice or reason").fill("Manufacturer recall MR-2026-14")
    page.get_by_label("I have checked the lot number").check()
    page.get_by_role("button", name="Recall the lot and prepare messages").click()
    page.wait_for_url(f"**/clinic/reports/recall/lots/{treated.pk}/messages/")
    expect(page.get_by_text("nothing is sent until you send them")).to_be_visible()
    assert_accessible(page)
    assert Lot.objects.get(pk=treated.pk).is_recalled
    assert set(Notification.objects.filter(kind="recall.patient").values_list("status", flat=True)) == {
        "held"
    }

    # Reword Omar's text message, then send both.
    omar = Notification.objects.get(to_address="+442079460777")
    card = page.get_by_role("region", name="SMS to 020 7946 0777")
    card.get_by_label("Text").fill("Hello Omar, please call the clinic on 020 7946 0000 when you can.")
    card.get_by_role("button", name="Save wording").click()
    expect(page.get_by_text("is updated")).to_be_visible()
    page.get_by_role("button", name="Send all 2 reviewed message(s)").click()
    expect(page.get_by_text("2 reviewed message(s) are in the outbox")).to_be_visible()
    expect(page.get_by_text("No message awaiting review.")).to_be_visible()
    omar.refresh_from_db()
    assert omar.status in ("pending", "sending", "sent")
    assert omar.body.startswith("Hello Omar, please call")
    assert not Notification.objects.filter(kind="recall.patient", status="held").exists()
    assert page.console_errors == []
