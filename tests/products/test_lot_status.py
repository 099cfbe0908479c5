"""A lot's status is one rule, computed the same in Python and in SQL."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from products.models import Lot, LotStatus
from products.services import lot_quarantine, lot_recall, stock_waste
from tests.products.factories import make_lot

pytestmark = pytest.mark.django_db


@pytest.fixture
def lots(unit, manager, settings):
    settings.EXPIRING_SOON_DAYS = 30
    today = timezone.localdate()
    made = {
        LotStatus.AVAILABLE: make_lot(unit=unit, expiry=today + dt.timedelta(days=90), actor=manager),
        LotStatus.EXPIRING_SOON: make_lot(unit=unit, expiry=today + dt.timedelta(days=30), actor=manager),
        LotStatus.EXPIRED: make_lot(unit=unit, expiry=today + dt.timedelta(days=5), actor=manager),
        LotStatus.QUARANTINED: make_lot(unit=unit, actor=manager),
        LotStatus.RECALLED: make_lot(unit=unit, actor=manager),
        LotStatus.DEPLETED: make_lot(unit=unit, quantity=2, actor=manager),
    }
    Lot.objects.filter(pk=made[LotStatus.EXPIRED].pk).update(expiry_date=today - dt.timedelta(days=1))
    lot_quarantine(lot=made[LotStatus.QUARANTINED], actor=manager, reason="check")
    lot_recall(lot=made[LotStatus.RECALLED], actor=manager, reason="recall")
    stock_waste(lot=made[LotStatus.DEPLETED], quantity=2, reason="broken", actor=manager)
    return {status: Lot.objects.get(pk=lot.pk) for status, lot in made.items()}


def test_python_and_sql_agree_on_every_status(lots):
    annotated = dict(Lot.objects.with_status().values_list("pk", "status_code"))
    for status, lot in lots.items():
        assert lot.status == status
        assert annotated[lot.pk] == status
        assert list(Lot.objects.in_status(status)) == [lot]


def test_usable_hides_unusable_lots_and_fefo_orders_by_expiry(lots):
    usable = list(Lot.objects.usable().fefo())
    assert usable == [lots[LotStatus.EXPIRING_SOON], lots[LotStatus.AVAILABLE]]


def test_the_expiring_window_follows_the_setting(lots, settings):
    settings.EXPIRING_SOON_DAYS = 100
    assert Lot.objects.get(pk=lots[LotStatus.AVAILABLE].pk).status == LotStatus.EXPIRING_SOON


def test_for_user_scopes_through_the_storage_unit(lot, other_lot, manager, other_manager):
    assert list(Lot.objects.for_user(manager)) == [lot]
    assert list(Lot.objects.for_user(other_manager)) == [other_lot]
