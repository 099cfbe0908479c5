"""``Lot.certificate_until`` (issue 19): the stored date that counts over many lots read instead
of looking up every certificate of analysis, kept by database triggers.

It is a copy of part of the clearance gate, so every test here asks both spellings of "holds a
valid certificate today" (the documents themselves, an EXISTS per lot; the stored date, a
comparison) of every lot, on several days, after every way a document or a lot can be written,
through the services and around them (``.update()``, ``.delete()``, a save from a stale
instance), and checks that they agree.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from clinic.roles import MANAGER
from products.demo import demo_pdf
from products.models import DocumentType, Lot, RegulatoryDocument
from products.models import certificate_dates as stored
from products.models.compliance import LOT_REQUIRES, lot_documents_condition
from products.services import document_renew, document_upload, stock_transfer
from tests.factories import staff
from tests.products.factories import StorageUnitFactory, add_coa, add_document, make_lot

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 6, 15)
NO_EXPIRY = dt.date(9999, 12, 31)
LONG_AGO = dt.date(2024, 1, 1)  # an issue date before every expiry these tests set


@pytest.fixture(autouse=True)
def _frozen(time_machine):
    time_machine.move_to(dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC), tick=False)


@pytest.fixture
def units(location, other_location):
    return StorageUnitFactory(location=location, name="Main fridge"), StorageUnitFactory(
        location=other_location, name="Other fridge"
    )


@pytest.fixture
def boss(location, other_location):
    return staff(MANAGER, location, other_location, username="boss")


def days() -> list[dt.date]:
    return [
        TODAY - dt.timedelta(days=400),
        TODAY,
        TODAY + dt.timedelta(days=29),
        TODAY + dt.timedelta(days=31),
    ]


def holding(day: dt.date, *, bulk: bool) -> set[int]:
    return set(Lot.objects.filter(lot_documents_condition(today=day, bulk=bulk)).values_list("pk", flat=True))


def assert_spellings_agree() -> None:
    for day in days():
        assert holding(day, bulk=True) == holding(day, bulk=False), day


def until(lot: Lot) -> dt.date | None:
    return Lot.objects.values_list("certificate_until", flat=True).get(pk=lot.pk)


def pdf() -> SimpleUploadedFile:
    return SimpleUploadedFile("coa.pdf", demo_pdf("Certificate of analysis"), content_type="application/pdf")


def test_the_stored_group_is_the_lot_rule():
    assert stored.STORED_TYPES in [tuple(group) for group in LOT_REQUIRES]


def test_every_trigger_is_installed():
    assert stored.installed(connection) == set(stored.triggers_for(connection.vendor))


class TestDocumentWrites:
    def test_a_certificate_filed_sets_the_date_and_none_leaves_it_empty(self, units):
        with_coa = make_lot(unit=units[0])
        without = make_lot(unit=units[0], coa=False)
        assert until(with_coa) == NO_EXPIRY  # the factory's certificate has no expiry date
        assert until(without) is None
        assert holding(TODAY, bulk=True) == {with_coa.pk}
        assert_spellings_agree()

    def test_the_latest_expiry_of_the_current_certificates_counts(self, units):
        lot = make_lot(unit=units[0], coa=False)
        add_document(doc_type=DocumentType.COA, lot=lot, expires_on=TODAY + dt.timedelta(days=30))
        add_document(doc_type=DocumentType.COA, lot=lot, expires_on=TODAY + dt.timedelta(days=10))
        assert until(lot) == TODAY + dt.timedelta(days=30)
        assert_spellings_agree()

    def test_a_renewal_through_the_service_replaces_the_superseded_date(self, units, boss):
        lot = make_lot(unit=units[0], coa=False)
        old = add_document(doc_type=DocumentType.COA, lot=lot, expires_on=TODAY + dt.timedelta(days=30))
        document_renew(
            actor=boss, document=old, issuer="Maker", reference="COA-2", issued_on=TODAY,
            expires_on=TODAY + dt.timedelta(days=5), upload=pdf(),
        )  # fmt: skip
        # The renewal expires sooner than the old one did: only current certificates count.
        assert until(lot) == TODAY + dt.timedelta(days=5)
        assert_spellings_agree()

    def test_writes_around_the_services_are_seen_too(self, units):
        lot, other = make_lot(unit=units[0]), make_lot(unit=units[0], coa=False)
        documents = RegulatoryDocument.objects.filter(lot=lot)
        documents.update(issued_on=LONG_AGO, expires_on=TODAY - dt.timedelta(days=1))
        assert until(lot) == TODAY - dt.timedelta(days=1) and lot.pk not in holding(TODAY, bulk=True)
        assert_spellings_agree()
        documents.update(expires_on=None)
        assert lot.pk in holding(TODAY, bulk=True)
        documents.update(lot=other)  # filed on the wrong lot, then moved
        assert (until(lot), until(other)) == (None, NO_EXPIRY)
        assert_spellings_agree()
        RegulatoryDocument.objects.filter(lot=other).update(doc_type=DocumentType.OTHER)
        assert until(other) is None
        assert_spellings_agree()
        RegulatoryDocument.objects.filter(lot=other).update(doc_type=DocumentType.COA)
        RegulatoryDocument.objects.filter(lot=other).delete()
        assert until(other) is None
        assert_spellings_agree()

    def test_product_documents_touch_no_lot(self, units, product):
        lot = make_lot(unit=units[0], product=product)
        add_document(doc_type=DocumentType.IFU, product=product)
        assert until(lot) == NO_EXPIRY


class TestLotWrites:
    def test_a_split_copy_carries_its_origins_certificate_and_follows_it(self, units, boss):
        lot = make_lot(unit=units[0], quantity=20, actor=boss, coa=False)
        stock_transfer(lot=lot, to_unit=units[1], quantity=5, actor=boss, note="Clinic day")
        copy = Lot.objects.get(origin=lot)
        assert (until(lot), until(copy)) == (None, None)
        document_upload(
            actor=boss, doc_type=DocumentType.COA, lot=copy, upload=pdf(), issuer="Maker",
            reference="COA-1", issued_on=TODAY, expires_on=TODAY + dt.timedelta(days=200),
        )  # fmt: skip
        # Filed on the origin (the manufacturer's lot), so both places hold it.
        assert until(lot) == until(copy) == TODAY + dt.timedelta(days=200)
        stock_transfer(lot=lot, to_unit=units[1], quantity=1, actor=boss, note="One more")
        assert until(Lot.objects.get(origin=lot)) == TODAY + dt.timedelta(days=200)
        RegulatoryDocument.objects.filter(lot=lot).update(
            issued_on=LONG_AGO, expires_on=TODAY - dt.timedelta(days=3)
        )
        assert until(copy) == TODAY - dt.timedelta(days=3)
        assert_spellings_agree()

    def test_a_save_from_an_instance_loaded_before_the_certificate_cannot_undo_it(self, units):
        lot = make_lot(unit=units[0], coa=False)
        stale = Lot.objects.get(pk=lot.pk)
        add_coa(lot)
        stale.hold_reason = "Checked the box"
        stale.save()  # writes every column, certificate_until=None among them
        assert until(lot) == NO_EXPIRY
        Lot.objects.filter(pk=lot.pk).update(certificate_until=dt.date(2000, 1, 1))
        assert until(lot) == NO_EXPIRY  # nobody can write the copy, not even an update
        assert_spellings_agree()

    def test_a_random_history_keeps_both_spellings_in_step(self, units, boss):
        rng = random.Random(19)
        lots = [make_lot(unit=units[0], quantity=30, actor=boss, coa=rng.random() < 0.5) for _ in range(6)]
        for step in range(80):
            lot = rng.choice(list(Lot.objects.all()))
            root = Lot.objects.get(pk=lot.record_lot_id)
            action = rng.choice(["file", "expire", "revive", "renew", "delete", "split", "retype"])
            docs = RegulatoryDocument.objects.filter(lot=root)
            if action == "file":
                add_document(
                    doc_type=DocumentType.COA,
                    lot=root,
                    expires_on=TODAY + dt.timedelta(days=rng.randint(-60, 90)),
                )
            elif action == "expire":
                docs.update(issued_on=LONG_AGO, expires_on=TODAY + dt.timedelta(days=rng.randint(-60, 60)))
            elif action == "revive":
                docs.update(expires_on=None, superseded_by=None)
            elif action == "renew" and docs.filter(superseded_by__isnull=True).exists():
                document_renew(
                    actor=boss, document=docs.filter(superseded_by__isnull=True).first(), issuer="Maker",
                    reference=f"COA-R{step}", issued_on=TODAY,
                    expires_on=TODAY + dt.timedelta(days=rng.randint(1, 90)), upload=pdf(),
                )  # fmt: skip
            elif action == "delete" and docs.exists():
                docs.filter(pk=docs.first().pk).update(superseded_by=None)
                RegulatoryDocument.objects.filter(superseded_by__lot=root).update(superseded_by=None)
                docs.filter(pk=docs.first().pk).delete()
            elif action == "split" and lot.quantity_on_hand > 1:
                elsewhere = [unit for unit in units if unit.pk != lot.storage_unit_id]
                stock_transfer(lot=lot, to_unit=rng.choice(elsewhere), quantity=1, actor=boss, note="Move")
            elif action == "retype" and docs.exists():
                docs.filter(pk=docs.last().pk).update(
                    doc_type=rng.choice([DocumentType.COA, DocumentType.OTHER])
                )
            assert_spellings_agree()
        assert Lot.objects.count() > len(lots)  # the history did split lots


class TestInstall:
    def test_a_lost_trigger_is_put_back_after_migrate_and_every_row_recomputed(self, units):
        lot, other = make_lot(unit=units[0]), make_lot(unit=units[0], coa=False)
        stored.remove(connection)
        assert stored.installed(connection) == set()
        # With no trigger, the copy goes stale: a certificate deleted, another row corrupted.
        RegulatoryDocument.objects.filter(lot=lot).delete()
        Lot.objects.filter(pk=other.pk).update(certificate_until=NO_EXPIRY)
        assert (until(lot), until(other)) == (NO_EXPIRY, NO_EXPIRY)
        stored.install_after_migrate(sender=None, using="default")
        assert stored.installed(connection) == set(stored.triggers_for(connection.vendor))
        assert (until(lot), until(other)) == (None, None)
        assert stored.install(connection) is False  # nothing missing: nothing recomputed

    def test_the_migration_fills_every_existing_lot(self, units):
        lots = [make_lot(unit=units[0], coa=bool(i % 2)) for i in range(4)]
        stored.remove(connection)
        Lot.objects.update(certificate_until=None)
        stored.install(connection, replace=True)
        assert [until(lot) for lot in lots] == [None, NO_EXPIRY, None, NO_EXPIRY]
        assert_spellings_agree()

    def test_today_is_read_at_query_time(self, units, time_machine):
        lot = make_lot(unit=units[0], coa=False)
        add_document(doc_type=DocumentType.COA, lot=lot, expires_on=TODAY + dt.timedelta(days=1))
        assert lot.pk in holding(timezone.localdate(), bulk=True)
        time_machine.move_to(dt.datetime(2026, 6, 17, 10, 0, tzinfo=dt.UTC), tick=False)
        assert lot.pk not in holding(timezone.localdate(), bulk=True)
