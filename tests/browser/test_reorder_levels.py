"""A manager sets a minimum for a product; stock drops below it; the overview shows the badge."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from products.models import ReorderLevel
from products.services import stock_use
from tests.browser.conftest import assert_accessible, sign_in
from tests.products.factories import ProductFactory, StorageUnitFactory, make_lot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_sets_a_minimum_and_the_badge_appears_when_stock_drops(page, manager, location):
    product = ProductFactory(name="Exo Serum Reorder")
    unit = StorageUnitFactory(location=location, name="Pharmacy fridge")
    lot = make_lot(unit=unit, product=product, quantity=6, actor=manager)

    sign_in(page, manager.username)
    page.goto("/products/stock/")
    page.get_by_role("link", name="Reorder levels").click()
    page.wait_for_url("**/products/stock/reorder/")
    assert_accessible(page)
    assert "Suggested order" in page.locator("#reorder-rule").inner_text()
    page.get_by_label("Product").select_option(str(product.pk))
    page.get_by_label("Location").select_option(str(location.pk))
    page.get_by_label("Minimum").fill("5")
    page.get_by_label("Reorder quantity").fill("10")
    page.get_by_role("button", name="Save level").click()
    expect(page.get_by_text("low below 5 usable vials, order at least 10")).to_be_visible()
    level = ReorderLevel.objects.get()
    assert (level.product, level.location, level.minimum, level.reorder_quantity) == (
        product,
        location,
        5,
        10,
    )

    page.goto("/products/stock/")
    assert page.locator(".low-stock").count() == 0  # 6 usable: not below 5

    stock_use(lot=lot, quantity=2, actor=manager)  # 4 < 5
    page.goto("/products/stock/")
    badge = page.locator(".low-stock")
    expect(badge).to_have_count(1)
    expect(badge).to_have_text("Low stock at Marylebone: 4 usable, minimum 5, suggested order 10")
    assert_accessible(page)
    assert page.console_errors == []
