"""Stock-takes: the snapshot, partial counts, posting the differences all or nothing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum

from clinic.models import AuditEvent
from products.models import Lot, MovementKind, StockMovement, StockTake, StockTakeLine, StockTakeStatus
from products.services import (
    StockTakeChanged,
    stock_transfer,
    stock_use,
    stocktake_add_lot,
    stocktake_cancel,
    stocktake_count,
    stocktake_post,
    stocktake_recount,
    stocktake_start,
)
from tests.products.factories import StorageUnitFactory, make_lot

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelf(unit, manager):
    """Three lots in the main fridge and one in a second fridge at the same location."""
    second = StorageUnitFactory(location=unit.location, name="Second fridge")
    lots = {
        "a": make_lot(unit=unit, quantity=10, lot_number="A1", actor=manager),
        "b": make_lot(unit=unit, quantity=5, lot_number="B1", actor=manager),
        "c": make_lot(unit=unit, quantity=3, lot_number="C1", actor=manager),
        "d": make_lot(unit=second, quantity=7, lot_number="D1", actor=manager),
    }
    return {"second": second, **lots}


def lines_by_lot(stock_take: StockTake) -> dict[str, StockTakeLine]:
    return {line.lot.lot_number: line for line in stock_take.lines.select_related("lot")}


def count(stock_take, actor, **by_lot_number):
    lines = lines_by_lot(stock_take)
    return stocktake_count(
        stock_take=stock_take, actor=actor, counts={lines[k].pk: v for k, v in by_lot_number.items()}
    )


def reasons(stock_take, **by_lot_number):
    lines = lines_by_lot(stock_take)
    return {lines[k].pk: v for k, v in by_lot_number.items()}


def on_hand(lot) -> int:
    lot.refresh_from_db()
    return lot.quantity_on_hand


class TestStart:
    def test_a_unit_count_lists_the_lots_in_stock_there_with_their_quantity(self, shelf, unit, manager):
        empty = make_lot(unit=unit, quantity=1, lot_number="E1", actor=manager)
        stock_use(lot=empty, quantity=1, actor=manager)
        stock_take = stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
        expected = {
            k: (line.expected_quantity, line.storage_unit_id) for k, line in lines_by_lot(stock_take).items()
        }
        assert expected == {"A1": (10, unit.pk), "B1": (5, unit.pk), "C1": (3, unit.pk)}
        assert stock_take.status == StockTakeStatus.DRAFT
        event = AuditEvent.objects.get(action="stocktake.start")
        assert event.after == {"storage_unit": unit.pk, "lines": 3, "expected": 18}
        assert event.location == unit.location

    def test_a_location_count_covers_every_unit_and_no_other_location(self, shelf, unit, other_lot, manager):
        stock_take = stocktake_start(actor=manager, location=unit.location)
        assert set(lines_by_lot(stock_take)) == {"A1", "B1", "C1", "D1"}
        assert lines_by_lot(stock_take)["D1"].storage_unit == shelf["second"]

    def test_a_unit_of_another_location_is_refused(self, shelf, unit, other_unit, manager):
        with pytest.raises(ValidationError, match="is not at"):
            stocktake_start(actor=manager, location=unit.location, storage_unit=other_unit)

    def test_an_empty_unit_has_nothing_to_count(self, unit, manager):
        with pytest.raises(ValidationError, match="nothing to count"):
            stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
        assert not StockTake.objects.exists()

    def test_two_counts_of_the_same_shelves_are_refused(self, shelf, unit, manager):
        first = stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
        with pytest.raises(ValidationError, match=rf"#{first.pk} .* still being counted"):
            stocktake_start(actor=manager, location=unit.location)
        # Another unit of the same location may be counted meanwhile.
        stocktake_start(actor=manager, location=unit.location, storage_unit=shelf["second"])
        stocktake_cancel(stock_take=first, actor=manager)
        with pytest.raises(ValidationError, match="still being counted"):
            stocktake_start(actor=manager, location=unit.location)


class TestCount:
    def test_partial_saves_keep_what_was_counted(self, shelf, unit, manager):
        stock_take = stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
        assert count(stock_take, manager, A1=10) == 1
        assert count(stock_take, manager, A1=10, B1=4) == 1  # A1 unchanged: not counted as a change
        lines = lines_by_lot(stock_take)
        assert (lines["A1"].counted_quantity, lines["B1"].counted_quantity, lines["C1"].counted_quantity) == (
            10,
            4,
            None,
        )
        assert lines["B1"].counted_by == manager and lines["B1"].counted_at is not None
        assert AuditEvent.objects.filter(action="stocktake.count").count() == 2
        count(stock_take, manager, B1=None)
        assert lines_by_lot(stock_take)["B1"].counted_quantity is None

    @pytest.mark.parametrize("value", [-1, 100_001, "3"])
    def test_impossible_counts_are_refused_with_the_lot_named(self, shelf, unit, manager, value):
        stock_take = stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
        with pytest.raises(ValidationError, match="count of lot A1"):
            count(stock_take, manager, B1=5, A1=value)
        assert not StockTakeLine.objects.filter(counted_quantity__isnull=False).exists()

    def test_a_line_of_another_stock_take_is_refused(self, shelf, unit, manager):
        mine = stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
        theirs = stocktake_start(actor=manager, location=unit.location, storage_unit=shelf["second"])
        line = theirs.lines.get()
        with pytest.raises(ValidationError, match="not on this stock-take"):
            stocktake_count(stock_take=mine, actor=manager, counts={line.pk: 7})


class TestPost:
    def test_differences_become_adjustments_with_their_reasons(self, shelf, unit, manager):
        stock_take = stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
        count(stock_take, manager, A1=9, B1=5, C1=4)
        before = StockMovement.objects.count()
        stocktake_post(
            stock_take=stock_take,
            actor=manager,
            reasons=reasons(stock_take, A1="Broken vial found", C1="Unbooked delivery", B1="ignored"),
        )
        assert (on_hand(shelf["a"]), on_hand(shelf["b"]), on_hand(shelf["c"])) == (9, 5, 4)
        # One adjustment per difference, none for the lot that matched.
        adjustments = StockMovement.objects.filter(kind=MovementKind.ADJUSTED).order_by("lot__lot_number")
        assert StockMovement.objects.count() == before + 2
        assert [(m.lot.lot_number, m.quantity, m.note) for m in adjustments] == [
            ("A1", -1, f"Stock-take #{stock_take.pk}: Broken vial found"),
            ("C1", 1, f"Stock-take #{stock_take.pk}: Unbooked delivery"),
        ]
        lines = lines_by_lot(stock_take)
        assert lines["A1"].movement.quantity == -1 and lines["C1"].movement.quantity == 1
        assert lines["B1"].movement is None and lines["B1"].reason == ""
        stock_take.refresh_from_db()
        assert stock_take.status == StockTakeStatus.POSTED and stock_take.posted_by == manager
        # One audit row for the stock-take, and stock_adjust's own row per adjustment.
        event = AuditEvent.objects.get(action="stocktake.post")
        assert event.after["lines"] == 3 and event.after["expected"] == 18 and event.after["counted"] == 18
        # Listed in shelf order (product name, expiry), which the factories' names do not fix.
        assert sorted(d["lot_number"] for d in event.after["differences"]) == ["A1", "C1"]
        assert AuditEvent.objects.filter(action="stock.adjust").count() == 2
        for lot in (shelf["a"], shelf["c"]):
            assert on_hand(lot) == lot.movements.aggregate(s=Sum("quantity"))["s"]

    def test_a_count_with_no_difference_posts_no_movement(self, shelf, unit, manager):
        stock_take = stocktake_start(actor=manager, location=unit.location, storage_unit=shelf["second"])
        count(stock_take, manager, D1=7)
        before = StockMovement.objects.count()
        stocktake_post(stock_take=stock_take, actor=manager)
        assert StockMovement.objects.count() == before
        assert AuditEvent.objects.filter(action="stocktake.post").count() == 1

    def test_uncounted_lines_are_refused_and_named(self, shelf, unit, manager):
        stock_take = stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
        count(stock_take, manager, A1=9)
        with pytest.raises(ValidationError, match=r"2 lot\(s\) have not been counted yet: lot B1 .*lot C1"):
            stocktake_post(stock_take=stock_take, actor=manager, reasons=reasons(stock_take, A1="Broken"))
        assert on_hand(shelf["a"]) == 10
        stock_take.refresh_from_db()
        assert stock_take.status == StockTakeStatus.DRAFT

    def test_a_reason_is_required_for_every_difference(self, shelf, unit, manager):
        stock_take = stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
        count(stock_take, manager, A1=9, B1=6, C1=3)
        with pytest.raises(ValidationError, match=r"Say why the count differs for lot B1"):
            stocktake_post(
                stock_take=stock_take, actor=manager, reasons=reasons(stock_take, A1="Broken", B1="  ")
            )
        assert (on_hand(shelf["a"]), on_hand(shelf["b"])) == (10, 5)
        assert not StockMovement.objects.filter(kind=MovementKind.ADJUSTED).exists()
        assert not AuditEvent.objects.filter(action__in=["stocktake.post", "stock.adjust"]).exists()

    def test_nothing_is_posted_when_one_adjustment_fails(self, shelf, unit, manager, monkeypatch):
        stock_take = stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
        count(stock_take, manager, A1=9, B1=4, C1=3)
        from products.services import stocktake as module

        real = module.stock_adjust

        def fail_on_b(*, lot, **kwargs):
            if lot.lot_number == "B1":
                raise ValidationError("The database went away.")
            return real(lot=lot, **kwargs)

        monkeypatch.setattr(module, "stock_adjust", fail_on_b)
        with pytest.raises(ValidationError, match="went away"):
            stocktake_post(stock_take=stock_take, actor=manager, reasons=reasons(stock_take, A1="x", B1="y"))
        assert (on_hand(shelf["a"]), on_hand(shelf["b"])) == (10, 5)
        assert not StockMovement.objects.filter(kind=MovementKind.ADJUSTED).exists()
        assert not lines_by_lot(stock_take)["A1"].movement
        stock_take.refresh_from_db()
        assert stock_take.status == StockTakeStatus.DRAFT
        assert not AuditEvent.objects.filter(action__in=["stocktake.post", "stock.adjust"]).exists()

    def test_a_posted_or_cancelled_count_cannot_change(self, shelf, unit, manager):
        stock_take = stocktake_start(actor=manager, location=unit.location, storage_unit=shelf["second"])
        count(stock_take, manager, D1=7)
        stocktake_post(stock_take=stock_take, actor=manager)
        with pytest.raises(ValidationError, match="already been posted"):
            count(stock_take, manager, D1=6)
        with pytest.raises(ValidationError, match="already been posted"):
            stocktake_post(stock_take=stock_take, actor=manager)
        with pytest.raises(ValidationError, match="already been posted"):
            stocktake_cancel(stock_take=stock_take, actor=manager)
        other = stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
        stocktake_cancel(stock_take=other, actor=manager, reason="Started by mistake")
        other.refresh_from_db()
        assert other.status == StockTakeStatus.CANCELLED and other.note == "Cancelled: Started by mistake"
        with pytest.raises(ValidationError, match="already been cancelled"):
            stocktake_post(stock_take=other, actor=manager)
        assert AuditEvent.objects.filter(action="stocktake.cancel").count() == 1


class TestStockMovedDuringTheCount:
    """A vial used (or a lot moved) between the start and the post: refused, then recounted."""

    def test_a_use_during_the_count_refuses_the_post_naming_the_lot(self, shelf, unit, manager, practitioner):
        stock_take = stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
        count(stock_take, manager, A1=10, B1=4, C1=3)
        stock_use(lot=shelf["a"], quantity=1, actor=practitioner, reference="treatment")
        with pytest.raises(StockTakeChanged) as refused:
            stocktake_post(stock_take=stock_take, actor=manager, reasons=reasons(stock_take, B1="Broken"))
        message = " ".join(refused.value.messages)
        assert "Lot A1" in message and "10 vial(s) were expected then, 9 are on record now" in message
        assert [change.line.lot_id for change in refused.value.changes] == [shelf["a"].pk]
        # Nothing was posted: B1's difference waits with the rest.
        assert (on_hand(shelf["a"]), on_hand(shelf["b"])) == (9, 5)
        assert not StockMovement.objects.filter(kind=MovementKind.ADJUSTED).exists()

    def test_the_recount_resnapshots_the_changed_lot_and_clears_its_count(self, shelf, unit, manager):
        stock_take = stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
        count(stock_take, manager, A1=10, B1=4, C1=3)
        stock_use(lot=shelf["a"], quantity=2, actor=manager)
        changes = stocktake_recount(stock_take=stock_take, actor=manager)
        assert [c.line.lot.lot_number for c in changes] == ["A1"]
        lines = lines_by_lot(stock_take)
        assert (lines["A1"].expected_quantity, lines["A1"].counted_quantity, lines["A1"].needs_recount) == (
            8,
            None,
            True,
        )
        assert lines["B1"].counted_quantity == 4  # the others keep their counts
        assert AuditEvent.objects.filter(action="stocktake.recount").count() == 1
        count(stock_take, manager, A1=8)
        assert not lines_by_lot(stock_take)["A1"].needs_recount
        stocktake_post(stock_take=stock_take, actor=manager, reasons=reasons(stock_take, B1="Broken"))
        assert (on_hand(shelf["a"]), on_hand(shelf["b"])) == (8, 4)
        with pytest.raises(ValidationError, match="already been posted"):
            stocktake_recount(stock_take=stock_take, actor=manager)

    def test_a_lot_moved_out_of_the_unit_is_named_and_taken_off_the_list(self, shelf, unit, manager):
        stock_take = stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
        count(stock_take, manager, A1=10, B1=5, C1=3)
        stock_transfer(lot=shelf["c"], to_unit=shelf["second"], actor=manager)
        with pytest.raises(StockTakeChanged, match=r"Lot C1 .* was moved to Second fridge"):
            stocktake_post(stock_take=stock_take, actor=manager)
        stocktake_recount(stock_take=stock_take, actor=manager)
        assert set(lines_by_lot(stock_take)) == {"A1", "B1"}
        stocktake_post(stock_take=stock_take, actor=manager)

    def test_in_a_location_count_a_lot_moved_between_units_stays_listed(self, shelf, unit, manager):
        stock_take = stocktake_start(actor=manager, location=unit.location)
        stock_transfer(lot=shelf["c"], to_unit=shelf["second"], actor=manager)
        stocktake_recount(stock_take=stock_take, actor=manager)
        line = lines_by_lot(stock_take)["C1"]
        assert line.storage_unit == shelf["second"] and line.needs_recount

    def test_no_recount_when_nothing_moved(self, shelf, unit, manager):
        stock_take = stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
        assert stocktake_recount(stock_take=stock_take, actor=manager) == []
        assert not AuditEvent.objects.filter(action="stocktake.recount").exists()


def test_lot_rows_are_what_is_counted(shelf, unit, manager):
    """Each Lot row is one lot's stock in one unit: one line per row, whatever its number."""
    stock_take = stocktake_start(actor=manager, location=unit.location)
    assert stock_take.lines.count() == Lot.objects.at([unit.location]).in_stock().count()


