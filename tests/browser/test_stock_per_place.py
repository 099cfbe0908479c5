"""Issue 19 journeys: a manager of two sites sends part of a lot to the other site; a delivery
received with its certificate is chartable at once; the lot page lists the patients treated
with it for practitioners and not for the front desk."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clinic.roles import FRONT_DESK, MANAGER
from products.demo import demo_pdf
from products.models import Lot
from tests.browser.conftest import assert_accessible, sign_in
from tests.factories import staff
from tests.products.factories import ProductFactory, StorageUnitFactory, make_lot
from tests.treatments.factories import PatientFactory, chart, clear_for_use, line_input, ready_session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
LOT_PAGE = re.compile(r".*/products/lots/\d+/$")


@pytest.fixture
def two_sites(location, other_location):
    boss = staff(MANAGER, location, other_location, username="boss")
    home = StorageUnitFactory(location=location, name="Main fridge")
    away = StorageUnitFactory(location=other_location, name="Manchester fridge")
    product = ProductFactory(name="Kimeravive", route_topical=True, route_intradermal=True)
    lot = clear_for_use(make_lot(unit=home, product=product, quantity=20, lot_number="KV-20", actor=boss))
    return {"boss": boss, "home": home, "away": away, "lot": lot, "product": product}


def test_a_manager_sends_five_of_twenty_vials_to_the_other_site(page, two_sites):
    lot, away = two_sites["lot"], two_sites["away"]
    sign_in(page, "boss")
    page.goto(f"/products/lots/{lot.pk}/")
    page.get_by_role("link", name="Transfer").click()
    page.get_by_label("Move to").select_option(str(away.pk))
    page.get_by_label("Vials to move").fill("5")
    assert_accessible(page)
    page.get_by_role("button", name=re.compile("Transfer|Save|Move", re.I)).first.click()
    page.wait_for_url(LOT_PAGE)
    expect(page.get_by_role("alert")).to_contain_text("5 vial(s) sent to Manchester fridge")
    table = page.locator("#lot-places-table")
    expect(table).to_contain_text("Marylebone")
    expect(table).to_contain_text("Manchester fridge")
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("15")
    expect(rows.nth(1)).to_contain_text("5")
    assert_accessible(page)
    # The Manchester place has its own page, with its ledger's arrival.
    rows.nth(1).get_by_role("link", name="Manchester fridge").click()
    page.wait_for_url(LOT_PAGE)
    expect(page.locator("table").filter(has_text="Ledger").or_(page.locator("body"))).to_contain_text(
        "Received from another unit"
    )
    there = Lot.objects.get(storage_unit=away)
    assert there.quantity_on_hand == 5 and Lot.objects.get(pk=lot.pk).quantity_on_hand == 15
    assert page.console_errors == []


def test_a_delivery_received_with_its_certificate_is_offered_at_the_chair(page, two_sites, practitioner):
    product, home = two_sites["product"], two_sites["home"]
    sign_in(page, "boss")
    page.goto("/products/lots/receive/")
    page.get_by_label("Lot number or scan").fill("KV-NEW")
    page.get_by_label("Product", exact=True).select_option(str(product.pk))
    page.get_by_label("Expiry date").fill((timezone.localdate() + dt.timedelta(days=400)).isoformat())
    page.get_by_label("Vials received").fill("12")
    page.get_by_label("Storage unit").select_option(str(home.pk))
    page.get_by_label("Certificate of analysis", exact=True).set_input_files(
        files=[{"name": "coa.pdf", "mimeType": "application/pdf", "buffer": demo_pdf("COA KV-NEW")}]
    )
    page.get_by_label("Certificate reference").fill("COA-KV-NEW")
    page.get_by_label("Issue date").fill((timezone.localdate() - dt.timedelta(days=3)).isoformat())
    assert_accessible(page)
    page.get_by_role("button", name="Receive").click()
    page.wait_for_url(LOT_PAGE)
    expect(page.get_by_role("alert")).to_contain_text("certificate of analysis filed")
    expect(page.locator("#clearance-problems")).to_have_count(0)
    expect(page.get_by_role("cell", name=re.compile("COA-KV-NEW")).first).to_be_visible()
    lot = Lot.objects.get(lot_number="KV-NEW")
    assert Lot.objects.usable().filter(pk=lot.pk).exists()
    # At the chair, the practitioner's record form offers it.
    session = ready_session(PatientFactory(location=home.location), practitioner)
    page.context.clear_cookies()
    sign_in(page, practitioner.username)
    page.goto(f"/treatments/sessions/{session.pk}/record/")
    expect(page.locator("body")).to_contain_text("KV-NEW")


def test_the_lot_page_lists_patients_for_practitioners_only(page, two_sites, practitioner, location):
    lot = two_sites["lot"]
    for name in ("Ann", "Ben"):
        patient = PatientFactory(location=location, first_name=name, last_name="Lane")
        chart(ready_session(patient, practitioner), practitioner, line_input(Lot.objects.get(pk=lot.pk)))
    sign_in(page, practitioner.username)
    page.goto(f"/products/lots/{lot.pk}/")
    section = page.locator("#lot-patients-table")
    expect(section).to_contain_text("Ann Lane")
    expect(section).to_contain_text("Ben Lane")
    assert_accessible(page)
    page.get_by_role("link", name="Ann Lane").click()
    page.wait_for_url(re.compile(r".*/treatments/patients/\d+/.*"))
    page.context.clear_cookies()
    staff(FRONT_DESK, location, username="desk_b")
    sign_in(page, "desk_b")
    # The front desk books patients but sees neither stock nor who was treated with what.
    response = page.goto(f"/products/lots/{lot.pk}/")
    assert response.status == 403
    expect(page.locator("#lot-patients")).to_have_count(0)
    expect(page.get_by_text("Ann Lane")).to_have_count(0)
