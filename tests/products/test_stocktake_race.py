"""A stock-take is posted while a vial of a counted lot is used, or posted twice at once."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Sum

from products.models import Lot, MovementKind, StockMovement, StockTake, StockTakeStatus
from products.services import StockTakeChanged, stock_use, stocktake_count, stocktake_post, stocktake_start
from tests.concurrency import at_once
from tests.products.factories import make_lot

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks are only meaningful on PostgreSQL"
    ),
    pytest.mark.django_db(transaction=True),
]


def _counted_take(unit, manager):
    lot = make_lot(unit=unit, quantity=10, actor=manager)
    other = make_lot(unit=unit, quantity=5, actor=manager)
    stock_take = stocktake_start(actor=manager, location=unit.location, storage_unit=unit)
    lines = {line.lot_id: line.pk for line in stock_take.lines.all()}
    stocktake_count(stock_take=stock_take, actor=manager, counts={lines[lot.pk]: 8, lines[other.pk]: 5})
    return lot, stock_take, {lines[lot.pk]: "Two broken vials"}


def test_a_use_during_the_post_is_never_overwritten(unit, manager, practitioner):
    lot, stock_take, reasons = _counted_take(unit, manager)
    _results, refusals, unexpected = at_once(
        lambda: stocktake_post(stock_take=StockTake(pk=stock_take.pk), actor=manager, reasons=reasons),
        lambda: stock_use(lot=Lot(pk=lot.pk), quantity=1, actor=practitioner, reference="race"),
    )
    assert unexpected == []
    lot.refresh_from_db()
    # Either the post went first (8, then the use: 7) or the use did and the post was refused
    # (9, nothing adjusted): never 8 with the use silently erased.
    if refusals:
        assert isinstance(refusals[0], StockTakeChanged)
        assert lot.quantity_on_hand == 9
        assert not StockMovement.objects.filter(kind=MovementKind.ADJUSTED).exists()
    else:
        assert lot.quantity_on_hand == 7
    assert lot.quantity_on_hand == StockMovement.objects.filter(lot=lot).aggregate(s=Sum("quantity"))["s"]


def test_two_posts_at_once_post_once(unit, manager, other_manager):
    lot, stock_take, reasons = _counted_take(unit, manager)
    results, refusals, unexpected = at_once(
        lambda: stocktake_post(stock_take=StockTake(pk=stock_take.pk), actor=manager, reasons=reasons),
        lambda: stocktake_post(stock_take=StockTake(pk=stock_take.pk), actor=manager, reasons=reasons),
    )
    assert unexpected == [] and len(results) == 1 and len(refusals) == 1
    assert "already been posted" in " ".join(refusals[0].messages)
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 8
    assert StockMovement.objects.filter(kind=MovementKind.ADJUSTED).count() == 1
    assert StockTake.objects.get().status == StockTakeStatus.POSTED
