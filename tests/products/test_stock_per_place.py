"""Stock per place (issue 19, item 1): a lot's vials in several units and locations at once.

A partial transfer splits the lot (one row per unit, the first received is the origin); the
ledger says where every row happened; the certificate and a recall cover every place; holds,
counts and charting stay per place.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.utils import timezone

from clinic.models import AuditEvent
from clinic.roles import FRONT_DESK, MANAGER, PRACTITIONER
from products.models import Lot, LotStatus, MovementKind, RegulatoryDocument, StockMovement
from products.services import lot_quarantine, lot_recall, reading_record, stock_transfer, stock_use
from tests.factories import staff
from tests.products.factories import ProductFactory, StorageUnitFactory, make_lot
from tests.treatments.factories import PatientFactory, chart, clear_for_use, line_input, ready_session
from treatments.record_forms import lot_offers

pytestmark = pytest.mark.django_db


@pytest.fixture
def product(db):
    return ProductFactory(name="Kimeravive", route_topical=True, route_intradermal=True)


@pytest.fixture
def two_sites(location, other_location, product):
    """A manager of both sites, a 20-vial cleared lot in Marylebone's fridge, Manchester's fridge."""
    boss = staff(MANAGER, location, other_location, username="boss")
    home = StorageUnitFactory(location=location, name="Main fridge")
    away = StorageUnitFactory(location=other_location, name="Manchester fridge")
    lot = clear_for_use(make_lot(unit=home, product=product, quantity=20, lot_number="KV-20", actor=boss))
    return {"boss": boss, "home": home, "away": away, "lot": lot}


def ledger_agrees(lot: Lot) -> bool:
    total = StockMovement.objects.filter(lot=lot).aggregate(t=Sum("quantity"))["t"] or 0
    lot.refresh_from_db()
    return total == lot.quantity_on_hand


class TestPartialTransfer:
    def test_five_of_twenty_go_to_the_other_site_and_both_places_hold_stock(self, two_sites):
        lot, away, boss = two_sites["lot"], two_sites["away"], two_sites["boss"]
        movement = stock_transfer(lot=lot, to_unit=away, quantity=5, actor=boss, note="Clinic day")
        lot.refresh_from_db()
        there = Lot.objects.get(storage_unit=away)
        assert (lot.quantity_on_hand, there.quantity_on_hand) == (15, 5)
        assert lot.storage_unit == two_sites["home"]  # the row stays where it was
        assert there.origin == lot and there.lot_number == "KV-20" and there.expiry_date == lot.expiry_date
        assert (movement.kind, movement.quantity, movement.balance_after) == (
            MovementKind.TRANSFER_OUT,
            -5,
            15,
        )
        arrival = there.movements.get()
        assert (arrival.kind, arrival.quantity, arrival.balance_after) == (MovementKind.TRANSFER_IN, 5, 5)
        # Every ledger row says where it happened, and each row's ledger sums to its count.
        assert movement.storage_unit == two_sites["home"] and arrival.storage_unit == away
        assert (movement.from_unit, movement.to_unit) == (two_sites["home"], away)
        assert ledger_agrees(lot) and ledger_agrees(there)
        # Audited at both ends, each at its own location.
        sent = AuditEvent.objects.get(action="stock.transfer", object_id=str(lot.pk))
        received = AuditEvent.objects.get(action="stock.transfer_in", object_id=str(there.pk))
        assert sent.location == lot.storage_unit.location and sent.after["vials"] == 5
        assert received.location == away.location and received.after["vials"] == 5

    def test_later_transfers_join_the_row_already_there_and_can_come_back(self, two_sites):
        lot, away, home, boss = two_sites["lot"], two_sites["away"], two_sites["home"], two_sites["boss"]
        stock_transfer(lot=lot, to_unit=away, quantity=5, actor=boss)
        stock_transfer(lot=lot, to_unit=away, quantity=3, actor=boss)
        there = Lot.objects.get(storage_unit=away)
        assert there.quantity_on_hand == 8 and Lot.objects.filter(lot_number="KV-20").count() == 2
        # Everything there comes home: it joins the origin's row, the Manchester row is empty.
        stock_transfer(lot=there, to_unit=home, actor=boss)
        lot.refresh_from_db()
        there.refresh_from_db()
        assert (lot.quantity_on_hand, there.quantity_on_hand) == (20, 0)
        assert there.status == LotStatus.DEPLETED and there.storage_unit == away
        assert ledger_agrees(lot) and ledger_agrees(there)

    def test_moving_everything_to_a_new_place_moves_the_row_as_before(self, two_sites):
        lot, away, boss = two_sites["lot"], two_sites["away"], two_sites["boss"]
        movement = stock_transfer(lot=lot, to_unit=away, quantity=20, actor=boss)
        lot.refresh_from_db()
        assert lot.storage_unit == away and lot.quantity_on_hand == 20
        assert movement.kind == MovementKind.TRANSFER and movement.storage_unit == away
        assert Lot.objects.filter(lot_number="KV-20").count() == 1

    @pytest.mark.parametrize(
        "quantity, message", [(21, "has 20 vial"), (0, "above zero"), (-2, "above zero")]
    )
    def test_an_impossible_quantity_is_refused_and_writes_nothing(self, two_sites, quantity, message):
        lot, away = two_sites["lot"], two_sites["away"]
        before = StockMovement.objects.count()
        with pytest.raises(ValidationError, match=message):
            stock_transfer(lot=lot, to_unit=away, quantity=quantity, actor=two_sites["boss"])
        assert StockMovement.objects.count() == before and not Lot.objects.filter(storage_unit=away).exists()

    def test_a_quarantined_lot_moves_whole_or_not_at_all(self, two_sites):
        lot, away, boss = two_sites["lot"], two_sites["away"], two_sites["boss"]
        lot_quarantine(lot=lot, actor=boss, reason="Box dented")
        with pytest.raises(ValidationError, match="quarantined"):
            stock_transfer(lot=lot, to_unit=away, quantity=5, actor=boss)
        assert not Lot.objects.filter(storage_unit=away).exists()
        stock_transfer(lot=lot, to_unit=away, actor=boss)  # the whole lot, hold and all
        lot.refresh_from_db()
        assert lot.storage_unit == away and lot.is_quarantined

    def test_storage_conditions_are_checked_for_the_destination(self, two_sites, other_location):
        freezer = StorageUnitFactory(location=other_location, name="Freezer", min_c=-25, max_c=-15)
        with pytest.raises(ValidationError, match="must be kept at"):
            stock_transfer(lot=two_sites["lot"], to_unit=freezer, quantity=2, actor=two_sites["boss"])


class TestOneLotManyPlaces:
    def test_both_spellings_of_clearance_agree_on_every_place(self, two_sites):
        """The per-lot EXISTS and the counts' hashed ``Coalesce(origin, pk) IN (…)`` read the
        same row's documents: the origin's for every place of it."""
        from products.models.stock import lot_cleared_condition, usable_condition

        lot, away = two_sites["lot"], two_sites["away"]
        stock_transfer(lot=lot, to_unit=away, quantity=5, actor=two_sites["boss"])
        make_lot(unit=two_sites["home"], lot_number="OTHER")
        for rule in (lot_cleared_condition, usable_condition):
            per_lot = set(Lot.objects.filter(rule()).values_list("pk", flat=True))
            assert per_lot == set(Lot.objects.filter(rule(bulk=True)).values_list("pk", flat=True))
        assert Lot.objects.get(storage_unit=away).pk in per_lot

    def test_the_certificate_on_the_origin_clears_every_place(self, two_sites, other_location):
        lot, away = two_sites["lot"], two_sites["away"]
        stock_transfer(lot=lot, to_unit=away, quantity=5, actor=two_sites["boss"])
        there = Lot.objects.get(storage_unit=away)
        assert not RegulatoryDocument.objects.filter(lot=there).exists()
        assert Lot.objects.usable().filter(pk=there.pk).exists()
        # The counts' spelling of the rule (hashed, for pages over every lot) agrees.
        from products.models.stock import lot_cleared_condition

        assert set(Lot.objects.filter(lot_cleared_condition(bulk=True)).values_list("pk", flat=True)) >= {
            lot.pk,
            there.pk,
        }
        # Manchester's own manager reads the certificate of the stock they hold.
        mcr = staff(MANAGER, other_location, username="mcr_manager")
        coa = RegulatoryDocument.objects.filter(lot=lot).first()
        assert RegulatoryDocument.objects.for_user(mcr).filter(pk=coa.pk).exists()
        assert (
            not RegulatoryDocument.objects.for_user(staff(MANAGER, other_location, username="x"))
            .filter(lot=make_lot(unit=two_sites["home"], lot_number="HOME-ONLY"))
            .exists()
        )

    def test_a_certificate_uploaded_from_any_place_is_filed_on_the_origin(self, two_sites):
        from django.core.files.uploadedfile import SimpleUploadedFile

        from products.demo import demo_pdf
        from products.models import DocumentType
        from products.services import document_upload

        lot, away = two_sites["lot"], two_sites["away"]
        stock_transfer(lot=lot, to_unit=away, quantity=5, actor=two_sites["boss"])
        there = Lot.objects.get(storage_unit=away)
        doc = document_upload(
            actor=two_sites["boss"],
            doc_type=DocumentType.COA,
            lot=there,
            issuer="Kimeravive",
            reference="COA-KV-20-B",
            issued_on=timezone.localdate(),
            upload=SimpleUploadedFile("coa.pdf", demo_pdf("COA KV-20")),
        )
        assert doc.lot_id == lot.pk

    def test_a_recall_from_either_place_recalls_every_place(self, two_sites):
        lot, away, boss = two_sites["lot"], two_sites["away"], two_sites["boss"]
        stock_transfer(lot=lot, to_unit=away, quantity=5, actor=boss)
        there = Lot.objects.get(storage_unit=away)
        lot_recall(lot=there, actor=boss, reason="FSN 2026-14")
        assert set(Lot.objects.filter(lot_number="KV-20").values_list("is_recalled", flat=True)) == {True}
        assert StockMovement.objects.filter(kind=MovementKind.RECALL).count() == 2
        events = AuditEvent.objects.filter(action="lot.recall")
        assert {e.location for e in events} == {lot.storage_unit.location, away.location}

    def test_an_excursion_holds_only_the_stock_in_its_unit(self, two_sites):
        lot, away, boss = two_sites["lot"], two_sites["away"], two_sites["boss"]
        stock_transfer(lot=lot, to_unit=away, quantity=5, actor=boss)
        there = Lot.objects.get(storage_unit=away)
        reading_record(unit=away, actor=boss, temperature_c=Decimal("14.0"))
        lot.refresh_from_db()
        there.refresh_from_db()
        assert there.is_quarantined and not lot.is_quarantined
        assert Lot.objects.usable().filter(pk=lot.pk).exists()
        held = there.excursions.get()
        assert held.quantity_at_start == 5

    def test_charting_draws_from_the_practitioners_location(self, two_sites, other_location):
        lot, away, boss = two_sites["lot"], two_sites["away"], two_sites["boss"]
        stock_transfer(lot=lot, to_unit=away, quantity=5, actor=boss)
        there = Lot.objects.get(storage_unit=away)
        prac = staff(PRACTITIONER, other_location, username="prac_mcr")
        offered, _ = lot_offers(prac, other_location)
        assert [o.lot for o in offered] == [there]
        patient = PatientFactory(location=other_location)
        chart(ready_session(patient, prac), prac, line_input(there, vials=2))
        lot.refresh_from_db()
        there.refresh_from_db()
        assert (lot.quantity_on_hand, there.quantity_on_hand) == (15, 3)
        used = there.movements.get(kind=MovementKind.USED)
        assert used.storage_unit == away

    def test_another_delivery_of_the_same_lot_elsewhere_joins_it(self, two_sites, product):
        lot, away, boss = two_sites["lot"], two_sites["away"], two_sites["boss"]
        second = make_lot(
            unit=away, product=product, lot_number="kv-20", expiry=lot.expiry_date, actor=boss, coa=False
        )
        assert second.origin == lot
        assert Lot.objects.usable().filter(pk=second.pk).exists()  # the lot's certificate covers it
        with pytest.raises(ValidationError, match="on file with expiry"):
            make_lot(
                unit=StorageUnitFactory(location=away.location, name="Spare"),
                product=product,
                lot_number="KV-20",
                expiry=lot.expiry_date + dt.timedelta(days=30),
                actor=boss,
            )

    def test_a_scan_at_a_site_with_the_lot_in_two_units_finds_the_usable_one(self, two_sites, location):
        from products.scanning import lot_for_scan

        lot, boss = two_sites["lot"], two_sites["boss"]
        spare = StorageUnitFactory(location=location, name="Spare fridge")
        stock_transfer(lot=lot, to_unit=spare, quantity=4, actor=boss)
        lot_quarantine(lot=lot, actor=boss, reason="Door left open")
        result = lot_for_scan("KV-20", lots=Lot.objects.for_user(boss), location=location)
        assert result.lot == Lot.objects.get(storage_unit=spare), result.message


class TestMigration:
    def test_the_data_migration_fills_every_rows_unit_and_keeps_every_count(self, two_sites, location):
        fill = __import__("products.migrations.0009_fill_movement_units", fromlist=["x"]).fill_movement_units
        lot, away, home, boss = two_sites["lot"], two_sites["away"], two_sites["home"], two_sites["boss"]
        still = make_lot(unit=home, lot_number="STAYS", quantity=7, actor=boss)
        with time_machine.travel(timezone.now() + dt.timedelta(minutes=1)):
            stock_use(lot=lot, quantity=2, actor=boss)
        with time_machine.travel(timezone.now() + dt.timedelta(minutes=2)):
            stock_transfer(lot=lot, to_unit=away, actor=boss)  # the whole row moved, as before
        with time_machine.travel(timezone.now() + dt.timedelta(minutes=3)):
            stock_use(lot=Lot.objects.get(pk=lot.pk), quantity=1, actor=boss)
        expected = dict(StockMovement.objects.values_list("pk", "storage_unit_id"))
        counts = dict(Lot.objects.values_list("pk", "quantity_on_hand"))
        StockMovement.objects.update(storage_unit=None)  # as the rows were before the migration
        fill(apps, None)
        assert dict(StockMovement.objects.values_list("pk", "storage_unit_id")) == expected
        assert dict(Lot.objects.values_list("pk", "quantity_on_hand")) == counts
        kinds = list(lot.movements.order_by("created_at", "pk").values_list("kind", "storage_unit_id"))
        assert kinds[0] == ("received", home.pk) and kinds[-1] == ("used", away.pk)
        assert set(still.movements.values_list("storage_unit_id", flat=True)) == {home.pk}


class TestLotPage:
    def test_the_page_lists_the_places_and_a_partial_transfer_form(self, two_sites, client_for):
        lot, away, boss = two_sites["lot"], two_sites["away"], two_sites["boss"]
        c = client_for(boss)
        form = c.get(f"/products/lots/{lot.pk}/transfer/").content.decode()
        assert 'name="quantity"' in form and "Leave empty to move all" in form
        response = c.post(f"/products/lots/{lot.pk}/transfer/", {"to_unit": away.pk, "quantity": "5"})
        assert response.status_code == 302
        page = c.get(f"/products/lots/{lot.pk}/", follow=True).content.decode()
        assert "5 vial(s) sent to Manchester fridge" in page and "15 stay here." in page
        assert 'id="lot-places-table"' in page and "Manchester fridge" in page
        there = Lot.objects.get(storage_unit=away)
        assert f"/products/lots/{there.pk}/" in page

    def test_a_refused_transfer_shows_why_on_the_form(self, two_sites, client_for):
        lot, away = two_sites["lot"], two_sites["away"]
        response = client_for(two_sites["boss"]).post(
            f"/products/lots/{lot.pk}/transfer/", {"to_unit": away.pk, "quantity": "50"}
        )
        assert response.status_code == 200 and "has 20 vial(s) in Main fridge" in response.content.decode()
        assert not Lot.objects.filter(storage_unit=away).exists()

    def test_practitioners_see_the_patients_treated_and_the_front_desk_does_not(
        self, two_sites, client_for, location, practitioner
    ):
        lot = two_sites["lot"]
        for name in ("Ann", "Ben"):
            session = ready_session(PatientFactory(location=location, first_name=name), practitioner)
            chart(session, practitioner, line_input(Lot.objects.get(pk=lot.pk)))
        page = client_for(practitioner).get(f"/products/lots/{lot.pk}/").content.decode()
        assert 'id="lot-patients-table"' in page and "Ann " in page and "Ben " in page
        assert "2 patients in 2 treatments" in page
        # The front desk sees no stock at all; a role that saw lots without clinical records
        # would get the page without the section (the section asks for view_clinical_record).
        desk = staff(FRONT_DESK, location, username="desk2")
        response = client_for(desk).get(f"/products/lots/{lot.pk}/")
        assert response.status_code == 403 and "Ann " not in response.content.decode()
        from clinic.dashboard import sections_for

        assert sections_for("products.lot", desk, lot) == []
        assert [s["template"] for s in sections_for("products.lot", practitioner, lot)] == [
            "clinic/reports/lot_patients.html"
        ]

    def test_a_lot_never_used_says_so(self, two_sites, client_for, practitioner):
        page = client_for(practitioner).get(f"/products/lots/{two_sites['lot'].pk}/").content.decode()
        assert 'id="lot-patients-none"' in page

    def test_the_lot_page_query_count_does_not_grow_with_treatments(
        self, two_sites, client_for, location, practitioner, django_assert_max_num_queries
    ):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        lot = two_sites["lot"]
        c = client_for(practitioner)

        def count() -> int:
            with CaptureQueriesContext(connection) as ctx:
                assert c.get(f"/products/lots/{lot.pk}/").status_code == 200
            return len(ctx)

        def treat() -> None:
            session = ready_session(PatientFactory(location=location), practitioner)
            chart(session, practitioner, line_input(Lot.objects.get(pk=lot.pk)))

        treat()
        few = count()
        for _ in range(4):
            treat()
        assert count() == few
