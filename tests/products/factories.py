"""Factories for the products app. Lots are received through the service, so every lot
starts with a ledger that matches its quantity.

Products and lots come cleared for use by default (products.compliance): a product is a
class IIa device intended for every route, with a CE certificate and instructions for use on
file and a manager's approval; every ``make_lot`` lot gets its certificate of analysis. Pass
``ProductFactory(cleared=False)`` / ``make_lot(..., coa=False)`` for an uncleared one.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from products.models import (
    Classification,
    DocumentType,
    Format,
    Product,
    RegulatoryDocument,
    Source,
    StorageUnit,
)
from products.models.coldchain import UnitKind
from products.services import lot_receive
from tests.factories import LocationFactory


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        skip_postgeneration_save = True

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

    @factory.post_generation
    def cleared(self, create, extracted, **kwargs):
        if create and extracted is not False:
            clear_product(self)


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


# The smallest file clinic.files accepts as a PDF (header and end-of-file marker).
MINIMAL_PDF = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"


def add_document(
    *,
    doc_type: str,
    product: Product | None = None,
    lot=None,
    expires_on: dt.date | None = None,
    issued_on: dt.date | None = None,
    reference: str = "",
    issuer: str = "BSI Group",
) -> RegulatoryDocument:
    """A document on file with a real (tiny) private PDF, written without the upload service."""
    from clinic.files import store_private

    stored = store_private(MINIMAL_PDF, folder="documents", kind="pdf")
    issued_on = issued_on or timezone.localdate() - dt.timedelta(days=30)
    if expires_on is not None and expires_on <= issued_on:
        issued_on = expires_on - dt.timedelta(days=365)
    return RegulatoryDocument.objects.create(
        doc_type=doc_type,
        product=product,
        lot=lot,
        issuer=issuer,
        reference=reference or f"{doc_type.upper()}-{RegulatoryDocument.objects.count() + 1:04d}",
        issued_on=issued_on,
        expires_on=expires_on,
        file_name=stored.name,
        file_kind=stored.kind,
        file_size=stored.size,
        sha256=stored.sha256,
    )


def clear_product(product: Product, *, approved_by=None) -> Product:
    """Classify the product as a class IIa device for every route, file its CE certificate and
    instructions for use, and approve it (what a manager does before first use)."""
    product.classification = Classification.DEVICE_IIA
    product.jurisdictions = ["EU", "UK"]
    product.intended_topical = product.intended_intradermal = product.intended_scalp = True
    product.approved_at = timezone.now()
    product.approved_by = approved_by
    product.save()
    add_document(
        doc_type=DocumentType.CE_CERTIFICATE,
        product=product,
        expires_on=timezone.localdate() + dt.timedelta(days=730),
    )
    add_document(doc_type=DocumentType.IFU, product=product)
    return product


def add_coa(lot) -> RegulatoryDocument:
    return add_document(doc_type=DocumentType.COA, lot=lot, issuer=lot.product.manufacturer)


def make_lot(
    *,
    unit: StorageUnit,
    product: Product | None = None,
    quantity: int = 10,
    expiry: dt.date | None = None,
    lot_number: str | None = None,
    actor=None,
    coa: bool = True,
    **kwargs,
):
    """A lot received through ``lot_receive`` (ledger and quantity agree from the start),
    with its certificate of analysis on file unless ``coa=False``."""
    product = product or ProductFactory()
    make_lot.counter += 1
    lot = lot_receive(
        actor=actor,
        product=product,
        lot_number=lot_number or f"L{make_lot.counter:05d}",
        expiry_date=expiry or timezone.localdate() + dt.timedelta(days=365),
        quantity=quantity,
        storage_unit=unit,
        **kwargs,
    )
    if coa:
        add_coa(lot)
    return lot


make_lot.counter = 0
