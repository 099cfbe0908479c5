"""A scanned box names exactly one usable lot, or says plainly why it cannot be used."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from products.models import Lot
from products.scanning import lot_for_scan
from products.services import lot_quarantine, lot_recall
from tests.products.factories import ProductFactory, StorageUnitFactory, make_lot

pytestmark = pytest.mark.django_db


@pytest.fixture
def here(location):
    return StorageUnitFactory(location=location, name="Fridge here")


@pytest.fixture
def kv(here):
    product = ProductFactory(name="Kimeravive", gtin="05060000000016")
    return make_lot(unit=here, product=product, lot_number="KV2411A", quantity=5)


def _scan(text, location, product=None):
    return lot_for_scan(text, lots=Lot.objects.all(), location=location, product=product)


def _gs1(lot, *, expiry=None, gtin=None):
    expiry = expiry or lot.expiry_date
    return f"(01){gtin or lot.product.gtin}(17){expiry:%y%m%d}(10){lot.lot_number}"


class TestAUsableLot:
    def test_a_gs1_box_selects_its_lot(self, kv, location):
        result = _scan(_gs1(kv), location)
        assert result.ok and result.lot == kv and result.message == ""

    def test_a_typed_lot_number_selects_it_whatever_the_case(self, kv, location):
        assert _scan("kv2411a", location).lot == kv

    def test_a_scanner_with_a_symbology_prefix_and_group_separator(self, kv, location):
        text = f"]d201{kv.product.gtin}17{kv.expiry_date:%y%m%d}10{kv.lot_number}\x1d21SER1"
        assert _scan(text, location).lot == kv

    def test_the_lot_of_the_chosen_product_when_two_share_a_number(self, kv, here, location):
        other = make_lot(unit=here, product=ProductFactory(name="Benev"), lot_number="KV2411A")
        assert _scan("KV2411A", location, product=other.product).lot == other
        ambiguous = _scan("KV2411A", location)
        assert ambiguous.lot is None and ambiguous.reason == "ambiguous"
        assert "Benev and Kimeravive" in ambiguous.message


class TestRefusals:
    def test_quarantined(self, kv, location, manager):
        lot_quarantine(lot=kv, actor=manager, reason="Fridge excursion 14 Nov")
        result = _scan(_gs1(kv), location)
        assert result.lot is None and result.reason == "quarantined"
        assert result.message == (
            "Lot KV2411A of Kimeravive is quarantined (Fridge excursion 14 Nov): "
            "do not use it until a manager releases it."
        )

    def test_recalled(self, kv, location, manager):
        lot_recall(lot=kv, actor=manager, reason="FSN 2026-11")
        result = _scan(_gs1(kv), location)
        assert (result.lot, result.reason) == (None, "recalled")
        assert "recalled" in result.message and "do not use" in result.message

    def test_expired(self, kv, location):
        Lot.objects.filter(pk=kv.pk).update(expiry_date=timezone.localdate() - dt.timedelta(days=1))
        kv.refresh_from_db()
        result = _scan(_gs1(kv), location)
        assert (result.lot, result.reason) == (None, "expired")
        assert f"expired on {kv.expiry_date:%d %b %Y}" in result.message

    def test_no_vials_left(self, kv, location):
        Lot.objects.filter(pk=kv.pk).update(quantity_on_hand=0)
        assert _scan("KV2411A", location).reason == "depleted"

    def test_not_cleared_says_what_is_missing(self, here, location):
        lot = make_lot(unit=here, product=ProductFactory(name="Uncleared", cleared=False), lot_number="U1")
        result = _scan("U1", location)
        assert (result.lot, result.reason) == (None, "not_cleared")
        assert result.message.startswith("Lot U1 of Uncleared is not cleared for use: ")
        assert "approved" in result.message or "classification" in result.message
        assert lot.pk  # the lot exists; only its clearance stops it

    def test_another_product_than_the_line(self, kv, location):
        chosen = ProductFactory(name="ExoCel")
        result = _scan(_gs1(kv), location, product=chosen)
        assert (result.lot, result.reason) == (None, "other_product")
        assert "This box is Kimeravive (lot KV2411A), not ExoCel" in result.message

    def test_kept_at_another_location(self, kv, other_location):
        result = _scan(_gs1(kv), other_location)
        assert (result.lot, result.reason) == (None, "elsewhere")
        assert f"kept at {kv.storage_unit.location.name}, not at {other_location.name}" in result.message

    def test_unknown_lot_names_the_product_of_the_gtin(self, kv, location):
        result = _scan(f"(01){kv.product.gtin}(10)NOPE-1", location)
        assert (result.lot, result.reason) == (None, "unknown")
        assert result.message.startswith("No lot NOPE-1 of Kimeravive is recorded here")

    def test_a_box_of_another_gtin_with_the_same_lot_number_is_not_this_lot(self, kv, location):
        result = _scan(f"(01)05060000000023(10){kv.lot_number}", location)
        assert result.lot is None and result.reason == "unknown"

    def test_a_box_whose_printed_expiry_is_not_the_lots(self, kv, location):
        result = _scan(_gs1(kv, expiry=kv.expiry_date + dt.timedelta(days=31)), location)
        assert (result.lot, result.reason) == (None, "expiry_mismatch")
        assert "check the box against the lot" in result.message

    @pytest.mark.parametrize(
        "text",
        ["", "   ", "(01)05060000000016(17)301231", "(99)WHAT", "(17)301399(10)KV2411A"],
        ids=["empty", "blank", "no-lot", "unknown-ai", "bad-date"],
    )
    def test_unreadable_codes_select_nothing(self, kv, location, text):
        result = _scan(text, location)
        assert result.lot is None and result.reason == "unreadable" and result.message


def test_a_held_box_of_another_product_says_it_is_held_first(kv, location, manager):
    lot_quarantine(lot=kv, actor=manager, reason="Excursion")
    result = _scan(_gs1(kv), location, product=ProductFactory(name="ExoCel"))
    assert result.reason == "quarantined" and "Excursion" in result.message
