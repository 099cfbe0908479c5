"""The clearance gate: the rules table per classification, expiry, approval, the certificate of
analysis per lot, the route rule, and the gate enforced inside stock_use and vial_open."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.models import AuditEvent
from products.compliance import lot_clearance_problems, prefetch_clearance, product_route_problems
from products.models import Classification, DocumentType, Lot, Product, RegulatoryDocument
from products.models.compliance import RULES
from products.services import (
    product_approve,
    product_classify,
    product_revoke_approval,
    stock_use,
    vial_open,
)
from tests.products.factories import ProductFactory, add_coa, add_document, make_lot

pytestmark = pytest.mark.django_db
T = DocumentType
TODAY = timezone.localdate
LATER = dt.timedelta(days=400)


def _bare(name="Kimeravive", classification=Classification.UNKNOWN, **routes) -> Product:
    """An uncleared product: nothing classified, nothing on file, not approved."""
    fields = {"intended_topical": True, "intended_intradermal": True, "intended_scalp": True, **routes}
    return ProductFactory(name=name, cleared=False, classification=classification, **fields)


def _approve(product: Product) -> Product:
    Product.objects.filter(pk=product.pk).update(approved_at=timezone.now())
    product.refresh_from_db()
    return product


def _lot(product, unit, number="KV-123", coa=True):
    return make_lot(unit=unit, product=product, lot_number=number, coa=coa)


class TestRulesTable:
    def test_every_classification_has_a_rule(self):
        assert set(RULES) == set(Classification.values)

    @pytest.mark.parametrize(
        "classification", ["device_i", "device_iia", "device_iib", "device_iii"], ids=str
    )
    def test_a_device_needs_a_ce_certificate_or_declaration_and_instructions_for_use(
        self, unit, classification
    ):
        product = _approve(_bare(classification=classification))
        lot = _lot(product, unit)
        assert lot_clearance_problems(lot) == [
            "Kimeravive has no CE certificate or EU/UK declaration of conformity on file.",
            "Kimeravive has no instructions for use on file.",
        ]
        add_document(doc_type=T.DECLARATION, product=product, expires_on=TODAY() + LATER)
        assert lot_clearance_problems(lot) == ["Kimeravive has no instructions for use on file."]
        add_document(doc_type=T.IFU, product=product)
        assert lot_clearance_problems(lot) == []

    def test_a_ce_certificate_does_as_well_as_a_declaration(self, unit):
        product = _approve(_bare(classification=Classification.DEVICE_III))
        add_document(doc_type=T.CE_CERTIFICATE, product=product, expires_on=TODAY() + LATER)
        add_document(doc_type=T.IFU, product=product)
        assert lot_clearance_problems(_lot(product, unit)) == []

    def test_an_atmp_needs_its_authorisation(self, unit):
        product = _approve(_bare(classification=Classification.ATMP))
        lot = _lot(product, unit)
        add_document(doc_type=T.IFU, product=product)
        assert lot_clearance_problems(lot) == ["Kimeravive has no ATMP authorisation on file."]
        add_document(doc_type=T.ATMP_AUTHORISATION, product=product, expires_on=TODAY() + LATER)
        assert lot_clearance_problems(lot) == []

    def test_a_cosmetic_needs_its_safety_data_sheet(self, unit):
        product = _approve(_bare(classification=Classification.COSMETIC, intended_intradermal=False,
                                 intended_scalp=False))  # fmt: skip
        lot = _lot(product, unit)
        assert lot_clearance_problems(lot) == ["Kimeravive has no safety data sheet on file."]
        add_document(doc_type=T.SDS, product=product)
        assert lot_clearance_problems(lot) == []

    def test_nothing_clears_an_investigational_product(self, unit):
        product = _approve(_bare(classification=Classification.INVESTIGATIONAL))
        for doc_type in (T.CE_CERTIFICATE, T.IFU, T.ATMP_AUTHORISATION, T.SDS, T.MANUFACTURING):
            add_document(doc_type=doc_type, product=product)
        assert lot_clearance_problems(_lot(product, unit)) == [
            "Kimeravive is investigational or unapproved: no document clears it for use in the clinic."
        ]

    def test_an_unknown_classification_is_not_cleared(self, unit):
        product = _approve(_bare())
        add_document(doc_type=T.CE_CERTIFICATE, product=product)
        add_document(doc_type=T.IFU, product=product)
        assert lot_clearance_problems(_lot(product, unit)) == [
            "Kimeravive's classification is unknown: the supplier must state it, with its documents, "
            "before it can be used."
        ]

    def test_the_default_factory_product_and_lot_are_cleared(self, lot):
        assert lot_clearance_problems(lot) == []


class TestExpiryAndRenewal:
    def test_an_expired_certificate_does_not_count_and_the_message_says_when_it_expired(self, unit):
        product = _approve(_bare(classification=Classification.DEVICE_IIA))
        add_document(doc_type=T.IFU, product=product)
        add_document(doc_type=T.CE_CERTIFICATE, product=product, expires_on=dt.date(2025, 3, 3))
        lot = _lot(product, unit)
        assert lot_clearance_problems(lot) == [
            "Kimeravive has no unexpired CE certificate or EU/UK declaration of conformity on file "
            "(the one on file expired on 03 Mar 2025)."
        ]

    def test_a_certificate_expiring_today_still_counts(self, unit):
        product = _approve(_bare(classification=Classification.DEVICE_IIA))
        add_document(doc_type=T.IFU, product=product)
        add_document(doc_type=T.CE_CERTIFICATE, product=product, expires_on=TODAY())
        assert lot_clearance_problems(_lot(product, unit)) == []

    def test_a_superseded_document_no_longer_counts(self, unit):
        product = _approve(_bare(classification=Classification.COSMETIC, intended_intradermal=False,
                                 intended_scalp=False))  # fmt: skip
        old = add_document(doc_type=T.SDS, product=product)
        expired = add_document(doc_type=T.SDS, product=product, expires_on=TODAY() - dt.timedelta(days=1))
        RegulatoryDocument.objects.filter(pk=old.pk).update(superseded_by=expired)
        assert "unexpired safety data sheet" in lot_clearance_problems(_lot(product, unit))[0]


class TestApproval:
    def test_an_unapproved_product_is_not_cleared(self, unit):
        product = ProductFactory(name="Kimeravive")
        Product.objects.filter(pk=product.pk).update(approved_at=None)
        product.refresh_from_db()
        assert lot_clearance_problems(_lot(product, unit)) == [
            "Kimeravive has not been approved for use by a manager."
        ]

    def test_a_manager_approves_once_the_documents_are_on_file_and_it_is_audited(self, unit, manager):
        product = _bare(classification=Classification.DEVICE_IIA)
        add_document(doc_type=T.IFU, product=product)
        with pytest.raises(ValidationError) as exc:
            product_approve(actor=manager, product=product)
        assert exc.value.messages == [
            "Kimeravive cannot be approved yet.",
            "Kimeravive has no CE certificate or EU/UK declaration of conformity on file.",
        ]
        add_document(doc_type=T.CE_CERTIFICATE, product=product, expires_on=TODAY() + LATER)
        product = product_approve(actor=manager, product=product)
        assert product.approved_by == manager and product.approved_at is not None
        assert AuditEvent.objects.filter(action="product.approve", object_id=str(product.pk)).exists()
        assert lot_clearance_problems(_lot(product, unit)) == []

    def test_an_investigational_product_cannot_be_approved(self, manager):
        product = _bare(classification=Classification.INVESTIGATIONAL)
        with pytest.raises(ValidationError, match="investigational or unapproved"):
            product_approve(actor=manager, product=product)

    def test_changing_the_classification_revokes_the_approval(self, unit, manager):
        product = ProductFactory(name="Kimeravive")
        lot = _lot(product, unit)
        assert lot_clearance_problems(lot) == []
        product = product_classify(
            actor=manager, product=product, classification=Classification.DEVICE_III, jurisdictions=["EU"],
            intended_topical=True, intended_intradermal=True, intended_scalp=True,
        )  # fmt: skip
        assert product.approved_at is None and product.approved_by is None
        event = AuditEvent.objects.get(action="product.classify", object_id=str(product.pk))
        assert event.after["approval_revoked"] is True
        assert event.before["classification"] == "device_iia"
        lot = Lot.objects.select_related("product").get(pk=lot.pk)
        assert lot_clearance_problems(lot) == ["Kimeravive has not been approved for use by a manager."]

    def test_saving_the_same_classification_keeps_the_approval(self, manager):
        product = ProductFactory()
        product_classify(
            actor=manager, product=product, classification=product.classification,
            jurisdictions=list(reversed(product.jurisdictions)), intended_topical=True,
            intended_intradermal=True, intended_scalp=True,
        )  # fmt: skip
        product.refresh_from_db()
        assert product.approved_at is not None
        assert not AuditEvent.objects.filter(action="product.classify").exists()

    def test_a_manager_revokes_an_approval_with_a_reason(self, manager):
        product = ProductFactory()
        with pytest.raises(ValidationError, match="Say why"):
            product_revoke_approval(actor=manager, product=product, reason=" ")
        product_revoke_approval(actor=manager, product=product, reason="Supplier warning letter")
        product.refresh_from_db()
        assert product.approved_at is None
        event = AuditEvent.objects.get(action="product.approval_revoke")
        assert event.after["reason"] == "Supplier warning letter"

    def test_a_cosmetic_cannot_be_classified_as_intended_for_injection(self, manager):
        product = _bare()
        with pytest.raises(ValidationError, match="topical use only"):
            product_classify(
                actor=manager, product=product, classification=Classification.COSMETIC, jurisdictions=["UK"],
                intended_topical=True, intended_intradermal=True, intended_scalp=False,
            )  # fmt: skip


class TestCertificateOfAnalysis:
    def test_every_lot_needs_its_own_certificate_of_analysis(self, unit, product):
        with_coa = _lot(product, unit, "KV-100")
        without = _lot(product, unit, "KV-123", coa=False)
        assert lot_clearance_problems(with_coa) == []
        assert lot_clearance_problems(without) == ["Lot KV-123 has no certificate of analysis on file."]
        add_coa(without)
        assert lot_clearance_problems(without) == []

    def test_a_certificate_of_analysis_cannot_belong_to_a_product(self, product):
        with pytest.raises(IntegrityError), transaction.atomic():
            add_document(doc_type=T.COA, product=product)

    def test_a_document_belongs_to_a_product_or_a_lot_never_both_or_neither(self, product, lot):
        with pytest.raises(IntegrityError), transaction.atomic():
            add_document(doc_type=T.IFU, product=product, lot=lot)
        with pytest.raises(IntegrityError), transaction.atomic():
            add_document(doc_type=T.IFU)

    def test_an_uncleared_product_and_a_missing_coa_are_both_listed(self, unit):
        lot = _lot(_bare(), unit, coa=False)
        problems = lot_clearance_problems(lot)
        assert len(problems) == 2
        assert problems[1] == "Lot KV-123 has no certificate of analysis on file."


class TestRoutes:
    def test_a_topical_cosmetic_cannot_be_charted_as_injected(self):
        product = _bare(classification=Classification.COSMETIC, intended_intradermal=False,
                        intended_scalp=False, route_intradermal=True)  # fmt: skip
        assert product_route_problems(product, "topical") == []
        assert product_route_problems(product, "intradermal") == [
            "Kimeravive is a cosmetic for topical use; it cannot be charted as intradermal injection."
        ]
        assert product_route_problems(product, "other") == [
            "Kimeravive is a cosmetic for topical use; "
            "it cannot be charted as anything but topical application."
        ]

    def test_an_unlabelled_cosmetic_injected_is_refused_once_for_one_cause(self):
        # Benev as intradermal: not on its label *and* a cosmetic; one sentence, not two.
        product = _bare(classification=Classification.COSMETIC, intended_intradermal=False,
                        intended_scalp=False, route_intradermal=False)  # fmt: skip
        assert product_route_problems(product, "intradermal") == [
            "Kimeravive is a cosmetic for topical use; it cannot be charted as intradermal injection."
        ]

    def test_the_label_and_the_classification_must_both_cover_the_route(self):
        product = _bare(classification=Classification.DEVICE_IIA, intended_scalp=False,
                        route_intradermal=True, route_scalp=True)  # fmt: skip
        assert product_route_problems(product, "intradermal") == []
        assert product_route_problems(product, "scalp") == [
            "Kimeravive's classification (Medical device, class IIa) does not cover scalp injection."
        ]
        product.route_intradermal = False
        assert product_route_problems(product, "intradermal") == [
            "Kimeravive is not labelled for intradermal injection."
        ]


class TestGateInStockServices:
    def test_stock_use_refuses_an_uncleared_lot_with_the_reason(self, unit, practitioner):
        lot = _lot(ProductFactory(name="Kimeravive"), unit, "KV-123", coa=False)
        with pytest.raises(ValidationError) as exc:
            stock_use(lot=lot, quantity=1, actor=practitioner)
        assert exc.value.messages == ["Lot KV-123 has no certificate of analysis on file."]
        lot.refresh_from_db()
        assert lot.quantity_on_hand == 10
        assert not AuditEvent.objects.filter(action="stock.use").exists()

    def test_vial_open_refuses_a_lot_of_an_unapproved_product(self, unit, practitioner):
        product = ProductFactory(name="Kimeravive")
        lot = _lot(product, unit)
        product_revoke_approval(actor=None, product=product, reason="Under review")
        with pytest.raises(ValidationError, match="Kimeravive has not been approved for use by a manager"):
            vial_open(lot=lot, actor=practitioner)
        assert not lot.opened_vials.exists()

    def test_the_gate_reads_the_documents_at_the_moment_of_use(self, unit, practitioner):
        product = ProductFactory(name="Kimeravive")
        lot = _lot(product, unit)
        stock_use(lot=lot, quantity=1, actor=practitioner)
        RegulatoryDocument.objects.filter(product=product, doc_type=T.CE_CERTIFICATE).update(
            expires_on=TODAY() - dt.timedelta(days=1)
        )
        with pytest.raises(ValidationError, match="no unexpired CE certificate"):
            stock_use(lot=lot, quantity=1, actor=practitioner)

    def test_a_cleared_lot_is_used_as_before(self, lot, practitioner):
        stock_use(lot=lot, quantity=2, actor=practitioner)
        vial_open(lot=lot, actor=practitioner)
        lot.refresh_from_db()
        assert lot.quantity_on_hand == 7


class TestClearanceInSql:
    def test_cleared_matches_the_python_rules_for_every_state(self, unit, other_unit, manager):
        cleared = make_lot(unit=unit, lot_number="OK-1")
        no_coa = make_lot(unit=unit, lot_number="NO-COA", coa=False)
        unknown = _lot(_bare("Unknown"), unit, "UNK-1")
        investigational = _lot(_approve(_bare("Trial", Classification.INVESTIGATIONAL)), unit, "INV-1")
        unapproved_product = ProductFactory(name="Waiting")
        Product.objects.filter(pk=unapproved_product.pk).update(approved_at=None)
        unapproved = _lot(Product.objects.get(pk=unapproved_product.pk), unit, "WAIT-1")
        lapsed_product = ProductFactory(name="Lapsed")
        RegulatoryDocument.objects.filter(product=lapsed_product, doc_type=T.CE_CERTIFICATE).update(
            expires_on=TODAY() - dt.timedelta(days=1)
        )
        lapsed = _lot(lapsed_product, unit, "LAP-1")
        everything = [cleared, no_coa, unknown, investigational, unapproved, lapsed]
        in_sql = set(Lot.objects.cleared().values_list("pk", flat=True))
        assert in_sql == {cleared.pk}
        annotated = {lot.pk: lot.is_cleared for lot in Lot.objects.with_clearance()}
        for lot in prefetch_clearance(
            Lot.objects.select_related("product").filter(pk__in=[x.pk for x in everything])
        ):
            assert annotated[lot.pk] is (not lot_clearance_problems(lot)), lot.lot_number
        assert set(Product.objects.cleared().values_list("name", flat=True)) == {
            cleared.product.name,
            no_coa.product.name,
        }

    def test_clearance_costs_one_query_for_any_number_of_lots(self, unit, django_assert_num_queries):
        for i in range(3):
            make_lot(unit=unit, lot_number=f"Q{i}")
        with django_assert_num_queries(1, info="three lots"):
            list(Lot.objects.usable().cleared())
        for i in range(5):
            make_lot(unit=unit, lot_number=f"R{i}", coa=bool(i % 2))
        with django_assert_num_queries(1, info="eight lots"):
            assert len(list(Lot.objects.usable().cleared())) == 5

    def test_prefetch_clearance_answers_a_list_in_one_query(self, unit, django_assert_num_queries):
        for i in range(4):
            make_lot(unit=unit, lot_number=f"P{i}", coa=bool(i % 2))
        lots = list(Lot.objects.select_related("product"))
        with django_assert_num_queries(1):
            prefetch_clearance(lots)
            problems = [lot_clearance_problems(lot) for lot in lots]
        assert sum(1 for p in problems if p) == 2


def test_the_compiled_rule_subqueries_read_the_documents_afresh(unit, manager):
    """The rules' subqueries are compiled once a day per thread (issue 19): their SQL is kept,
    never their rows, so a certificate filed, a document expired or an approval revoked later
    the same day changes what every spelling of the rule answers at once."""
    from products.models.stock import lot_cleared_condition, usable_condition

    product = ProductFactory()
    lot = _lot(product, unit, coa=False)

    def answers() -> set[str]:
        spellings = {
            "usable": Lot.objects.usable(),
            "usable bulk": Lot.objects.filter(usable_condition(bulk=True)),
            "cleared bulk": Lot.objects.filter(lot_cleared_condition(bulk=True)),
            "labelled": Lot.objects.with_clearance().filter(is_cleared=True),
        }
        return {name for name, lots in spellings.items() if lots.filter(pk=lot.pk).exists()}

    assert answers() == set()  # compiled now, before the certificate is on file
    coa = add_coa(lot)
    assert answers() == {"usable", "usable bulk", "cleared bulk", "labelled"}
    RegulatoryDocument.objects.filter(pk=coa.pk).update(
        issued_on=TODAY() - dt.timedelta(days=60), expires_on=TODAY() - dt.timedelta(days=1)
    )
    assert answers() == set()
    RegulatoryDocument.objects.filter(pk=coa.pk).update(expires_on=None)
    assert answers() == {"usable", "usable bulk", "cleared bulk", "labelled"}
    product_revoke_approval(actor=manager, product=product, reason="supplier changed")
    assert answers() == set()
