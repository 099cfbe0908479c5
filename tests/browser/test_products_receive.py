"""A manager receives a lot by scanning the box's GS1 barcode into the lot field."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from products.models import Lot, Product, StorageUnit
from tests.browser.conftest import assert_accessible, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GTIN = "09506000134352"
LOT_PAGE = re.compile(r".*/products/lots/\d+/$")


@pytest.fixture
def stock_setup(location):
    product = Product.objects.create(
        name="Benev Exosome Regenerative Complex", manufacturer="Benev", source="msc_adipose",
        format="refrigerated_liquid", gtin=GTIN, storage_min_c=Decimal("2"), storage_max_c=Decimal("8"),
        vial_volume_ml=Decimal("5"), use_within_hours=24,
    )  # fmt: skip
    unit = StorageUnit.objects.create(
        location=location, name="Pharmacy fridge", kind="fridge", min_c=Decimal("2"), max_c=Decimal("8")
    )
    return product, unit


def test_receiving_a_lot_by_scanned_gs1_string(page, manager, stock_setup):
    product, unit = stock_setup
    sign_in(page, manager.username)
    page.goto("/products/lots/receive/")
    assert_accessible(page)
    lot_field = page.get_by_label("Lot number or scan")
    # What a scanner types: symbology prefix, GTIN, expiry, lot, a group separator, serial, Enter.
    lot_field.fill(f"]C101{GTIN}17301231" + "10LOT-SCAN-1\x1d21SN9")
    lot_field.press("Enter")
    # (wait_for_function evaluates strings, which the CSP forbids; expect polls instead)
    expect(page.locator("#id_expiry_date")).to_have_value("2030-12-31")
    assert lot_field.input_value() == "LOT-SCAN-1"
    assert page.locator("#id_product").input_value() == str(product.pk)
    assert page.locator("#id_gtin").input_value() == GTIN
    assert "Scanned: lot LOT-SCAN-1" in page.locator("#scan-status").inner_text()
    page.get_by_label("Vials received").fill("12")
    page.get_by_label("Storage unit").select_option(str(unit.pk))
    page.get_by_role("button", name="Receive").click()
    page.wait_for_url(LOT_PAGE)
    lot = Lot.objects.get(lot_number="LOT-SCAN-1")
    assert (lot.product, lot.expiry_date, lot.serial, lot.quantity_on_hand) == (
        product,
        dt.date(2030, 12, 31),
        "SN9",
        12,
    )
    assert "lot LOT-SCAN-1" in page.get_by_role("heading", level=1).inner_text()
    # The product was never approved and the lot has no certificate of analysis yet: its badge
    # says so rather than "Available" (the page explains why under "Not cleared for use").
    assert page.get_by_text("Not cleared", exact=True).first.is_visible()
    assert page.get_by_text("Available", exact=True).count() == 0
    assert_accessible(page)
    assert page.console_errors == []


def test_a_scan_submitted_without_javascript_help_is_read_by_the_server(page, manager, stock_setup):
    """Scanners that send Enter before the live fill answers still land on a filled form."""
    _, unit = stock_setup
    sign_in(page, manager.username)
    page.goto("/products/lots/receive/")
    page.get_by_label("Vials received").fill("3")
    page.get_by_label("Storage unit").select_option(str(unit.pk))
    page.evaluate(
        "(code) => { const f = document.getElementById('receive-form'); "
        "document.getElementById('id_lot_number').value = code; f.submit(); }",
        f"(01){GTIN}(17)291130(10)LOT-SERVER",
    )
    page.wait_for_url(LOT_PAGE)
    assert Lot.objects.get(lot_number="LOT-SERVER").expiry_date == dt.date(2029, 11, 30)
