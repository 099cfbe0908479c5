from __future__ import annotations

import pytest

from tests.products.factories import ProductFactory, StorageUnitFactory, make_lot


@pytest.fixture
def unit(location):
    return StorageUnitFactory(location=location, name="Main fridge")


@pytest.fixture
def other_unit(other_location):
    return StorageUnitFactory(location=other_location, name="Manchester fridge")


@pytest.fixture
def product(db):
    return ProductFactory(name="Benev Exosome Regenerative Complex", gtin="09506000134352")


@pytest.fixture
def lot(unit, product, manager):
    return make_lot(unit=unit, product=product, quantity=10, lot_number="A100", actor=manager)


@pytest.fixture
def other_lot(other_unit, other_manager):
    return make_lot(unit=other_unit, quantity=4, lot_number="M200", actor=other_manager)
