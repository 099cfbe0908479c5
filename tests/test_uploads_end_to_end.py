"""Hostile files sent through the real forms (issue 17, item 5), end to end.

The services' own tests (``tests/clinic/test_files.py``, ``test_pdfs.py``) prove the checks; these
prove the pages use them: a regulatory document or a consent signature that is refused shows the
reason on the form and leaves no row and no file behind; one that is accepted is stored cleaned,
and both are served back with the private headers (no-store, nosniff, a sandboxing CSP).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from clinic.models import AuditEvent
from products.models import RegulatoryDocument
from tests import hostile
from tests.products.factories import ProductFactory
from tests.treatments.factories import PatientFactory, consent_template
from treatments.models import PatientConsent

pytestmark = pytest.mark.django_db

PRIVATE_HEADERS = {
    "Cache-Control": "private, no-store",
    "X-Content-Type-Options": "nosniff",
}


@pytest.fixture
def product(db):
    return ProductFactory(name="Benev Exosome Regenerative Complex")


def stored_files(root) -> list:
    return sorted(p for p in root.rglob("*") if p.is_file())


def assert_private_headers(response) -> None:
    for header, value in PRIVATE_HEADERS.items():
        assert response[header] == value, header
    csp = response["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp


def _document_post(client, product, name: str, data: bytes, reference: str):
    return client.post(
        f"/products/catalogue/{product.pk}/documents/new/",
        {
            "doc_type": "sds",
            "issuer": "Kimeravive",
            "reference": reference,
            "issued_on": (timezone.localdate() - dt.timedelta(days=2)).isoformat(),
            "file": SimpleUploadedFile(name, data),
        },
    )


class TestRegulatoryDocumentPage:
    @pytest.mark.parametrize(
        "name, data, reason",
        [
            ("sds.pdf", hostile.HTML_BETWEEN_MARKERS, "web-page code"),
            ("sds.pdf", hostile.pdf_with_javascript_open_action(), "JavaScript"),
            ("sds.pdf", hostile.pdf_with_launch(), "starts a program"),
            ("sds.pdf", hostile.pdf_with_embedded_file(), "embedded file"),
            ("sds.pdf", hostile.encrypted_pdf(), "password-protected"),
        ],
        ids=["html-between-markers", "javascript", "launch", "embedded-file", "encrypted"],
    )
    def test_a_refused_pdf_shows_why_and_leaves_no_row_and_no_file(
        self, client_for, manager, product, _private_media, name, data, reason
    ):
        files_before = stored_files(_private_media)
        rows_before = RegulatoryDocument.objects.count()
        response = _document_post(client_for(manager), product, name, data, "SDS-HOSTILE")
        assert response.status_code == 200
        page = response.content.decode()
        assert reason.lower() in page.lower(), page[page.find("invalid-feedback") - 200 :][:600]
        assert RegulatoryDocument.objects.count() == rows_before
        assert not RegulatoryDocument.objects.filter(reference="SDS-HOSTILE").exists()
        assert stored_files(_private_media) == files_before
        assert not AuditEvent.objects.filter(action="document.upload").exists()

    def test_a_hostile_jpeg_is_stored_cleaned_and_served_with_private_headers(
        self, client_for, manager, product
    ):
        c = client_for(manager)
        response = _document_post(c, product, "sds.jpg", hostile.hostile_jpeg(), "SDS-SCAN")
        assert response.status_code == 302, response.content.decode()[:2000]
        doc = RegulatoryDocument.objects.get(reference="SDS-SCAN")
        with storages["private"].open(doc.file_name, "rb") as stored:
            kept = stored.read()
        hostile.assert_clean_image(kept)
        download = c.get(f"/products/documents/{doc.pk}/file/")
        assert download.status_code == 200
        assert_private_headers(download)
        assert download["Content-Disposition"].startswith("attachment;")
        served = b"".join(download.streaming_content)
        assert served == kept
        hostile.assert_clean_image(served)

    def test_a_real_pdf_is_accepted_and_downloaded_with_private_headers(self, client_for, manager, product):
        c = client_for(manager)
        data = hostile.pdf_with_text("Safety data sheet")
        assert _document_post(c, product, "sds.pdf", data, "SDS-PDF").status_code == 302
        doc = RegulatoryDocument.objects.get(reference="SDS-PDF")
        download = c.get(f"/products/documents/{doc.pk}/file/")
        assert_private_headers(download)
        assert download["Content-Type"] == "application/pdf"
        assert b"".join(download.streaming_content).startswith(b"%PDF-")


@pytest.fixture
def signing(location, practitioner):
    patient = PatientFactory(location=location, first_name="Ada", last_name="Lane")
    template = consent_template()
    url = reverse("treatments:consent_sign", args=[patient.pk]) + f"?template={template.pk}"
    return patient, url


def _sign(client, url, signature: str):
    return client.post(
        url,
        {"typed_name": "Ada Lane", "has_read": "on", "scope_treatment": "on", "signature": signature},
    )


class TestConsentSignature:
    @pytest.mark.parametrize(
        "signature",
        [
            hostile.data_url(hostile.hostile_jpeg()),  # a JPEG is not what the pad draws
            "data:image/png;base64," + "A" * 64,  # not an image at all
            "data:image/png;base64,@@@not-base64@@@",
            "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
            hostile.data_url(hostile.HTML_BETWEEN_MARKERS),
        ],
        ids=["jpeg", "garbage", "not-base64", "html", "pdf-markers"],
    )
    def test_a_refused_signature_shows_the_error_and_writes_nothing(
        self, client_for, practitioner, signing, _private_media, signature
    ):
        patient, url = signing
        files_before = stored_files(_private_media)
        response = _sign(client_for(practitioner), url, signature)
        assert response.status_code == 200
        assert 'id="signature-error"' in response.content.decode()
        assert not PatientConsent.objects.filter(patient=patient).exists()
        assert stored_files(_private_media) == files_before
        assert not AuditEvent.objects.filter(action="consent.sign").exists()

    def test_a_hostile_png_is_stored_as_a_fresh_png_and_served_with_private_headers(
        self, client_for, practitioner, signing
    ):
        patient, url = signing
        c = client_for(practitioner)
        response = _sign(c, url, hostile.data_url(hostile.hostile_signature_png()))
        assert response.status_code == 302
        consent = PatientConsent.objects.get(patient=patient)
        with storages["private"].open(consent.signature_name, "rb") as stored:
            kept = stored.read()
        hostile.assert_clean_image(kept)
        download = c.get(reverse("treatments:consent_signature", args=[consent.pk]))
        assert download.status_code == 200
        assert_private_headers(download)
        assert download["Content-Type"] == "image/png"
        served = b"".join(download.streaming_content)
        assert served == kept
        hostile.assert_clean_image(served)
