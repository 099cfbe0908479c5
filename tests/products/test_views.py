"""Products pages: happy paths, refusals on the forms, query counts (who may use them: test_access)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from clinic.models import Notification
from products.models import Excursion, Lot, LotStatus, OpenedVial, Product, StorageUnit, TemperatureReading
from products.services import reading_record, vial_open
from tests.products.factories import ProductFactory, StorageUnitFactory, make_lot

pytestmark = pytest.mark.django_db

GTIN = "09506000134352"


class TestAccess:
    def test_an_unknown_stock_action_is_a_404(self, client_for, manager, lot):
        assert client_for(manager).get(f"/products/lots/{lot.pk}/explode/").status_code == 404

    def test_the_navigation_shows_products_to_the_right_roles(
        self, client_for, front_desk, practitioner, manager, client
    ):
        assert "Cold chain" not in client_for(front_desk).get("/").text
        client.logout()
        body = client_for(practitioner).get("/").text
        assert "Stock" in body and "Cold chain" not in body
        client.logout()
        body = client_for(manager).get("/").text
        assert "Cold chain" in body and "Excursions" in body and "Stock and expiry" in body


class TestReceive:
    url = "/products/lots/receive/"

    def form(self, unit, **extra):
        return {
            "quantity": "6",
            "storage_unit": unit.pk,
            "packaging_intact": "on",
            "logger_ok": "unknown",
            **extra,
        }

    def test_a_manager_receives_a_typed_lot(self, client_for, manager, unit, product):
        expiry = (timezone.localdate() + dt.timedelta(days=300)).isoformat()
        response = client_for(manager).post(
            self.url, self.form(unit, lot_number="T-1", product=product.pk, expiry_date=expiry)
        )
        lot = Lot.objects.get(lot_number="T-1")
        assert response.status_code == 302 and response["Location"] == f"/products/lots/{lot.pk}/"
        assert lot.quantity_on_hand == 6 and lot.received_by == manager

    def test_a_scanned_gs1_string_fills_product_lot_and_expiry(self, client_for, manager, unit, product):
        scan = f"]C101{GTIN}17301231\x1d10SCAN-9\x1d21S1"
        response = client_for(manager).post(self.url, self.form(unit, lot_number=scan))
        lot = Lot.objects.get(lot_number="SCAN-9")
        assert response.status_code == 302
        assert (lot.product, lot.expiry_date, lot.gtin, lot.serial) == (
            product,
            dt.date(2030, 12, 31),
            GTIN,
            "S1",
        )

    def test_an_unknown_gtin_asks_for_the_product_and_keeps_the_scan(self, client_for, manager, unit):
        response = client_for(manager).post(
            self.url, self.form(unit, lot_number="(01)04006381333931(17)301231(10)Z9")
        )
        assert response.status_code == 200
        assert "No product in the catalogue has GTIN 04006381333931" in response.text
        assert 'value="Z9"' in response.text and not Lot.objects.exists()

    def test_an_unknown_gtin_can_be_recorded_on_the_chosen_product(self, client_for, manager, unit):
        from clinic.models import AuditEvent

        bare = ProductFactory(name="Plain Serum")
        assert bare.gtin == ""
        c = client_for(manager)
        first = c.post(self.url, self.form(unit, lot_number="(01)04006381333931(17)301231(10)Z9"))
        assert "Record this GTIN on the chosen product" in first.text
        # The manager picks the product (the form now holds lot Z9, the expiry and the GTIN) and ticks.
        again = self.form(
            unit, lot_number="Z9", expiry_date="2030-12-31", gtin="04006381333931", product=bare.pk
        )
        shown = c.post(self.url, {**again, "quantity": "0"})
        assert "Record GTIN 04006381333931 on Plain Serum" in shown.text
        response = c.post(self.url, {**again, "record_gtin": "on"})
        lot = Lot.objects.get(lot_number="Z9")
        assert response.status_code == 302 and lot.product == bare and lot.gtin == "04006381333931"
        bare.refresh_from_db()
        assert bare.gtin == "04006381333931"
        event = AuditEvent.objects.get(action="product.update")
        assert event.actor == manager
        # The next scan of that box finds the product by itself.
        c.post(self.url, self.form(unit, lot_number="(01)04006381333931(17)301231(10)Z10"))
        assert Lot.objects.get(lot_number="Z10").product == bare

    def test_an_unknown_gtin_is_accepted_without_recording_it(self, client_for, manager, unit):
        bare = ProductFactory(name="Plain Serum")
        form = self.form(
            unit, lot_number="Z9", expiry_date="2030-12-31", gtin="04006381333931", product=bare.pk
        )
        response = client_for(manager).post(self.url, form)
        assert response.status_code == 302
        assert Lot.objects.get(lot_number="Z9").gtin == "04006381333931"
        bare.refresh_from_db()
        assert bare.gtin == ""

    def test_a_gtin_of_another_product_is_refused_clearly(self, client_for, manager, unit, product):
        form = self.form(
            unit,
            lot_number="Z9",
            expiry_date="2030-12-31",
            gtin="04006381333931",
            product=product.pk,
            record_gtin="on",
        )
        response = client_for(manager).post(self.url, form)
        assert response.status_code == 200 and not Lot.objects.exists()
        assert (
            f"The scanned GTIN 04006381333931 is not {product.name}&#x27;s: the catalogue has {GTIN} for it."
            in response.text
        )
        product.refresh_from_db()
        assert product.gtin == GTIN

    def test_an_unreadable_scan_is_explained(self, client_for, manager, unit):
        response = client_for(manager).post(self.url, self.form(unit, lot_number="(01)09506000134353(10)A"))
        assert "The scan could not be read" in response.text and "check digit" in response.text

    def test_a_service_refusal_is_shown_on_the_form(self, client_for, manager, unit, product, lot):
        expiry = (timezone.localdate() + dt.timedelta(days=30)).isoformat()
        response = client_for(manager).post(
            self.url, self.form(unit, lot_number="A100", product=product.pk, expiry_date=expiry)
        )
        assert response.status_code == 200 and "is already in Main fridge" in response.text

    def test_units_of_other_locations_are_not_offered(self, client_for, manager, unit, other_unit, product):
        response = client_for(manager).post(
            self.url, self.form(other_unit, lot_number="X", product=product.pk, expiry_date="2031-01-01")
        )
        assert response.status_code == 200 and not Lot.objects.filter(lot_number="X").exists()

    def test_the_scan_endpoint_parses_for_the_live_fill(self, client_for, manager, product):
        data = client_for(manager).get("/products/lots/scan/", {"code": f"01{GTIN}1729113010L5"}).json()
        assert data == {
            "gtin": GTIN,
            "lot": "L5",
            "serial": "",
            "expiry": "2029-11-30",
            "product": product.pk,
            "product_name": product.name,
        }
        bad = client_for(manager).get("/products/lots/scan/", {"code": "99zz"})
        assert bad.status_code == 400 and "Unknown" in bad.json()["error"]


class TestStockActions:
    def test_waste_adjust_quarantine_release_and_recall(self, client_for, manager, lot):
        c = client_for(manager)
        base = f"/products/lots/{lot.pk}"
        assert c.post(f"{base}/waste/", {"quantity": 1, "reason": "broken"}).status_code == 302
        assert c.post(f"{base}/adjust/", {"counted": 8, "reason": "count"}).status_code == 302
        assert c.post(f"{base}/quarantine/", {"reason": "Seal"}).status_code == 302
        assert Lot.objects.get(pk=lot.pk).status == LotStatus.QUARANTINED
        assert c.post(f"{base}/release/", {"reason": "Checked"}).status_code == 302
        assert c.post(f"{base}/recall/", {"reason": "FSN"}).status_code == 302
        lot.refresh_from_db()
        assert (lot.quantity_on_hand, lot.status) == (8, LotStatus.RECALLED)
        kinds = list(lot.movements.values_list("kind", flat=True))
        assert kinds == ["received", "wasted", "adjusted", "quarantine", "release", "recall"]

    def test_a_missing_reason_is_explained(self, client_for, manager, lot):
        response = client_for(manager).post(f"/products/lots/{lot.pk}/adjust/", {"counted": 3})
        assert response.status_code == 200 and "This field is required" in response.text
        response = client_for(manager).post(
            f"/products/lots/{lot.pk}/waste/", {"quantity": 99, "reason": "broken"}
        )
        assert "only 10 vial" in response.text

    def test_transfer_offers_only_the_managers_other_units(self, client_for, manager, lot, unit, other_unit):
        second = StorageUnitFactory(location=unit.location, name="Back fridge")
        c = client_for(manager)
        page = c.get(f"/products/lots/{lot.pk}/transfer/")
        choices = list(page.context["form"].fields["to_unit"].queryset)
        assert choices == [second]
        assert c.post(f"/products/lots/{lot.pk}/transfer/", {"to_unit": other_unit.pk}).status_code == 200
        assert c.post(f"/products/lots/{lot.pk}/transfer/", {"to_unit": second.pk}).status_code == 302
        assert Lot.objects.get(pk=lot.pk).storage_unit == second

    def test_a_practitioner_opens_draws_and_discards_a_vial(self, client_for, practitioner, lot):
        c = client_for(practitioner)
        response = c.post(f"/products/lots/{lot.pk}/open-vial/")
        vial = OpenedVial.objects.get()
        assert response["Location"] == f"/products/vials/{vial.pk}/"
        assert (
            c.post(f"/products/vials/{vial.pk}/", {"volume_ml": "1.5", "reference": "P-1"}).status_code == 302
        )
        assert c.post(f"/products/vials/{vial.pk}/", {"volume_ml": "9"}).status_code == 200
        assert c.post(f"/products/vials/{vial.pk}/discard/", {"reason": "drawn_unused"}).status_code == 302
        vial.refresh_from_db()
        assert vial.volume_drawn_ml == Decimal("1.5") and vial.discarded_at is not None
        assert "Open vials" in c.get("/products/stock/").text

    def test_a_practitioner_cannot_waste_stock(self, client_for, practitioner, lot):
        assert (
            client_for(practitioner).post(f"/products/lots/{lot.pk}/waste/", {"quantity": 1}).status_code
            == 403
        )


class TestColdChainPages:
    def test_a_manual_reading_out_of_range_warns_and_quarantines(self, client_for, manager, unit, lot):
        response = client_for(manager).post(
            f"/products/units/{unit.pk}/readings/new/",
            {"taken_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"), "temperature_c": "9.2"},
            follow=True,
        )
        assert "stock is quarantined" in response.text
        assert Lot.objects.get(pk=lot.pk).status == LotStatus.QUARANTINED
        assert Notification.objects.filter(kind="excursion.opened", recipient_user=manager).exists()

    def test_an_import_with_a_bad_line_shows_the_line_and_imports_nothing(self, client_for, manager, unit):
        content = b"Timestamp,Temperature (C)\n2026-03-31 10:00:00,5\n2026-03-31 10:05:00,x\n"
        response = client_for(manager).post(
            f"/products/units/{unit.pk}/import/",
            {"file": SimpleUploadedFile("log.csv", content, "text/csv")},
            follow=True,
        )
        assert response.status_code == 200
        assert "Nothing was imported: 1 line(s)" in response.text
        assert "<td>3</td><td>“x” is not a temperature</td>" in response.text
        assert not TemperatureReading.objects.exists()

    def test_an_import_twice_says_so(self, client_for, manager, unit):
        content = b"Timestamp,Temperature (C)\n2026-03-31 10:00:00,5\n"
        c = client_for(manager)
        for _ in range(2):
            response = c.post(
                f"/products/units/{unit.pk}/import/",
                {"file": SimpleUploadedFile("log.csv", content, "text/csv")},
                follow=True,
            )
        assert "already imported" in response.text
        assert TemperatureReading.objects.count() == 1

    def test_the_unit_page_sends_few_points_for_a_busy_year(self, client_for, manager, unit):
        start = timezone.now() - dt.timedelta(days=365)
        TemperatureReading.objects.bulk_create(
            TemperatureReading(
                storage_unit=unit,
                taken_at=start + dt.timedelta(minutes=30 * i),
                temperature_c=5,
                source="logger",
            )
            for i in range(365 * 48)
        )
        response = client_for(manager).get(f"/products/units/{unit.pk}/", {"range": "365d"})
        series = response.context["series"]
        assert 300 < len(series["points"]) <= 500
        assert sum(1 for _ in series["points"]) <= 2000

    def test_a_manager_reviews_and_closes_an_excursion(self, client_for, manager, unit, lot):
        reading_record(
            unit=unit,
            actor=manager,
            temperature_c=Decimal("10"),
            taken_at=timezone.now() - dt.timedelta(hours=2),
        )
        reading_record(
            unit=unit,
            actor=manager,
            temperature_c=Decimal("5"),
            taken_at=timezone.now() - dt.timedelta(hours=1),
        )
        excursion = Excursion.objects.get()
        c = client_for(manager)
        review = {
            "what_happened": "Door ajar",
            "found_by": "Nadia",
            "prevention": "Alarm",
            "manufacturer_contact": "Benev",
            "manufacturer_answer": "Fine",
            f"decision_{lot.pk}": "release",
            f"reason_{lot.pk}": "Manufacturer says stable",
        }
        assert c.post(f"/products/excursions/{excursion.pk}/", {**review, "save": "1"}).status_code == 302
        assert Excursion.objects.get().is_open
        response = c.post(f"/products/excursions/{excursion.pk}/", {**review, "close": "1"})
        assert response.status_code == 302
        assert not Excursion.objects.get().is_open
        assert Lot.objects.get(pk=lot.pk).status == LotStatus.AVAILABLE
        # Closed: no more edits, addenda instead.
        assert c.post(f"/products/excursions/{excursion.pk}/", {**review, "save": "1"}).status_code == 403
        c.post(f"/products/excursions/{excursion.pk}/addendum/", {"text": "Alarm tested"})
        assert "Alarm tested" in c.get(f"/products/excursions/{excursion.pk}/").text

    def test_an_excursion_still_out_of_range_shows_the_time_elapsed_so_far(self, client_for, manager, unit):
        # One reading outside the range, three hours ago, none since: it has lasted three hours
        # (not "0 min", the span between its first and last readings).
        now = timezone.now().replace(microsecond=0)
        reading_record(
            unit=unit,
            actor=manager,
            temperature_c=Decimal("10"),
            taken_at=now - dt.timedelta(hours=3, minutes=5),
        )
        excursion = Excursion.objects.get()
        assert excursion.is_ongoing
        assert dt.timedelta(hours=3, minutes=5) <= excursion.duration < dt.timedelta(hours=3, minutes=7)
        c = client_for(manager)
        listing = c.get("/products/excursions/").text
        assert re.search(r"3 h [56] min so far \(ongoing\)", listing)
        assert "0 min" not in listing
        detail = c.get(f"/products/excursions/{excursion.pk}/").text
        assert re.search(r"3 h [56] min so far \(ongoing: still out of range\)", detail)
        # Back in range: the duration stops at the first reading inside it, no longer "ongoing".
        reading_record(
            unit=unit,
            actor=manager,
            temperature_c=Decimal("5"),
            taken_at=now - dt.timedelta(hours=1),
        )
        excursion.refresh_from_db()
        assert not excursion.is_ongoing and excursion.duration == dt.timedelta(hours=2, minutes=5)
        listing = c.get("/products/excursions/").text
        assert "2 h 5 min" in listing and "ongoing" not in listing

    def test_closing_without_decisions_explains_what_is_missing(self, client_for, manager, unit, lot):
        reading_record(unit=unit, actor=manager, temperature_c=Decimal("10"))
        excursion = Excursion.objects.get()
        response = client_for(manager).post(f"/products/excursions/{excursion.pk}/", {"close": "1"})
        assert response.status_code == 200
        assert "Decide about lot A100" in response.text and "record a reading first" in response.text


class TestCatalogue:
    def test_a_manager_adds_a_product_with_format_defaults(self, client_for, manager):
        response = client_for(manager).post(
            "/products/catalogue/new/",
            {"name": "Kimeravive X", "manufacturer": "Kimeravive", "source": "placenta", "format": "frozen",
             "vial_volume_ml": "2", "route_topical": "on", "is_active": "on"},
        )  # fmt: skip
        assert response.status_code == 302
        product = Product.objects.get(name="Kimeravive X")
        assert (product.storage_min_c, product.storage_max_c, product.use_within_hours) == (
            Decimal("-90"),
            Decimal("-15"),
            6,
        )

    def test_a_lyophilised_product_needs_its_diluent_volume(self, client_for, manager):
        response = client_for(manager).post(
            "/products/catalogue/new/",
            {
                "name": "Lyo",
                "manufacturer": "M",
                "source": "plant",
                "format": "lyophilised",
                "vial_volume_ml": "1",
            },
        )
        assert response.status_code == 200 and "reconstituted with" in response.text

    def test_a_units_logger_clock_is_set_on_its_form(self, client_for, manager, unit):
        data = {
            "location": unit.location_id, "name": unit.name, "kind": unit.kind, "min_c": "2",
            "max_c": "8", "is_active": "on", "logger_clock": "fixed",
        }  # fmt: skip
        c = client_for(manager)
        refused = c.post(f"/products/units/{unit.pk}/edit/", data)
        assert refused.status_code == 200 and "Give the logger clock&#x27;s offset from UTC" in refused.text
        assert (
            c.post(
                f"/products/units/{unit.pk}/edit/", {**data, "logger_utc_offset_minutes": "60"}
            ).status_code
            == 302
        )
        unit.refresh_from_db()
        assert (unit.logger_clock, unit.logger_utc_offset_minutes) == ("fixed", 60)
        assert unit.logger_tzinfo.utcoffset(None) == dt.timedelta(hours=1)

    def test_a_manager_adds_a_unit_only_at_their_locations(
        self, client_for, manager, location, other_location
    ):
        c = client_for(manager)
        ok = c.post(
            "/products/units/new/",
            {"location": location.pk, "name": "Freezer", "kind": "freezer_80", "is_active": "on"},
        )
        assert ok.status_code == 302
        unit = StorageUnit.objects.get(name="Freezer")
        assert (unit.min_c, unit.max_c) == (Decimal("-90"), Decimal("-60"))
        refused = c.post(
            "/products/units/new/", {"location": other_location.pk, "name": "X", "kind": "fridge"}
        )
        assert refused.status_code == 200 and not StorageUnit.objects.filter(name="X").exists()


class TestQueryCounts:
    def _grow(self, unit, manager, n):
        for _ in range(n):
            make_lot(unit=unit, product=ProductFactory(), quantity=3, actor=manager)

    @pytest.mark.parametrize(
        ("url", "queries"),
        [
            ("/products/stock/", 11),  # + 1: low-stock badges (reorder levels)
            ("/products/lots/", 8),
            ("/products/units/", 8),
            ("/products/excursions/", 7),
            ("/products/catalogue/", 7),
            ("/", 15),  # + 1: the stock panel's low-stock list with its total (a window count)
        ],
    )
    def test_list_pages_do_not_grow_with_data(
        self, client_for, manager, unit, django_assert_num_queries, url, queries
    ):
        c = client_for(manager)
        self._grow(unit, manager, 2)
        # Every list starts with at least one row of each kind (an empty page skips queries).
        first = StorageUnitFactory(location=unit.location, name="First")
        reading_record(unit=first, actor=manager, temperature_c=Decimal("12"))
        vial_open(lot=Lot.objects.first(), actor=manager)
        c.get(url)
        with django_assert_num_queries(queries, info=f"{url}, two lots"):
            assert c.get(url).status_code == 200
        self._grow(unit, manager, 12)
        for i in range(3):
            other = StorageUnitFactory(location=unit.location, name=f"Unit {i}")
            reading_record(unit=other, actor=manager, temperature_c=Decimal("12"))
        for lot in Lot.objects.all()[:5]:
            vial_open(lot=lot, actor=manager)
        with django_assert_num_queries(queries, info=f"{url}, twelve more lots, units and vials"):
            assert c.get(url).status_code == 200

    def test_the_lot_page_does_not_grow_with_its_ledger(
        self, client_for, manager, lot, django_assert_num_queries
    ):
        c = client_for(manager)
        # 11 for the lot, its ledger, vials, excursions and documents; 1 for its places; 2 for
        # the patients treated with it (their count and the latest).
        with django_assert_num_queries(14, info="received only"):
            c.get(f"/products/lots/{lot.pk}/")
        for _ in range(5):
            vial_open(lot=lot, actor=manager)
        with django_assert_num_queries(14, info="five vials opened"):
            c.get(f"/products/lots/{lot.pk}/")

    def test_the_unit_page_does_not_grow_with_readings(
        self, client_for, manager, unit, lot, django_assert_num_queries
    ):
        c = client_for(manager)
        reading_record(unit=unit, actor=manager, temperature_c=Decimal("5"))
        # PostgreSQL runs one statement more: the chart's SET LOCAL work_mem. Two are the
        # logger's: learning its interval from its samples, and finding its gaps (once, for
        # the chart and the missed-checks list).
        queries = 17 + (connection.vendor == "postgresql")
        with django_assert_num_queries(queries, info="one reading"):
            c.get(f"/products/units/{unit.pk}/")
        now = timezone.now()
        for i in range(1, 30):
            reading_record(
                unit=unit, actor=manager, temperature_c=Decimal("5"), taken_at=now - dt.timedelta(hours=i)
            )
        with django_assert_num_queries(queries, info="thirty readings"):
            c.get(f"/products/units/{unit.pk}/")

    def test_the_excursion_page_does_not_grow_with_held_lots(
        self, client_for, manager, unit, django_assert_num_queries
    ):
        make_lot(unit=unit, actor=manager)
        reading_record(unit=unit, actor=manager, temperature_c=Decimal("10"))
        excursion = Excursion.objects.get()
        c = client_for(manager)
        with django_assert_num_queries(7, info="one held lot"):
            c.get(f"/products/excursions/{excursion.pk}/")
        for _ in range(6):  # received into a unit out of range: confirmed, and held
            make_lot(unit=unit, actor=manager, hold_confirmed=True)
        with django_assert_num_queries(7, info="six more lots held"):
            c.get(f"/products/excursions/{excursion.pk}/")
