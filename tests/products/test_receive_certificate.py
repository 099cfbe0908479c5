"""Documents at receipt (issue 19, item 4): the certificate of analysis handed in with the
delivery is filed as the lot is received, with the compliance upload's checks, so the lot is
cleared (and chartable) at once; a refused certificate or receipt writes neither."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from clinic.models import AuditEvent
from products.demo import demo_pdf
from products.models import DocumentType, Lot, RegulatoryDocument
from tests import hostile
from tests.products.factories import ProductFactory, make_lot
from tests.treatments.factories import clear_for_use
from treatments.record_forms import lot_offers

pytestmark = pytest.mark.django_db
URL = "/products/lots/receive/"


@pytest.fixture
def cleared_product(unit):
    """A product cleared for use (its documents and approval), with one lot already received."""
    product = ProductFactory(name="Kimeravive", route_topical=True, route_intradermal=True)
    clear_for_use(make_lot(unit=unit, product=product, lot_number="FIRST"))
    return product


def stored(root) -> set:
    return {p for p in root.rglob("*") if p.is_file()}


def post(client, unit, product, *, number="KV-NEW", coa=None, **coa_fields):
    data = {
        "lot_number": number,
        "product": product.pk,
        "expiry_date": (timezone.localdate() + dt.timedelta(days=400)).isoformat(),
        "quantity": "12",
        "storage_unit": unit.pk,
        "packaging_intact": "on",
        "logger_ok": "true",
    }
    if coa is not None:
        data["coa-file"] = SimpleUploadedFile("coa.pdf", coa)
    data.update({f"coa-{k}": v for k, v in coa_fields.items()})
    return client.post(URL, data)


def issued() -> str:
    return (timezone.localdate() - dt.timedelta(days=5)).isoformat()


def test_a_delivery_with_its_certificate_is_cleared_and_chartable_at_once(
    client_for, manager, practitioner, unit, location, cleared_product
):
    response = post(
        client_for(manager), unit, cleared_product, coa=demo_pdf("COA KV-NEW"),
        reference="COA-KV-NEW", issued_on=issued(),
    )  # fmt: skip
    lot = Lot.objects.get(lot_number="KV-NEW")
    assert response.status_code == 302 and response["Location"] == f"/products/lots/{lot.pk}/"
    doc = RegulatoryDocument.objects.get(lot=lot)
    assert doc.doc_type == DocumentType.COA and doc.reference == "COA-KV-NEW"
    assert doc.issuer == cleared_product.manufacturer  # left empty: the manufacturer
    assert Lot.objects.usable().filter(pk=lot.pk).exists()
    offered, _ = lot_offers(practitioner, location)
    assert lot in [o.lot for o in offered]
    assert AuditEvent.objects.filter(action="lot.receive", object_id=str(lot.pk)).exists()
    assert AuditEvent.objects.filter(action="document.upload", object_id=str(doc.pk)).exists()
    page = client_for(manager).get(f"/products/lots/{lot.pk}/").content.decode()
    assert "and its certificate of analysis filed" in page and 'id="clearance-problems"' not in page


def test_without_a_certificate_the_lot_is_received_and_not_cleared(
    client_for, manager, unit, cleared_product
):
    assert post(client_for(manager), unit, cleared_product).status_code == 302
    lot = Lot.objects.get(lot_number="KV-NEW")
    assert not RegulatoryDocument.objects.filter(lot=lot).exists()
    assert not Lot.objects.usable().filter(pk=lot.pk).exists()


@pytest.mark.parametrize(
    "coa, fields, error",
    [
        (hostile.pdf_with_javascript_open_action(), {"reference": "C-1"}, "JavaScript"),
        (hostile.HTML_BETWEEN_MARKERS, {"reference": "C-1"}, "web-page code"),
        (b"%PDF-1.7 not really", {"reference": "C-1"}, ""),
        (None, {"reference": "C-1"}, "Attach the certificate file"),
        (demo_pdf("COA"), {"reference": ""}, "reference number"),
        (demo_pdf("COA"), {"reference": "C-1", "issued_on": ""}, "date the certificate was issued"),
        (demo_pdf("COA"), {"reference": "C-1", "expires_on": "2000-01-01"}, "after the issue date"),
    ],
    ids=["javascript", "html", "broken", "no-file", "no-reference", "no-date", "expiry-before-issue"],
)
def test_a_refused_certificate_receives_nothing_and_stores_nothing(
    client_for, manager, unit, cleared_product, _private_media, coa, fields, error
):
    files = stored(_private_media)
    last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    fields.setdefault("issued_on", issued())
    response = post(client_for(manager), unit, cleared_product, coa=coa, **fields)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Lot.objects.filter(lot_number="KV-NEW").exists()
    assert stored(_private_media) == files
    assert not AuditEvent.objects.filter(pk__gt=last, action__in=["lot.receive", "document.upload"]).exists()


def test_a_refused_receipt_files_no_certificate(client_for, manager, unit, cleared_product, _private_media):
    docs = RegulatoryDocument.objects.count()
    files = stored(_private_media)
    response = post(
        client_for(manager), unit, cleared_product, number="FIRST", coa=demo_pdf("COA"),
        reference="COA-DUP", issued_on=issued(),
    )  # fmt: skip
    assert response.status_code == 200 and "is already in" in response.content.decode()
    assert RegulatoryDocument.objects.count() == docs
    assert stored(_private_media) == files


def test_the_certificate_fields_are_offered_to_whoever_may_file_documents(client_for, manager):
    page = client_for(manager).get(URL).content.decode()
    assert 'id="receive-certificate"' in page and 'name="coa-file"' in page
    assert 'enctype="multipart/form-data"' in page
