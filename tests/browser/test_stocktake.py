"""A manager counts a fridge on a tablet, scanning one box, and posts two differences."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from clinic.models import AuditEvent
from products.models import MovementKind, StockMovement, StockTake, StockTakeStatus
from tests.browser.conftest import assert_accessible, nav_to, sign_in
from tests.products.factories import ProductFactory, StorageUnitFactory, make_lot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GTIN = "09506000134352"


@pytest.fixture
def fridge(location, manager):
    unit = StorageUnitFactory(location=location, name="Pharmacy fridge")
    serum = ProductFactory(name="Exo Serum", gtin=GTIN)
    other = ProductFactory(name="Exo Scalp")
    return unit, {
        "A": make_lot(unit=unit, product=serum, quantity=10, lot_number="SER-A", actor=manager),
        "B": make_lot(unit=unit, product=serum, quantity=6, lot_number="SER-B", actor=manager),
        "C": make_lot(unit=unit, product=other, quantity=4, lot_number="SCP-C", actor=manager),
    }


def test_a_stock_take_with_two_differences_posted_on_a_tablet(page, manager, fridge):
    _unit, lots = fridge
    page.set_viewport_size({"width": 1024, "height": 768})
    sign_in(page, manager.username)
    nav_to(page, "Stock", "Stock-takes")
    page.get_by_role("link", name="Start a stock-take").click()
    page.wait_for_url(re.compile(r".*/stocktakes/new/$"))
    page.get_by_label(re.compile(r"Pharmacy fridge")).check()
    page.get_by_role("button", name="Start counting").click()
    page.wait_for_url(re.compile(r".*/stocktakes/\d+/count/$"))
    assert_accessible(page)
    stock_take = StockTake.objects.get()

    # Blind: the quantities on record are nowhere on the page.
    assert "expected" not in page.locator("#count-form").inner_text().lower()
    # Scan the second box: its row's field gets the focus, and the count is typed there.
    scan = page.get_by_label(re.compile("Scan a box"))
    scan.fill(f"]C101{GTIN}17301231" + "10SER-B")
    scan.press("Enter")
    field_b = page.get_by_label(re.compile(r"Lot SER-B · Exo Serum"))
    expect(field_b).to_be_focused()
    expect(page.locator("#scan-status")).to_contain_text("Lot SER-B")
    page.keyboard.type("5")
    # The others typed, as without a scanner.
    page.get_by_label(re.compile(r"Lot SER-A · Exo Serum")).fill("10")
    page.get_by_role("button", name="Save counts").click()
    expect(page.get_by_text("Counts saved (2 changed)")).to_be_visible()
    page.get_by_label(re.compile(r"Lot SCP-C · Exo Scalp")).fill("5")
    page.get_by_role("button", name="Save and review differences").click()
    page.wait_for_url(re.compile(r".*/review/$"))
    assert_accessible(page)

    # Two differences, each with its reason; posting without one is explained first.
    expect(page.locator("tr.table-warning")).to_have_count(2)
    page.get_by_role("button", name="Post 2 adjustment(s)").click()
    expect(page.get_by_text("Say why lot SER-B was counted at 5 instead of 6.")).to_be_visible()
    assert not StockMovement.objects.filter(kind=MovementKind.ADJUSTED).exists()
    page.get_by_label("Why does Exo Serum lot SER-B differ?").fill("Vial broken, not booked as waste")
    page.get_by_label("Why does Exo Scalp lot SCP-C differ?").fill("Delivery not booked in")
    page.get_by_role("button", name="Post 2 adjustment(s)").click()
    page.wait_for_url(re.compile(rf".*/stocktakes/{stock_take.pk}/$"))
    expect(page.get_by_text("Stock-take posted: 2 adjustment(s)")).to_be_visible()
    expect(page.get_by_role("cell", name="Vial broken, not booked as waste")).to_be_visible()
    assert_accessible(page)

    for lot in lots.values():
        lot.refresh_from_db()
    assert [lots[k].quantity_on_hand for k in "ABC"] == [10, 5, 5]
    stock_take.refresh_from_db()
    assert stock_take.status == StockTakeStatus.POSTED and stock_take.posted_by == manager
    assert AuditEvent.objects.filter(action="stocktake.post").count() == 1
    assert AuditEvent.objects.filter(action="stock.adjust").count() == 2
    assert page.console_errors == []
