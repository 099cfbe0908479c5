"""Regulatory documents: checked by content, stored privately under server-chosen names with
their SHA-256, renewed without losing the old one, and served only to the roles and locations
allowed, as an audited no-store attachment."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from clinic.models import AuditEvent
from products.demo import demo_pdf, demo_png
from products.models import DocumentType, RegulatoryDocument
from products.services import document_renew, document_upload
from tests.products.factories import MINIMAL_PDF, add_coa

pytestmark = pytest.mark.django_db
T = DocumentType
TODAY = timezone.localdate


def _pdf(name="certificate.pdf", data=None):
    return SimpleUploadedFile(name, data or demo_pdf("CE certificate"), content_type="application/pdf")


def _upload(actor, product=None, lot=None, doc_type=T.IFU, upload=None, **kwargs):
    fields = {
        "issuer": "BSI Group",
        "reference": "IFU-7",
        "issued_on": TODAY() - dt.timedelta(days=10),
        **kwargs,
    }
    return document_upload(
        actor=actor, doc_type=doc_type, product=product, lot=lot, upload=upload or _pdf(), **fields
    )


class TestUpload:
    def test_it_stores_the_file_privately_under_a_server_chosen_name_with_its_sha256(self, manager, product):
        data = demo_pdf("Kimeravive instructions for use")
        doc = _upload(manager, product, upload=_pdf("../../etc/passwd.pdf", data))
        assert doc.sha256 == hashlib.sha256(data).hexdigest()
        assert doc.file_name.startswith("documents/") and doc.file_name.endswith(".pdf")
        assert "passwd" not in doc.file_name
        with storages["private"].open(doc.file_name, "rb") as stored:
            assert stored.read() == data
        assert doc.uploaded_by == manager and doc.file_kind == "pdf" and doc.file_size == len(data)
        event = AuditEvent.objects.get(action="document.upload")
        assert event.after["sha256"] == doc.sha256

    def test_a_png_and_a_jpeg_are_accepted(self, manager, product):
        assert (
            _upload(manager, product, upload=SimpleUploadedFile("leaflet.png", demo_png("IFU"))).file_kind
            == "png"
        )
        buffer = io.BytesIO()
        Image.new("RGB", (20, 20), "white").save(buffer, format="JPEG")
        jpeg = SimpleUploadedFile("scan.jpg", buffer.getvalue())
        assert _upload(manager, product, upload=jpeg, reference="J1").file_kind == "jpeg"

    def test_html_named_pdf_is_refused_by_its_content(self, manager, product):
        fake = SimpleUploadedFile("certificate.pdf", b"<html><script>alert(1)</script></html>")
        with pytest.raises(ValidationError, match="checked by its content"):
            _upload(manager, product, upload=fake)
        assert not RegulatoryDocument.objects.filter(reference="IFU-7").exists()

    def test_a_file_over_20_mb_is_refused(self, manager, product):
        big = SimpleUploadedFile("big.pdf", b"%PDF-1.4\n" + b"0" * (20 * 1024 * 1024) + b"%%EOF\n")
        with pytest.raises(ValidationError, match="larger than 20 MB"):
            _upload(manager, product, upload=big)

    def test_a_certificate_of_analysis_must_go_on_a_lot(self, manager, product, lot):
        with pytest.raises(ValidationError, match="belongs to a lot"):
            _upload(manager, product, doc_type=T.COA)
        doc = _upload(manager, lot=lot, doc_type=T.COA, reference="COA-A100")
        assert doc.lot == lot and doc.product is None

    def test_expiry_must_follow_issue(self, manager, product):
        with pytest.raises(ValidationError, match="after the issue date"):
            _upload(manager, product, expires_on=TODAY() - dt.timedelta(days=20))


class TestRenewal:
    def test_a_renewal_supersedes_the_old_document_which_stays_on_file(self, manager, product):
        old = _upload(manager, product, doc_type=T.CE_CERTIFICATE, reference="CE-1",
                      expires_on=TODAY() + dt.timedelta(days=20))  # fmt: skip
        new = document_renew(
            actor=manager, document=old, issuer="BSI Group", reference="CE-2", issued_on=TODAY(),
            expires_on=TODAY() + dt.timedelta(days=1000), upload=_pdf(data=demo_pdf("CE 2")),
        )  # fmt: skip
        old.refresh_from_db()
        assert old.superseded_by == new and old.superseded_at is not None
        assert new.doc_type == T.CE_CERTIFICATE and new.product == product
        mine = RegulatoryDocument.objects.filter(reference__in=["CE-1", "CE-2"])
        assert set(mine) == {old, new}
        assert list(mine.current()) == [new]
        assert storages["private"].exists(old.file_name)
        assert AuditEvent.objects.filter(action="document.renew").count() == 1
        assert AuditEvent.objects.filter(action="document.supersede", object_id=str(old.pk)).count() == 1

    def test_a_superseded_document_cannot_be_renewed_twice(self, manager, product):
        old = _upload(manager, product, reference="IFU-1")
        document_renew(
            actor=manager, document=old, issuer="x", reference="IFU-2", issued_on=TODAY(), upload=_pdf()
        )
        with pytest.raises(ValidationError, match="already been renewed"):
            document_renew(
                actor=manager, document=old, issuer="x", reference="IFU-3", issued_on=TODAY(), upload=_pdf()
            )


@pytest.fixture
def docs(product, lot, other_lot):
    from tests.products.factories import add_document

    return {
        "product": add_document(doc_type=T.IFU, product=product),
        "lot": RegulatoryDocument.objects.get(lot=lot, doc_type=T.COA),
        "other_lot": RegulatoryDocument.objects.get(lot=other_lot, doc_type=T.COA),
    }


class TestDownload:
    def test_anonymous_users_are_sent_to_sign_in(self, client, docs):
        response = client.get(f"/products/documents/{docs['product'].pk}/file/")
        assert response.status_code == 302 and "/login" in response["Location"]

    def test_the_front_desk_is_refused(self, client_for, front_desk, docs):
        for doc in (docs["product"], docs["lot"]):
            assert client_for(front_desk).get(f"/products/documents/{doc.pk}/file/").status_code == 403
        assert not AuditEvent.objects.filter(action="document.download").exists()

    def test_another_locations_lot_document_is_not_found(self, client_for, manager, practitioner, docs):
        for user in (manager, practitioner):
            assert (
                client_for(user).get(f"/products/documents/{docs['other_lot'].pk}/file/").status_code == 404
            )

    def test_a_manager_gets_an_audited_no_store_attachment(self, client_for, manager, docs):
        for doc in (docs["product"], docs["lot"]):
            response = client_for(manager).get(f"/products/documents/{doc.pk}/file/")
            assert response.status_code == 200
            assert response["Cache-Control"] == "private, no-store"
            assert response["Content-Disposition"].startswith("attachment;")
            assert response["Content-Type"] == "application/pdf"
            assert b"".join(response.streaming_content) == MINIMAL_PDF
        events = AuditEvent.objects.filter(action="document.download").order_by("pk")
        assert [e.object_id for e in events] == [str(docs["product"].pk), str(docs["lot"].pk)]
        assert events[1].location == docs["lot"].lot.storage_unit.location
        assert events[0].actor == manager

    def test_a_practitioner_may_read_but_not_upload(self, client_for, practitioner, product, lot, docs):
        c = client_for(practitioner)
        assert c.get(f"/products/documents/{docs['product'].pk}/file/").status_code == 200
        assert c.get(f"/products/catalogue/{product.pk}/documents/new/").status_code == 403
        assert c.get(f"/products/lots/{lot.pk}/documents/new/").status_code == 403
        assert c.get(f"/products/documents/{docs['product'].pk}/renew/").status_code == 403

    def test_it_accepts_get_only(self, client_for, manager, docs):
        assert client_for(manager).post(f"/products/documents/{docs['product'].pk}/file/").status_code == 405


class TestUploadPages:
    def test_the_upload_form_is_prefilled_with_the_missing_type(self, client_for, manager, product):
        page = (
            client_for(manager)
            .get(f"/products/catalogue/{product.pk}/documents/new/?type=sds")
            .content.decode()
        )
        assert '<option value="sds" selected>' in page
        assert 'value="coa"' not in page  # a certificate of analysis is uploaded from a lot

    def test_a_manager_uploads_a_certificate_of_analysis_from_the_lot_page(self, client_for, manager, unit):
        from tests.products.factories import make_lot

        lot = make_lot(unit=unit, lot_number="KV-123", coa=False)
        c = client_for(manager)
        page = c.get(f"/products/lots/{lot.pk}/").content.decode()
        assert "Lot KV-123 has no certificate of analysis on file." in page
        assert f"/products/lots/{lot.pk}/documents/new/?type=coa" in page
        data = demo_pdf("COA KV-123")
        response = c.post(
            f"/products/lots/{lot.pk}/documents/new/?type=coa",
            {"doc_type": "coa", "issuer": "Kimeravive", "reference": "COA-KV-123",
             "issued_on": (TODAY() - dt.timedelta(days=3)).isoformat(), "file": _pdf("coa.pdf", data)},
        )  # fmt: skip
        assert response.status_code == 302 and response["Location"] == f"/products/lots/{lot.pk}/"
        page = c.get(f"/products/lots/{lot.pk}/").content.decode()
        assert "has no certificate of analysis" not in page
        assert hashlib.sha256(data).hexdigest() in page

    def test_a_refused_file_shows_the_reason_on_the_form(self, client_for, manager, product):
        response = client_for(manager).post(
            f"/products/catalogue/{product.pk}/documents/new/",
            {"doc_type": "sds", "issuer": "x", "reference": "SDS-1", "issued_on": TODAY().isoformat(),
             "file": SimpleUploadedFile("sds.pdf", b"<html></html>")},
        )  # fmt: skip
        assert response.status_code == 200
        assert "checked by its content" in response.content.decode()
        assert not RegulatoryDocument.objects.filter(reference="SDS-1").exists()

    def test_renewing_from_the_page_keeps_the_type_and_supersedes(self, client_for, manager, product):
        old = RegulatoryDocument.objects.get(product=product, doc_type=T.CE_CERTIFICATE)
        response = client_for(manager).post(
            f"/products/documents/{old.pk}/renew/",
            {"doc_type": "other", "issuer": "BSI", "reference": "CE-NEW", "issued_on": TODAY().isoformat(),
             "expires_on": (TODAY() + dt.timedelta(days=900)).isoformat(), "file": _pdf()},
        )  # fmt: skip
        assert response.status_code == 302
        new = RegulatoryDocument.objects.get(reference="CE-NEW")
        assert new.doc_type == T.CE_CERTIFICATE
        old.refresh_from_db()
        assert old.superseded_by == new

    def test_another_locations_lot_cannot_get_a_document(self, client_for, manager, other_lot):
        assert client_for(manager).get(f"/products/lots/{other_lot.pk}/documents/new/").status_code == 404
        coa = RegulatoryDocument.objects.get(lot=other_lot)
        assert client_for(manager).get(f"/products/documents/{coa.pk}/renew/").status_code == 404

    def test_anonymous_and_front_desk_cannot_upload(self, client, client_for, front_desk, product, lot):
        url = f"/products/catalogue/{product.pk}/documents/new/"
        assert client.get(url).status_code == 302
        assert client_for(front_desk).get(url).status_code == 403
        assert client_for(front_desk).get(f"/products/lots/{lot.pk}/documents/new/").status_code == 403


def test_add_coa_helper_files_a_certificate_the_gate_accepts(lot):
    add_coa(lot)
    assert lot.documents.filter(doc_type=T.COA).count() == 2
