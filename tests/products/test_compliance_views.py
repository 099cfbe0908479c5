"""Compliance pages: the dashboard (every gap linked to its fix, fixed query count), the CSV
export, the product compliance page (classify, approve, revoke), roles, scope and methods; the
manager's dashboard panel; and the daily expiry sweep of regulatory documents."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from clinic.models import AuditEvent, Notification
from products.models import Classification, DocumentType, Product, RegulatoryDocument
from products.sweeps import regulatory_document_sweep
from tests.products.factories import ProductFactory, StorageUnitFactory, add_document, make_lot

pytestmark = pytest.mark.django_db
T = DocumentType
TODAY = timezone.localdate


def _gaps_world(unit, other_unit):
    """One product and lot in each gap state, plus an expiring certificate and calibration."""
    unknown = ProductFactory(name="Unknown Serum", cleared=False)
    waiting = ProductFactory(name="Waiting Gel")
    Product.objects.filter(pk=waiting.pk).update(approved_at=None)
    lapsing = ProductFactory(name="Lapsing Mist")
    RegulatoryDocument.objects.filter(product=lapsing, doc_type=T.CE_CERTIFICATE).update(
        expires_on=TODAY() + dt.timedelta(days=40)
    )
    no_ifu = ProductFactory(name="No IFU Ampoule")
    RegulatoryDocument.objects.filter(product=no_ifu, doc_type=T.IFU).delete()
    make_lot(unit=unit, product=unknown, lot_number="UNK-1")
    bare_lot = make_lot(unit=unit, lot_number="KV-123", coa=False)
    make_lot(unit=other_unit, lot_number="ELSEWHERE", coa=False)
    unit.calibration_expires_on = TODAY() + dt.timedelta(days=20)
    unit.save()
    return {
        "unknown": unknown,
        "waiting": waiting,
        "lapsing": lapsing,
        "no_ifu": no_ifu,
        "bare_lot": bare_lot,
    }


class TestDashboard:
    def test_every_gap_is_listed_with_where_it_is_fixed(self, client_for, manager, unit, other_unit):
        w = _gaps_world(unit, other_unit)
        page = client_for(manager).get("/products/compliance/").content.decode()
        assert "Unknown Serum&#x27;s classification is unknown" in page
        assert f"/products/catalogue/{w['unknown'].pk}/compliance/#classification" in page
        assert "Waiting Gel has not been approved for use by a manager." in page
        assert f"/products/catalogue/{w['waiting'].pk}/compliance/#approval" in page
        assert "No IFU Ampoule has no instructions for use on file." in page
        assert f"/products/catalogue/{w['no_ifu'].pk}/documents/new/?type=ifu" in page
        lapsing_ce = RegulatoryDocument.objects.get(product=w["lapsing"], doc_type=T.CE_CERTIFICATE)
        assert f"expires on {lapsing_ce.expires_on:%d %b %Y}" in page
        assert f"/products/documents/{lapsing_ce.pk}/renew/" in page
        assert "Lot KV-123 has no certificate of analysis on file." in page
        assert f"/products/lots/{w['bare_lot'].pk}/documents/new/?type=coa" in page
        assert "Calibration certificate expires on" in page
        assert f"/products/units/{unit.pk}/edit/" in page
        # Another location's lots are not this manager's to see.
        assert "ELSEWHERE" not in page

    def test_a_clinic_with_everything_cleared_shows_no_gaps(self, client_for, manager, lot):
        page = client_for(manager).get("/products/compliance/").content.decode()
        assert "No gaps: every product and lot in stock is cleared." in page

    def test_the_query_count_does_not_grow_with_data(
        self, client_for, manager, unit, other_unit, django_assert_num_queries
    ):
        c = client_for(manager)
        _gaps_world(unit, other_unit)
        c.get("/products/compliance/")
        with django_assert_num_queries(12, info="the gaps world"):
            assert c.get("/products/compliance/").status_code == 200
        for i in range(6):
            product = ProductFactory(cleared=bool(i % 2))
            make_lot(unit=unit, product=product, lot_number=f"G{i}", coa=bool(i % 3))
            add_document(doc_type=T.SDS, product=product, expires_on=TODAY() + dt.timedelta(days=10))
        StorageUnitFactory(location=unit.location, calibration_expires_on=TODAY())
        with django_assert_num_queries(12, info="six more products with lots and documents"):
            assert c.get("/products/compliance/").status_code == 200

    def test_the_csv_export_streams_products_lots_and_gaps(self, client_for, manager, unit, other_unit):
        w = _gaps_world(unit, other_unit)
        response = client_for(manager).get("/products/compliance/export.csv")
        assert response.status_code == 200 and response.streaming
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
        assert rows[0][:3] == ["Kind", "Name", "Location"]
        by_name = {(r[0], r[1]): r for r in rows[1:]}
        assert by_name[("product", "Unknown Serum")][5] == "not cleared"
        assert by_name[("lot", f"{w['bare_lot'].product.name} lot KV-123")][6] == (
            "Lot KV-123 has no certificate of analysis on file."
        )
        gap = by_name[("gap: lot", f"{w['bare_lot'].product.name} lot KV-123")]
        assert gap[7].endswith(f"/products/lots/{w['bare_lot'].pk}/documents/new/?type=coa")
        assert not any("ELSEWHERE" in r[1] for r in rows)

    @pytest.mark.parametrize("url", ["/products/compliance/", "/products/compliance/export.csv"])
    def test_only_managers_see_it(self, client, client_for, practitioner, front_desk, url):
        assert client.get(url).status_code == 302
        assert client_for(front_desk).get(url).status_code == 403
        assert client_for(practitioner).get(url).status_code == 403

    @pytest.mark.parametrize("url", ["/products/compliance/", "/products/compliance/export.csv"])
    def test_it_accepts_get_only(self, client_for, manager, url):
        assert client_for(manager).post(url).status_code == 405

    def test_the_manager_dashboard_panel_counts_gaps(self, client_for, manager, unit, other_unit):
        _gaps_world(unit, other_unit)
        page = client_for(manager).get("/").content.decode()
        assert "compliance gap" in page and "/products/compliance/" in page
        # The numbers themselves (the panel's context reaches the template as ``panel``):
        # six gaps, four of them blocking; three products and two lots in stock not cleared.
        assert "<strong>6</strong> compliance gaps, <strong>4</strong> blocking use." in page
        assert "Not cleared: 3 products, 2 lots in stock." in page

    def test_the_nav_shows_compliance_to_managers_only(self, client_for, manager, practitioner):
        assert 'href="/products/compliance/"' in client_for(manager).get("/").content.decode()
        assert 'href="/products/compliance/"' not in client_for(practitioner).get("/").content.decode()


class TestProductPage:
    def test_it_shows_classification_requirements_documents_and_history(self, client_for, manager, product):
        old = RegulatoryDocument.objects.get(product=product, doc_type=T.IFU)
        new = add_document(doc_type=T.IFU, product=product, reference="IFU-NEW")
        RegulatoryDocument.objects.filter(pk=old.pk).update(superseded_by=new, superseded_at=timezone.now())
        page = client_for(manager).get(f"/products/catalogue/{product.pk}/compliance/").content.decode()
        assert "Cleared for use" in page
        assert (
            "Ce certificate or EU/UK declaration of conformity" in page or "CE certificate or EU/UK" in page
        )
        assert new.sha256 in page and "IFU-NEW" in page
        assert f"Superseded {timezone.localdate():%-d %b %Y} by IFU-NEW" in page

    def test_the_query_count_does_not_grow_with_documents(
        self, client_for, manager, product, unit, django_assert_num_queries
    ):
        c = client_for(manager)
        url = f"/products/catalogue/{product.pk}/compliance/"
        c.get(url)
        with django_assert_num_queries(8, info="no documents"):
            c.get(url)
        for i in range(5):
            add_document(doc_type=T.SDS, product=product, reference=f"S{i}")
            make_lot(unit=unit, product=product, lot_number=f"PL{i}", coa=bool(i % 2))
        with django_assert_num_queries(8, info="five documents and five lots"):
            assert c.get(url).status_code == 200

    def test_classifying_revokes_the_approval_and_says_so(self, client_for, manager, product):
        response = client_for(manager).post(
            f"/products/catalogue/{product.pk}/classification/",
            {"cls-classification": "device_iii", "cls-jurisdictions": ["UK"], "cls-intended_topical": "on"},
        )
        assert response.status_code == 302
        product.refresh_from_db()
        assert product.classification == Classification.DEVICE_III and product.jurisdictions == ["UK"]
        assert product.approved_at is None
        assert not product.intended_intradermal

    def test_a_cosmetic_for_injection_is_refused_on_the_form(self, client_for, manager, product):
        response = client_for(manager).post(
            f"/products/catalogue/{product.pk}/classification/",
            {"cls-classification": "cosmetic", "cls-intended_intradermal": "on"},
        )
        assert response.status_code == 400
        assert "topical use only" in response.content.decode()
        product.refresh_from_db()
        assert product.classification == Classification.DEVICE_IIA and product.approved_at is not None

    def test_approve_and_revoke(self, client_for, manager, product):
        c = client_for(manager)
        refused = c.post(f"/products/catalogue/{product.pk}/revoke/", {"reason": ""})
        assert refused.status_code == 400
        assert (
            c.post(f"/products/catalogue/{product.pk}/revoke/", {"reason": "Warning letter"}).status_code
            == 302
        )
        product.refresh_from_db()
        assert product.approved_at is None
        assert c.post(f"/products/catalogue/{product.pk}/approve/").status_code == 302
        product.refresh_from_db()
        assert product.approved_by == manager
        assert (
            AuditEvent.objects.filter(action__in=["product.approve", "product.approval_revoke"]).count() == 2
        )

    def test_approving_without_the_documents_explains_what_is_missing(self, client_for, manager):
        product = ProductFactory(name="Kimeravive", cleared=False, classification=Classification.ATMP)
        response = client_for(manager).post(f"/products/catalogue/{product.pk}/approve/", follow=True)
        assert "Kimeravive has no ATMP authorisation on file." in response.content.decode()
        product.refresh_from_db()
        assert product.approved_at is None

    @pytest.mark.parametrize("action", ["classification", "approve", "revoke"])
    def test_weaker_roles_cannot_change_clearance(
        self, client, client_for, practitioner, front_desk, product, action
    ):
        url = f"/products/catalogue/{product.pk}/{action}/"
        assert client.post(url).status_code == 302
        assert client_for(practitioner).post(url).status_code == 403
        assert client_for(front_desk).post(url).status_code == 403
        product.refresh_from_db()
        assert product.approved_at is not None

    @pytest.mark.parametrize("action", ["classification", "approve", "revoke"])
    def test_changes_are_post_only(self, client_for, manager, product, action):
        assert client_for(manager).get(f"/products/catalogue/{product.pk}/{action}/").status_code == 405

    def test_the_page_is_for_managers(self, client_for, practitioner, front_desk, product):
        url = f"/products/catalogue/{product.pk}/compliance/"
        assert client_for(practitioner).get(url).status_code == 403
        assert client_for(front_desk).get(url).status_code == 403

    def test_lots_of_other_locations_are_not_listed(self, client_for, manager, product, other_unit):
        make_lot(unit=other_unit, product=product, lot_number="FAR-1")
        page = client_for(manager).get(f"/products/catalogue/{product.pk}/compliance/").content.decode()
        assert "FAR-1" not in page


class TestLabelsOnStockLists:
    def test_the_lot_list_labels_uncleared_lots(self, client_for, manager, unit):
        make_lot(unit=unit, lot_number="OK-1")
        make_lot(unit=unit, lot_number="KV-123", coa=False)
        page = client_for(manager).get("/products/lots/").content.decode()
        rows = {line for line in page.split("<tr>") if "OK-1" in line or "KV-123" in line}
        assert any("KV-123" in r and "Not cleared" in r for r in rows)
        assert not any("OK-1" in r and "Not cleared" in r for r in rows)

    def test_the_lot_page_offers_no_vial_for_an_uncleared_lot(self, client_for, practitioner, unit):
        lot = make_lot(unit=unit, lot_number="KV-123", coa=False)
        page = client_for(practitioner).get(f"/products/lots/{lot.pk}/").content.decode()
        assert "Open a vial" not in page
        assert "Lot KV-123 has no certificate of analysis on file." in page

    def test_opening_a_vial_of_an_uncleared_lot_from_the_page_is_refused(
        self, client_for, practitioner, unit
    ):
        lot = make_lot(unit=unit, lot_number="KV-123", coa=False)
        response = client_for(practitioner).post(f"/products/lots/{lot.pk}/open-vial/", follow=True)
        assert "Lot KV-123 has no certificate of analysis on file." in response.content.decode()
        assert not lot.opened_vials.exists()


class TestExpirySweep:
    def test_documents_reaching_60_and_30_days_alert_managers_once(
        self, manager, other_manager, lot, other_lot
    ):
        product_ce = RegulatoryDocument.objects.get(product=lot.product, doc_type=T.CE_CERTIFICATE)
        RegulatoryDocument.objects.filter(pk=product_ce.pk).update(expires_on=TODAY() + dt.timedelta(days=50))
        coa = RegulatoryDocument.objects.get(lot=other_lot)
        RegulatoryDocument.objects.filter(pk=coa.pk).update(expires_on=TODAY() + dt.timedelta(days=20))
        assert regulatory_document_sweep() > 0
        mine = Notification.objects.filter(recipient_user=manager, kind="document.expiry")
        theirs = Notification.objects.filter(recipient_user=other_manager, kind="document.expiry")
        assert mine.exists() and theirs.exists()
        assert all(lot.product.name in n.body for n in mine)
        assert any(other_lot.lot_number in n.body for n in theirs)
        assert not any(other_lot.lot_number in n.body for n in mine)
        count = Notification.objects.count()
        assert regulatory_document_sweep() == 0
        assert Notification.objects.count() == count

    def test_a_superseded_document_is_not_alerted(self, manager, lot):
        ce = RegulatoryDocument.objects.get(product=lot.product, doc_type=T.CE_CERTIFICATE)
        renewal = add_document(
            doc_type=T.CE_CERTIFICATE, product=lot.product, expires_on=TODAY() + dt.timedelta(days=900)
        )
        RegulatoryDocument.objects.filter(pk=ce.pk).update(
            expires_on=TODAY() + dt.timedelta(days=10), superseded_by=renewal
        )
        assert regulatory_document_sweep() == 0


@pytest.mark.django_db(transaction=True)
def test_the_demo_has_every_clearance_state_with_real_files_and_is_idempotent():
    from django.core.files.storage import storages
    from django.core.management import call_command

    from products.compliance import lot_clearance_problems
    from products.models import Lot

    call_command("seed_demo", stdout=io.StringIO())
    assert set(Product.objects.values_list("classification", flat=True)) >= {
        "unknown", "cosmetic", "atmp", "investigational", "device_i", "device_iia", "device_iib", "device_iii"
    }  # fmt: skip
    problems = " ".join(
        p for lot in Lot.objects.select_related("product") for p in lot_clearance_problems(lot)
    )
    assert "Lot PLX-904 has no certificate of analysis on file." in problems
    assert "Exo Hybrid Mist has no unexpired CE certificate" in problems
    assert "Secretome Recovery Gel has not been approved" in problems
    assert RegulatoryDocument.objects.filter(superseded_by__isnull=False).exists()
    assert {d.file_kind for d in RegulatoryDocument.objects.all()} == {"pdf", "png"}
    doc = RegulatoryDocument.objects.first()
    with storages["private"].open(doc.file_name, "rb") as f:
        assert f.read(5) == b"%PDF-" or doc.file_kind == "png"
    before = (RegulatoryDocument.objects.count(), list(Product.objects.values_list("pk", "approved_at")))
    call_command("seed_demo", stdout=io.StringIO())
    assert (
        RegulatoryDocument.objects.count(),
        list(Product.objects.values_list("pk", "approved_at")),
    ) == before
