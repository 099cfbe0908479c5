"""An opened vial is drawn from only while its lot may still be used."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from products.models import Lot
from products.services import lot_quarantine, lot_recall, vial_draw, vial_open

pytestmark = pytest.mark.django_db


def test_a_quarantined_lots_open_vial_cannot_be_drawn(lot, manager):
    vial = vial_open(lot=lot, actor=manager)
    lot_quarantine(lot=lot, actor=manager, reason="Fridge excursion")
    with pytest.raises(ValidationError, match="quarantined"):
        vial_draw(vial=vial, volume_ml=Decimal("0.5"), actor=manager)
    vial.refresh_from_db()
    assert vial.volume_drawn_ml == 0


def test_a_recalled_lots_open_vial_cannot_be_drawn(lot, manager):
    vial = vial_open(lot=lot, actor=manager)
    lot_recall(lot=lot, actor=manager, reason="Manufacturer recall")
    with pytest.raises(ValidationError, match="recalled"):
        vial_draw(vial=vial, volume_ml=Decimal("0.5"), actor=manager)


def test_the_last_open_vial_of_a_depleted_lot_still_serves(unit, product, manager):
    from tests.products.factories import make_lot

    lot = make_lot(unit=unit, product=product, quantity=1)
    vial = vial_open(lot=lot, actor=manager)
    assert Lot.objects.get(pk=lot.pk).quantity_on_hand == 0
    draw = vial_draw(vial=vial, volume_ml=Decimal("0.5"), actor=manager)
    assert draw.volume_ml == Decimal("0.5")