class TestAddLot:
    def test_a_lot_found_with_none_on_record_is_added_and_posted(self, shelf, unit, manager):
        found = make_lot(unit=unit, quantity=2, lot_number="F1", actor=manager)
        stock_use(lot=found, quantity=2, actor=manager)
        stock_take = stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
        line = stocktake_add_lot(stock_take=stock_take, actor=manager, lot=found)
        assert (line.expected_quantity, line.storage_unit) == (0, unit)
        assert AuditEvent.objects.filter(action="stocktake.add_lot").count() == 1
        count(stock_take, manager, A1=10, B1=5, C1=3, F1=1)
        stocktake_post(
            stock_take=stock_take, actor=manager, reasons=reasons(stock_take, F1="Use not booked back")
        )
        assert on_hand(found) == 1

    def test_a_lot_of_another_unit_or_already_listed_is_refused(self, shelf, unit, manager):
        stock_take = stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
        with pytest.raises(ValidationError, match="Lot D1 is kept in Second fridge, not in Main fridge"):
            stocktake_add_lot(stock_take=stock_take, actor=manager, lot=shelf["d"])
        with pytest.raises(ValidationError, match="already on this stock-take"):
            stocktake_add_lot(stock_take=stock_take, actor=manager, lot=shelf["a"])


def test_the_recount_keeps_the_reasons_given_for_the_other_lots(shelf, unit, manager):
    stock_take = stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
    count(stock_take, manager, A1=10, B1=4, C1=3)
    stock_use(lot=shelf["a"], quantity=1, actor=manager)
    stocktake_recount(stock_take=stock_take, actor=manager, reasons=reasons(stock_take, A1="x", B1="Broken"))
    lines = lines_by_lot(stock_take)
    assert (lines["A1"].reason, lines["B1"].reason) == ("", "Broken")
