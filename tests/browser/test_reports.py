"""The manager dashboard's charts and the printable cold-chain report render in a real browser."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clinic.reports.periods import add_months, month_start
from products.models import TemperatureReading
from products.services import stock_use, stock_waste
from tests.browser.conftest import assert_accessible, sign_in
from tests.products.factories import ProductFactory, StorageUnitFactory, make_lot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stocked(location, manager, practitioner):
    unit = StorageUnitFactory(location=location, name="Treatment-room fridge")
    lot = make_lot(unit=unit, product=ProductFactory(name="Benev ERC"), quantity=10, actor=manager)
    stock_use(lot=lot, quantity=2, actor=practitioner)
    stock_waste(lot=lot, quantity=1, reason="broken", actor=manager)
    month = add_months(month_start(timezone.localdate()), -1)
    tz = timezone.get_current_timezone()
    TemperatureReading.objects.bulk_create(
        [
            TemperatureReading(
                storage_unit=unit,
                taken_at=dt.datetime.combine(month + dt.timedelta(days=d), dt.time(9), tz),
                temperature_c=Decimal("4.5") + d % 3,
                source="logger",
            )
            for d in range(20)
        ]
    )
    return unit, month


def test_dashboard_draws_its_charts_without_errors(page, manager, stocked):
    sign_in(page, manager.username)
    page.goto("/clinic/reports/")
    expect(page.get_by_role("heading", name="Stock by product")).to_be_visible()
    # Chart.js sizes each canvas once it has drawn it.
    for source in ("chart-usage", "chart-waste", "chart-sessions"):
        canvas = page.locator(f'canvas[data-source="{source}"]')
        assert canvas.evaluate("c => Chart.getChart(c) !== undefined")
    assert page.console_errors == []
    assert_accessible(page)


def test_the_cold_chain_report_prints_without_navigation(page, manager, stocked):
    unit, month = stocked
    sign_in(page, manager.username)
    page.goto(f"/clinic/reports/cold-chain/?unit={unit.pk}&month={month:%Y-%m}")
    expect(page.get_by_role("heading", name=f"Cold-chain report: {unit.name}, {month:%B %Y}")).to_be_visible()
    assert page.locator('canvas[data-source="coldchain-data"]').evaluate(
        "c => Chart.getChart(c) !== undefined"
    )
    assert_accessible(page)
    page.emulate_media(media="print")
    expect(page.locator("header")).to_be_hidden()
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    expect(page.locator("nav[aria-label=Reports]")).to_be_hidden()
    expect(page.get_by_role("table").first).to_be_visible()
    assert page.console_errors == []
