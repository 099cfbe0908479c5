"""The stock rules: receiving, using, wasting, adjusting, moving, holding and opening vials."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from clinic.models import AuditEvent
from products.models import Lot, LotStatus, MovementKind, StockMovement
from products.models.stock import WasteReason
from products.services import (
    lot_quarantine,
    lot_recall,
    lot_receive,
    lot_release,
    stock_adjust,
    stock_transfer,
    stock_use,
    stock_waste,
    vial_discard,
    vial_draw,
    vial_open,
)
from tests.products.factories import LyophilisedProductFactory, ProductFactory, StorageUnitFactory, make_lot

pytestmark = pytest.mark.django_db


def ledger_sum(lot) -> int:
    return StockMovement.objects.filter(lot=lot).aggregate(s=Sum("quantity"))["s"] or 0


def assert_ledger_matches(lot) -> None:
    lot.refresh_from_db()
    assert lot.quantity_on_hand == ledger_sum(lot)


class TestReceive:
    def test_it_books_the_lot_with_a_received_movement_and_an_audit_row(self, unit, product, manager):
        lot = lot_receive(
            actor=manager,
            product=product,
            lot_number="ABC-1",
            expiry_date=timezone.localdate() + dt.timedelta(days=200),
            quantity=12,
            storage_unit=unit,
        )
        assert lot.quantity_on_hand == 12
        assert list(lot.movements.values_list("kind", "quantity", "balance_after")) == [("received", 12, 12)]
        assert AuditEvent.objects.filter(
            action="lot.receive", object_id=str(lot.pk), location=unit.location
        ).exists()
        assert lot.status == LotStatus.AVAILABLE

    def test_the_same_lot_number_of_a_product_in_the_same_unit_is_refused(self, lot, unit, manager):
        with pytest.raises(ValidationError, match="already in Main fridge"):
            make_lot(unit=unit, product=lot.product, lot_number="A100", actor=manager)
        with pytest.raises(ValidationError, match="already in Main fridge"):
            make_lot(unit=unit, product=lot.product, lot_number="a100", actor=manager)

    def test_the_same_lot_number_of_another_product_is_fine(self, lot, unit, manager):
        assert make_lot(unit=unit, lot_number="A100", actor=manager).lot_number == "A100"

    def test_an_expired_lot_cannot_be_received(self, unit, manager):
        with pytest.raises(ValidationError, match="expired"):
            make_lot(unit=unit, expiry=timezone.localdate() - dt.timedelta(days=1), actor=manager)

    def test_a_frozen_product_does_not_go_into_a_fridge(self, unit, manager):
        frozen = ProductFactory(format="frozen", storage_min_c=Decimal("-90"), storage_max_c=Decimal("-15"))
        with pytest.raises(ValidationError, match="must be kept at"):
            make_lot(unit=unit, product=frozen, actor=manager)

    def test_a_scanned_gtin_must_match_the_product(self, unit, product, manager):
        with pytest.raises(ValidationError, match="not Benev"):
            make_lot(unit=unit, product=product, gtin="04006381333931", actor=manager)

    def test_damaged_packaging_or_a_warm_arrival_quarantines_the_lot(self, unit, manager):
        damaged = make_lot(unit=unit, packaging_intact=False, actor=manager)
        warm = make_lot(unit=unit, arrival_temperature_c=Decimal("14.0"), actor=manager)
        for lot in (damaged, warm):
            lot.refresh_from_db()
            assert lot.status == LotStatus.QUARANTINED
            assert lot.hold_reason.startswith("On receipt")
        assert "14.0 °C" in warm.hold_reason

    def test_the_database_refuses_expiry_before_manufacture(self, lot):
        with pytest.raises(IntegrityError), transaction.atomic():
            Lot.objects.filter(pk=lot.pk).update(manufactured_on=lot.expiry_date + dt.timedelta(days=1))


class TestUse:
    def test_it_takes_vials_and_writes_the_movement(self, lot, practitioner):
        movement = stock_use(lot=lot, quantity=3, actor=practitioner, reference="treatment 42")
        assert (movement.kind, movement.quantity, movement.balance_after) == ("used", -3, 7)
        assert movement.reference == "treatment 42"
        assert_ledger_matches(lot)
        assert AuditEvent.objects.filter(action="stock.use", actor=practitioner).exists()

    def test_an_over_draw_is_refused_and_changes_nothing(self, lot, practitioner):
        with pytest.raises(ValidationError, match="only 10 vial"):
            stock_use(lot=lot, quantity=11, actor=practitioner)
        lot.refresh_from_db()
        assert lot.quantity_on_hand == 10 and lot.movements.count() == 1

    @pytest.mark.parametrize(
        ("setup", "message"),
        [
            (lambda lot, m: Lot.objects.filter(pk=lot.pk).update(expiry_date=dt.date(2020, 1, 1)), "expired"),
            (lambda lot, m: lot_quarantine(lot=lot, actor=m, reason="Broken seal"), "quarantined"),
            (lambda lot, m: lot_recall(lot=lot, actor=m, reason="FSN 2026-4"), "recalled"),
            (lambda lot, m: stock_waste(lot=lot, quantity=10, reason="broken", actor=m), "no vials left"),
        ],
    )
    def test_an_unusable_lot_is_refused(self, lot, manager, practitioner, setup, message):
        setup(lot, manager)
        with pytest.raises(ValidationError, match=message):
            stock_use(lot=lot, quantity=1, actor=practitioner)

    def test_zero_or_negative_quantities_are_refused(self, lot, practitioner):
        for bad in (0, -1):
            with pytest.raises(ValidationError, match="above zero"):
                stock_use(lot=lot, quantity=bad, actor=practitioner)

    def test_the_database_refuses_a_negative_quantity(self, lot):
        with pytest.raises(IntegrityError), transaction.atomic():
            Lot.objects.filter(pk=lot.pk).update(quantity_on_hand=-1)


class TestWasteAdjustTransfer:
    def test_waste_needs_a_known_reason(self, lot, manager):
        with pytest.raises(ValidationError, match="why"):
            stock_waste(lot=lot, quantity=1, reason="bored", actor=manager)
        movement = stock_waste(lot=lot, quantity=2, reason=WasteReason.BROKEN, actor=manager, note="dropped")
        assert (movement.kind, movement.reason, movement.balance_after) == ("wasted", "broken", 8)
        assert_ledger_matches(lot)

    def test_expired_or_quarantined_stock_can_still_be_wasted(self, lot, manager):
        lot_quarantine(lot=lot, actor=manager, reason="Doubt")
        stock_waste(lot=lot, quantity=10, reason=WasteReason.TEMPERATURE, actor=manager)
        lot.refresh_from_db()
        assert lot.status == LotStatus.DEPLETED

    def test_adjust_needs_a_reason_and_a_difference(self, lot, manager):
        with pytest.raises(ValidationError, match="reason is required"):
            stock_adjust(lot=lot, counted=9, reason=" ", actor=manager)
        with pytest.raises(ValidationError, match="nothing to adjust"):
            stock_adjust(lot=lot, counted=10, reason="count", actor=manager)
        movement = stock_adjust(lot=lot, counted=9, reason="Monthly count", actor=manager)
        assert (movement.quantity, movement.note) == (-1, "Monthly count")
        stock_adjust(lot=lot, counted=11, reason="Found behind the shelf", actor=manager)
        assert_ledger_matches(lot)
        assert lot.quantity_on_hand == 11

    def test_transfer_moves_the_lot_and_records_both_units(self, lot, manager, other_location):
        manager.staff_profile.locations.add(other_location)
        target = StorageUnitFactory(location=other_location, name="Manchester fridge")
        movement = stock_transfer(lot=lot, to_unit=target, actor=manager, note="Clinic day in Manchester")
        lot.refresh_from_db()
        assert lot.storage_unit == target
        assert (movement.kind, movement.quantity, movement.from_unit, movement.to_unit) == (
            "transfer",
            0,
            movement.from_unit,
            target,
        )
        assert_ledger_matches(lot)
        with pytest.raises(ValidationError, match="already in"):
            stock_transfer(lot=lot, to_unit=target, actor=manager)


class TestHolds:
    def test_quarantine_and_release_go_through_the_ledger(self, lot, manager):
        lot_quarantine(lot=lot, actor=manager, reason="Cap cracked")
        lot.refresh_from_db()
        assert lot.status == LotStatus.QUARANTINED and lot.hold_reason == "Cap cracked"
        with pytest.raises(ValidationError, match="already quarantined"):
            lot_quarantine(lot=lot, actor=manager, reason="again")
        lot_release(lot=lot, actor=manager, reason="Supplier confirmed")
        lot.refresh_from_db()
        assert lot.status == LotStatus.AVAILABLE
        kinds = list(lot.movements.values_list("kind", flat=True))
        assert kinds == ["received", "quarantine", "release"]

    def test_reasons_are_required(self, lot, manager):
        with pytest.raises(ValidationError):
            lot_quarantine(lot=lot, actor=manager, reason="")
        with pytest.raises(ValidationError):
            lot_recall(lot=lot, actor=manager, reason="")

    def test_a_recalled_lot_is_never_released(self, lot, manager):
        lot_quarantine(lot=lot, actor=manager, reason="Notice")
        lot_recall(lot=lot, actor=manager, reason="Manufacturer recall")
        with pytest.raises(ValidationError, match="recalled"):
            lot_release(lot=lot, actor=manager, reason="oops")


class TestOpenedVials:
    def test_opening_takes_a_vial_and_sets_the_window_from_the_product(self, unit, manager, practitioner):
        product = LyophilisedProductFactory(use_within_hours=4, diluent_volume_ml=Decimal("5"))
        lot = make_lot(unit=unit, product=product, quantity=3, actor=manager)
        now = timezone.now()
        vial = vial_open(lot=lot, actor=practitioner, opened_at=now)
        assert vial.method == "reconstituted"
        assert vial.beyond_use_at == now + dt.timedelta(hours=4)
        assert vial.volume_ml == Decimal("5")
        lot.refresh_from_db()
        assert lot.quantity_on_hand == 2 and vial.movement.kind == MovementKind.OPENED
        assert_ledger_matches(lot)

    def test_one_vial_serves_several_patients_inside_its_volume(self, lot, practitioner):
        vial = vial_open(lot=lot, actor=practitioner)
        vial_draw(vial=vial, volume_ml=Decimal("2"), actor=practitioner, reference="patient A")
        vial_draw(vial=vial, volume_ml=Decimal("2.5"), actor=practitioner, reference="patient B")
        vial.refresh_from_db()
        assert vial.volume_left_ml == Decimal("0.5") and vial.draws.count() == 2
        with pytest.raises(ValidationError, match=r"Only 0.50 mL"):
            vial_draw(vial=vial, volume_ml=Decimal("1"), actor=practitioner)

    def test_past_its_window_a_vial_can_only_be_discarded(self, lot, practitioner):
        vial = vial_open(lot=lot, actor=practitioner, opened_at=timezone.now() - dt.timedelta(hours=25))
        with pytest.raises(ValidationError, match="only be discarded"):
            vial_draw(vial=vial, volume_ml=Decimal("1"), actor=practitioner)
        vial_discard(vial=vial, actor=practitioner, reason=WasteReason.BEYOND_USE)
        vial.refresh_from_db()
        assert vial.state == "discarded"
        with pytest.raises(ValidationError, match="already been discarded"):
            vial_discard(vial=vial, actor=practitioner, reason=WasteReason.BEYOND_USE)

    def test_the_window_never_runs_past_the_lots_expiry(self, unit, manager, practitioner):
        product = ProductFactory(format="take_home", use_within_hours=14 * 24)
        lot = make_lot(
            unit=unit, product=product, expiry=timezone.localdate() + dt.timedelta(days=2), actor=manager
        )
        vial = vial_open(lot=lot, actor=practitioner)
        expected = dt.datetime.combine(
            lot.expiry_date + dt.timedelta(days=1), dt.time.min, timezone.get_current_timezone()
        )
        assert vial.beyond_use_at == expected

    def test_an_expired_lot_cannot_be_opened(self, lot, practitioner):
        Lot.objects.filter(pk=lot.pk).update(expiry_date=dt.date(2020, 1, 1))
        with pytest.raises(ValidationError, match="expired"):
            vial_open(lot=lot, actor=practitioner)
