"""Every products page a manager or practitioner uses is accessible and free of console errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from products.models import Product, StorageUnit
from products.services import lot_receive, reading_record, vial_open
from tests.browser.conftest import assert_accessible, nav_to, sign_in
from tests.products.factories import add_coa, clear_product

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stock(location, manager):
    product = Product.objects.create(
        name="HydraFacial Exosome Booster", manufacturer="HydraFacial", source="plant",
        format="refrigerated_liquid", storage_min_c=Decimal("2"), storage_max_c=Decimal("8"),
        vial_volume_ml=Decimal("3"), use_within_hours=24,
    )  # fmt: skip
    clear_product(product)  # classified, documented and approved: the gate lets it be used
    unit = StorageUnit.objects.create(
        location=location, name="Pharmacy fridge", kind="fridge", min_c=Decimal("2"), max_c=Decimal("8"),
        logger_id="LOG-1",
    )  # fmt: skip
    lot = lot_receive(
        actor=manager, product=product, lot_number="HF-1", quantity=6, storage_unit=unit,
        expiry_date=timezone.localdate() + dt.timedelta(days=20),
    )  # fmt: skip
    add_coa(lot)
    vial = vial_open(lot=lot, actor=manager)
    reading_record(
        unit=unit, actor=manager, temperature_c=Decimal("5.1"), min_c=Decimal("4"), max_c=Decimal("6")
    )
    return {"lot": lot, "unit": unit, "vial": vial, "product": product}


def test_manager_pages_are_accessible(page, manager, stock):
    sign_in(page, manager.username)
    lot, unit = stock["lot"], stock["unit"]
    for url in [
        "/products/stock/",
        "/products/lots/",
        f"/products/lots/{lot.pk}/",
        f"/products/lots/{lot.pk}/waste/",
        f"/products/lots/{lot.pk}/transfer/",
        f"/products/vials/{stock['vial'].pk}/",
        "/products/catalogue/",
        "/products/catalogue/new/",
        "/products/units/",
        f"/products/units/{unit.pk}/?range=30d",
        f"/products/units/{unit.pk}/readings/new/",
        f"/products/units/{unit.pk}/import/",
        "/products/excursions/",
    ]:
        page.goto(url)
        assert page.get_by_role("heading", level=1).count() == 1, url
        assert_accessible(page)
    assert page.console_errors == []


def test_a_practitioner_draws_from_an_open_vial_shown_on_the_stock_page(page, practitioner, stock):
    sign_in(page, practitioner.username)
    nav_to(page, "Stock", "Stock overview")
    row = page.get_by_role("row").filter(has_text="HF-1")
    assert "left" in row.inner_text()
    row.get_by_role("link", name="Draw / discard").click()
    page.get_by_label("Volume drawn (mL)").fill("1.2")
    page.get_by_label("Reference").fill("Patient 0042")
    page.get_by_role("button", name="Record draw").click()
    page.wait_for_selector("text=1.2 mL drawn")
    stock["vial"].refresh_from_db()
    assert stock["vial"].volume_drawn_ml == Decimal("1.20")
    assert page.console_errors == []
