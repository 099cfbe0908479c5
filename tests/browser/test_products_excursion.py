"""A manager reviews an excursion: the CDC record, a decision per lot, then closes it."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from products.models import Excursion, Lot, LotStatus, Product, StorageUnit
from products.services import lot_receive, reading_record
from tests.browser.conftest import assert_accessible, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def excursion_setup(location, manager):
    product = Product.objects.create(
        name="Rion Platelet Exosome Serum", manufacturer="Rion", source="platelet_allogeneic",
        format="refrigerated_liquid", storage_min_c=Decimal("2"), storage_max_c=Decimal("8"),
        vial_volume_ml=Decimal("3"), use_within_hours=48,
    )  # fmt: skip
    unit = StorageUnit.objects.create(
        location=location, name="Treatment-room fridge", kind="fridge", min_c=Decimal("2"), max_c=Decimal("8")
    )
    expiry = timezone.localdate() + dt.timedelta(days=200)
    now = timezone.now()
    # In the fridge before the excursion: an excursion holds the stock that was there then.
    with time_machine.travel(now - dt.timedelta(hours=4), tick=False):
        keep = lot_receive(
            actor=manager, product=product, lot_number="KEEP-1", expiry_date=expiry, quantity=5,
            storage_unit=unit,
        )  # fmt: skip
        lose = lot_receive(
            actor=manager, product=product, lot_number="LOSE-1", expiry_date=expiry, quantity=4,
            storage_unit=unit,
        )  # fmt: skip
    reading_record(
        unit=unit, actor=manager, temperature_c=Decimal("11.2"), taken_at=now - dt.timedelta(hours=3)
    )
    reading_record(
        unit=unit, actor=manager, temperature_c=Decimal("5.0"), taken_at=now - dt.timedelta(hours=1)
    )
    return Excursion.objects.get(), unit, keep, lose


def test_reviewing_and_closing_an_excursion(page, manager, excursion_setup):
    excursion, unit, keep, lose = excursion_setup
    sign_in(page, manager.username)
    # The dashboard panel points at the open excursion.
    page.get_by_role("link", name=f"{unit.name} ({unit.location.name})").click()
    page.wait_for_url(f"**/products/excursions/{excursion.pk}/")
    assert_accessible(page)
    page.get_by_label("What happened").fill("Door left ajar after the evening clinic")
    page.get_by_label("Temperature when found (°C)").fill("11.2")
    page.get_by_label("Room temperature (°C)").fill("21")
    page.get_by_label("Found by").fill("Nadia Okafor")
    page.get_by_label("Manufacturer contacted (who)").fill("Rion support, J. Smith")
    page.get_by_label("Manufacturer's answer").fill("Stable up to 25 °C for 24 h")
    page.get_by_label("Action taken to prevent it again").fill("Door alarm fitted")
    page.get_by_label("Decision for lot KEEP-1").select_option("release")
    page.get_by_label("Reason for lot KEEP-1").fill("Manufacturer confirms stability")
    page.get_by_label("Decision for lot LOSE-1").select_option("discard")
    page.get_by_label("Reason for lot LOSE-1").fill("Box was wet")
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Close the excursion").click()
    page.wait_for_selector("text=Excursion closed")
    assert "Closed" in page.locator("h1 + .badge, .badge").all_inner_texts()
    assert Lot.objects.get(pk=keep.pk).status == LotStatus.AVAILABLE
    assert Lot.objects.get(pk=lose.pk).status == LotStatus.DEPLETED
    assert not Excursion.objects.get(pk=excursion.pk).is_open
    # Closed means frozen: the only thing left is an addendum.
    assert page.get_by_label("What happened").count() == 0
    page.get_by_label("Addendum").fill("Door alarm tested on Monday")
    page.get_by_role("button", name="Add the addendum").click()
    page.wait_for_selector("text=Door alarm tested on Monday")
    assert_accessible(page)
    assert page.console_errors == []


def test_the_storage_unit_chart_draws(page, manager, excursion_setup):
    _, unit, _, _ = excursion_setup
    sign_in(page, manager.username)
    page.goto(f"/products/units/{unit.pk}/?range=1d")
    expect(page.locator("#temperature-chart")).to_be_visible()
    assert page.evaluate("Chart.getChart('temperature-chart').data.datasets.length") == 6
    assert_accessible(page)
    assert page.console_errors == []


def test_the_excursion_shows_each_lots_minutes_out_of_range(page, manager, excursion_setup):
    excursion, _, keep, _ = excursion_setup
    sign_in(page, manager.username)
    page.goto(f"/products/excursions/{excursion.pk}/")
    # Both lots were in the fridge for the whole two hours it was out of range.
    expect(page.locator("td.exposure-here").first).to_have_text("2 h 0 min")
    expect(page.locator("td.exposure-life").first).to_have_text("2 h 0 min")
    page.goto(f"/products/lots/{keep.pk}/")
    expect(page.locator("#lot-exposure")).to_contain_text("Time out of range over its life: 2 h 0 min")
    assert_accessible(page)
    assert page.console_errors == []


def test_the_week_chart_has_one_evenly_spaced_tick_per_day(page, manager, excursion_setup):
    _, unit, _, _ = excursion_setup
    sign_in(page, manager.username)
    page.goto(f"/products/units/{unit.pk}/?range=7d")
    expect(page.locator("#temperature-chart")).to_be_visible()
    values = page.evaluate("Chart.getChart('temperature-chart').scales.x.ticks.map((t) => t.value)")
    assert len(values) == 7
    hour = 3_600_000
    # One local midnight after another (23 or 25 hours across a change of clocks).
    assert {b - a for a, b in itertools.pairwise(values)} <= {23 * hour, 24 * hour, 25 * hour}
