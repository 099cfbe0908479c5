"""Factories for the products app. Lots are received through the service, so every lot
starts with a ledger that matches its quantity."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from products.models import Format, Product, Source, StorageUnit
from products.models.coldchain import UnitKind
from products.services import lot_receive
from tests.factories import LocationFactory


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Exo Serum {n}")
    manufacturer = "Benev"
    supplier = "Aesthetic Supplies Ltd"
    source = Source.MSC_ADIPOSE
    format = Format.REFRIGERATED_LIQUID
    storage_min_c = Decimal("2")
    storage_max_c = Decimal("8")
    vial_volume_ml = Decimal("5")
    use_within_hours = 24
    unit_cost = Decimal("120.00")


class LyophilisedProductFactory(ProductFactory):
    format = Format.LYOPHILISED
    diluent = "Sterile water"
    diluent_volume_ml = Decimal("5")
    vial_volume_ml = Decimal("1")
    use_within_hours = 4


class StorageUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StorageUnit

    location = factory.SubFactory(LocationFactory)
    name = factory.Sequence(lambda n: f"Fridge {n}")
    kind = UnitKind.FRIDGE
    min_c = Decimal("2")
    max_c = Decimal("8")


def make_lot(
    *,
    unit: StorageUnit,
    product: Product | None = None,
    quantity: int = 10,
    expiry: dt.date | None = None,
    lot_number: str | None = None,
    actor=None,
    **kwargs,
):
    """A lot received through ``lot_receive`` (ledger and quantity agree from the start)."""
    product = product or ProductFactory()
    make_lot.counter += 1
    return lot_receive(
        actor=actor,
        product=product,
        lot_number=lot_number or f"L{make_lot.counter:05d}",
        expiry_date=expiry or timezone.localdate() + dt.timedelta(days=365),
        quantity=quantity,
        storage_unit=unit,
        **kwargs,
    )


make_lot.counter = 0
