"""A manager closes compliance gaps from the compliance page: uploads the missing instructions
for use and approves the product, then a lot's certificate of analysis; the pages are accessible.
(That an uncleared lot cannot be charted is proven by the service tests.)"""

from __future__ import annotations

import hashlib

import pytest

from products.demo import demo_pdf
from products.models import Classification, DocumentType, RegulatoryDocument
from tests.browser.conftest import assert_accessible, nav_to, sign_in
from tests.products.factories import ProductFactory, StorageUnitFactory, add_document, make_lot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def gaps(location, manager):
    product = ProductFactory(
        name="Kimeravive Exosome Serum",
        cleared=False,
        classification=Classification.DEVICE_IIA,
        jurisdictions=["UK"],
        intended_topical=True,
        intended_intradermal=True,
    )
    add_document(doc_type=DocumentType.CE_CERTIFICATE, product=product, reference="CE-KV-1")
    unit = StorageUnitFactory(location=location, name="Pharmacy fridge")
    lot = make_lot(unit=unit, product=product, lot_number="KV-123", coa=False)
    return {"product": product, "lot": lot}


def _gap_rows(page):
    """Gaps of products and storage units (the lots' own gaps are listed with the lots)."""
    return page.locator("#gaps tbody tr")


def _lot_rows(page):
    return page.locator("#lots tbody tr")


def test_a_manager_uploads_the_missing_documents_and_sees_the_gaps_close(page, manager, gaps, tmp_path):
    sign_in(page, manager.username)
    nav_to(page, "Stock", "Compliance")
    page.wait_for_url("**/products/compliance/")
    assert_accessible(page)
    ifu_gap = _gap_rows(page).filter(has_text="Kimeravive Exosome Serum has no instructions for use on file.")
    assert ifu_gap.count() == 1
    assert _lot_rows(page).filter(has_text="Lot KV-123 has no certificate of analysis on file.").count() == 1

    # The gap's link opens the upload form with the missing type already chosen.
    ifu_gap.get_by_role("link", name="Upload").click()
    assert page.get_by_label("Type").input_value() == DocumentType.IFU
    assert_accessible(page)
    data = demo_pdf("Kimeravive instructions for use")
    leaflet = tmp_path / "ifu.pdf"
    leaflet.write_bytes(data)
    page.get_by_label("Issuer").fill("Kimeravive")
    page.get_by_label("Reference number").fill("IFU-2026-01")
    page.get_by_label("Issue date").fill("2026-01-15")
    page.get_by_label("File").set_input_files(str(leaflet))
    page.get_by_role("button", name="Upload").click()

    # Back on the product's compliance page: the document, its SHA-256, and approval now possible.
    page.wait_for_selector("text=IFU-2026-01")
    assert hashlib.sha256(data).hexdigest() in page.content()
    assert "has no instructions for use on file" not in page.locator("#clearance-problems").inner_text()
    assert_accessible(page)
    page.get_by_role("button", name="Approve for use").click()
    page.wait_for_selector("text=approved for use.")

    nav_to(page, "Stock", "Compliance")
    assert _gap_rows(page).filter(has_text="instructions for use").count() == 0
    assert _gap_rows(page).filter(has_text="not been approved").count() == 0
    coa_gap = _lot_rows(page).filter(has_text="Lot KV-123 has no certificate of analysis on file.")
    coa_gap.get_by_role("link", name="Upload").click()
    assert page.get_by_label("Type").input_value() == DocumentType.COA
    page.get_by_label("Issuer").fill("Kimeravive")
    page.get_by_label("Reference number").fill("COA-KV-123")
    page.get_by_label("Issue date").fill("2026-02-01")
    page.get_by_label("File").set_input_files(str(leaflet))
    page.get_by_role("button", name="Upload").click()

    # The lot page now shows its certificate and offers a vial again.
    page.wait_for_selector("text=COA-KV-123")
    assert page.locator("#clearance-problems").count() == 0
    assert page.get_by_role("button", name="Open a vial (opened)").count() == 1
    nav_to(page, "Stock", "Compliance")
    assert (
        page.locator("#gaps").get_by_text("No gaps: every product and lot in stock is cleared.").count() == 1
    )
    assert RegulatoryDocument.objects.filter(reference__in=["IFU-2026-01", "COA-KV-123"]).count() == 2
    assert page.console_errors == []


def test_a_refused_file_is_explained_on_the_form(page, manager, gaps, tmp_path):
    sign_in(page, manager.username)
    page.goto(f"/products/catalogue/{gaps['product'].pk}/documents/new/?type=ifu")
    fake = tmp_path / "ifu.pdf"
    fake.write_text("<html><body>not a pdf</body></html>")
    page.get_by_label("Issuer").fill("Kimeravive")
    page.get_by_label("Reference number").fill("IFU-FAKE")
    page.get_by_label("Issue date").fill("2026-01-15")
    page.get_by_label("File").set_input_files(str(fake))
    page.get_by_role("button", name="Upload").click()
    page.wait_for_selector("text=checked by its content")
    assert not RegulatoryDocument.objects.filter(reference="IFU-FAKE").exists()
