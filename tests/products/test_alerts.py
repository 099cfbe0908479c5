"""Alerts to managers: expiry digests, excursions, missed checks, certificates (time travel)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from clinic.models import AlertMark, Notification
from clinic.notifications import NotificationKind
from clinic.roles import FRONT_DESK, MANAGER, PRACTITIONER
from products.services import reading_record
from products.sweeps import (
    calibration_expiry_sweep,
    document_expiry_alerts,
    excursion_alerts_sweep,
    missed_check_sweep,
    product_expiry_sweep,
)
from tests.factories import staff
from tests.products.factories import ProductFactory, StorageUnitFactory, make_lot

pytestmark = pytest.mark.django_db


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=timezone.get_current_timezone())


def rows(kind: str, **filters) -> list[Notification]:
    return list(Notification.objects.filter(kind=kind, **filters).order_by("id"))


# --- Product expiry digest ------------------------------------------------------------------------


class TestExpiryDigest:
    @pytest.fixture
    def today(self):
        return timezone.localdate()

    def days_later(self, today: dt.date, n: int) -> dt.datetime:
        return at(today + dt.timedelta(days=n), 7)

    def test_a_lot_is_alerted_at_30_days_7_days_and_expiry_once_each(self, unit, manager, today):
        lot = make_lot(unit=unit, expiry=today + dt.timedelta(days=40), lot_number="EXP1", actor=manager)
        seen = []
        for n in range(41):  # every day until expiry, the sweep twice a day
            product_expiry_sweep(now=self.days_later(today, n))
            product_expiry_sweep(now=self.days_later(today, n) + dt.timedelta(hours=3))
            emails = rows(NotificationKind.PRODUCT_EXPIRY_DIGEST, channel="email")
            if len(emails) > len(seen):
                seen.append((n, emails[-1]))
        assert [n for n, _ in seen] == [10, 33, 40]
        assert "Expiring within 30 days" in seen[0][1].body
        assert "Expiring within 7 days" in seen[1][1].body
        assert "Expired or expiring today" in seen[2][1].body
        assert all(f"lot {lot.lot_number}" in row.body for _, row in seen)
        assert AlertMark.objects.filter(key__startswith=f"lot_expiry:{lot.pk}:").count() == 3

    def test_one_digest_per_location_and_manager_with_all_its_lots(
        self, unit, other_unit, manager, other_manager, location, other_location, today
    ):
        both = staff(MANAGER, location, other_location, username="mgr_both")
        staff(FRONT_DESK, location, username="desk")  # not a manager: no digest
        staff(PRACTITIONER, location, username="prac2")
        for i, days in enumerate((3, 20, 25)):
            make_lot(unit=unit, expiry=today + dt.timedelta(days=days), lot_number=f"M{i}", actor=manager)
        make_lot(unit=other_unit, expiry=today + dt.timedelta(days=5), lot_number="X1", actor=other_manager)
        make_lot(unit=unit, expiry=today + dt.timedelta(days=200), lot_number="FAR", actor=manager)
        product_expiry_sweep(now=at(today, 7))
        emails = rows(NotificationKind.PRODUCT_EXPIRY_DIGEST, channel="email")
        by_person = sorted((n.recipient_user.username, n.location_id) for n in emails)
        assert by_person == sorted(
            [
                ("mgr", location.pk),
                ("mgr_both", location.pk),
                ("mgr_both", other_location.pk),
                ("mgr_other", other_location.pk),
            ]
        )
        marylebone = next(n for n in emails if n.recipient_user == both and n.location_id == location.pk)
        assert "3 lots" in marylebone.subject
        assert all(f"lot M{i}" in marylebone.body for i in range(3)) and "FAR" not in marylebone.body
        assert "X1" not in marylebone.body
        assert "Expiring within 7 days" in marylebone.body and "Expiring within 30 days" in marylebone.body
        assert "<table" in marylebone.html_body and "Open in the site: http" in marylebone.body
        # The same digest in the site for each of them.
        assert len(rows(NotificationKind.PRODUCT_EXPIRY_DIGEST, channel="in_app")) == 4

    def test_a_second_sweep_the_same_day_sends_nothing_new(self, unit, manager, today):
        make_lot(unit=unit, expiry=today + dt.timedelta(days=7), actor=manager)
        product_expiry_sweep(now=at(today, 7))
        count = Notification.objects.count()
        product_expiry_sweep(now=at(today, 7, 1))
        product_expiry_sweep(now=at(today + dt.timedelta(days=1), 7))
        assert Notification.objects.count() == count == 2

    def test_a_lot_received_late_in_the_day_gets_its_own_digest(self, unit, manager, today):
        make_lot(unit=unit, expiry=today + dt.timedelta(days=7), lot_number="EARLY", actor=manager)
        product_expiry_sweep(now=at(today, 7))
        make_lot(unit=unit, expiry=today + dt.timedelta(days=6), lot_number="LATE", actor=manager)
        product_expiry_sweep(now=at(today, 16))
        first, second = rows(NotificationKind.PRODUCT_EXPIRY_DIGEST, channel="email")
        assert "EARLY" in first.body and "LATE" not in first.body
        assert "LATE" in second.body and "EARLY" not in second.body

    def test_empty_and_recalled_lots_are_left_out(self, unit, manager, today):
        from products.models import Lot

        empty = make_lot(unit=unit, expiry=today + dt.timedelta(days=5), lot_number="EMPTY", actor=manager)
        recalled = make_lot(
            unit=unit, expiry=today + dt.timedelta(days=5), lot_number="RECALL", actor=manager
        )
        Lot.objects.filter(pk=empty.pk).update(quantity_on_hand=0)
        Lot.objects.filter(pk=recalled.pk).update(is_recalled=True)
        assert product_expiry_sweep(now=at(today, 7)) == 0

    def test_lots_wait_for_a_manager_if_the_location_has_none(self, unit, location, today):
        make_lot(unit=unit, expiry=today + dt.timedelta(days=5))
        product_expiry_sweep(now=at(today, 7))
        assert Notification.objects.count() == 0 and AlertMark.objects.count() == 0
        staff(MANAGER, location, username="new_mgr")
        product_expiry_sweep(now=at(today + dt.timedelta(days=1), 7))
        assert len(rows(NotificationKind.PRODUCT_EXPIRY_DIGEST, channel="email")) == 1

    def test_the_thresholds_are_a_setting(self, unit, manager, today, settings):
        settings.PRODUCT_EXPIRY_ALERT_DAYS = [60]
        make_lot(unit=unit, expiry=today + dt.timedelta(days=50), actor=manager)
        product_expiry_sweep(now=at(today, 7))
        [email] = rows(NotificationKind.PRODUCT_EXPIRY_DIGEST, channel="email")
        assert "Expiring within 60 days" in email.body

    def test_the_query_count_does_not_grow_with_the_number_of_lots(
        self, unit, manager, today, django_assert_num_queries
    ):
        product = ProductFactory()

        def run(n: int, days: int) -> None:
            for i in range(n):
                make_lot(
                    unit=unit,
                    product=product,
                    expiry=today + dt.timedelta(days=days),
                    lot_number=f"Q{days}-{i}",
                    actor=manager,
                )
            with django_assert_num_queries(7, info=f"{n} more lots expiring in {days} days"):
                product_expiry_sweep(now=at(today, 7))

        run(2, 20)
        run(25, 5)


# --- Excursions -----------------------------------------------------------------------------------


class TestExcursionAlerts:
    def test_reviewing_managers_get_an_email_once_as_soon_as_an_excursion_opens(
        self, unit, manager, other_manager, location
    ):
        staff(PRACTITIONER, location, username="prac2")
        reading_record(unit=unit, actor=manager, temperature_c=Decimal("11.5"))
        # The products service wrote the in-site alert; the sweep adds the email.
        assert Notification.objects.filter(kind="excursion.opened", channel="in_app").count() == 1
        excursion_alerts_sweep()
        excursion_alerts_sweep()
        [email] = rows(NotificationKind.EXCURSION_OPENED, channel="email")
        assert email.to_address == manager.email and email.location_id == location.pk
        assert "Main fridge" in email.subject and "11.5" in email.body
        assert "/products/excursions/" in email.body and email.html_body
        assert Notification.objects.filter(kind="excursion.opened", channel="in_app").count() == 1

    def test_a_closed_excursion_is_not_alerted(self, unit, manager):
        from products.models import Excursion

        reading_record(unit=unit, actor=manager, temperature_c=Decimal("11.5"))
        Excursion.objects.update(closed_at=timezone.now())
        assert excursion_alerts_sweep() == 0

    def test_the_query_count_is_fixed(self, location, manager, django_assert_num_queries):
        def run(n: int) -> None:
            for _ in range(n):
                reading_record(
                    unit=StorageUnitFactory(location=location), actor=manager, temperature_c=Decimal("12")
                )
            with django_assert_num_queries(3, info=f"{n} more excursions"):
                excursion_alerts_sweep()

        run(1)
        run(6)


# --- Missed temperature checks ----------------------------------------------------------------------

TUESDAY = dt.date(2026, 3, 10)


class TestMissedChecks:
    def check(self, unit, actor, when):
        reading_record(unit=unit, actor=actor, temperature_c=Decimal("5"), taken_at=when)

    def test_a_working_half_day_without_a_manual_check_is_alerted_once(self, unit, manager):
        self.check(unit, manager, at(TUESDAY, 8, 30))
        assert missed_check_sweep(now=at(TUESDAY, 12)) == 0  # Monday is before its first reading
        assert missed_check_sweep(now=at(TUESDAY, 13, 20)) == 0  # the morning held a check
        missed_check_sweep(now=at(TUESDAY, 18, 20))
        missed_check_sweep(now=at(TUESDAY, 18, 40))
        [email] = rows(NotificationKind.COLDCHAIN_MISSED_CHECK, channel="email")
        assert "Main fridge" in email.subject
        assert "between 13:00 and 18:00" in email.body and "08:30" in email.body
        assert len(rows(NotificationKind.COLDCHAIN_MISSED_CHECK, channel="in_app")) == 1

    def test_checks_at_the_start_and_end_of_the_day_raise_nothing(self, unit, manager):
        for offset in range(3):
            day = TUESDAY + dt.timedelta(days=offset)
            self.check(unit, manager, at(day, 8, 15))
            self.check(unit, manager, at(day, 17, 45))
            assert missed_check_sweep(now=at(day, 13, 20)) == 0
            assert missed_check_sweep(now=at(day, 18, 20)) == 0

    def test_a_sweep_that_did_not_run_is_caught_up(self, unit, manager):
        self.check(unit, manager, at(TUESDAY, 8, 0))
        self.check(unit, manager, at(TUESDAY, 17, 0))
        # Wednesday: nothing recorded, and no sweep ran until Thursday morning.
        missed_check_sweep(now=at(TUESDAY + dt.timedelta(days=2), 9))
        assert len(rows(NotificationKind.COLDCHAIN_MISSED_CHECK, channel="email")) == 2

    def test_nights_and_weekends_do_not_count(self, unit, manager):
        friday = dt.date(2026, 3, 13)
        self.check(unit, manager, at(friday, 8, 30))
        self.check(unit, manager, at(friday, 17, 30))
        assert missed_check_sweep(now=at(friday + dt.timedelta(days=3), 10)) == 0

    def test_a_unit_never_checked_is_alerted_once(self, unit, manager):
        missed_check_sweep(now=at(TUESDAY, 13, 20))
        missed_check_sweep(now=at(TUESDAY, 18, 20))
        [email] = rows(NotificationKind.COLDCHAIN_MISSED_CHECK, channel="email")
        assert "has been recorded yet" in email.body

    def test_out_of_service_units_are_left_alone(self, unit, manager):
        unit.is_active = False
        unit.save()
        assert missed_check_sweep(now=at(TUESDAY, 15)) == 0

    def test_the_query_count_is_fixed(self, location, manager, django_assert_num_queries):
        def run(n: int) -> None:
            for _ in range(n):
                self.check(StorageUnitFactory(location=location), manager, at(TUESDAY, 8, 30))
            with django_assert_num_queries(3, info=f"{n} more units without an evening check"):
                missed_check_sweep(now=at(TUESDAY, 18, 20))

        run(1)
        run(8)
        assert len(rows(NotificationKind.COLDCHAIN_MISSED_CHECK, channel="email")) == 9


# --- Certificates and documents -------------------------------------------------------------------


class TestCertificateExpiry:
    def test_a_calibration_certificate_is_alerted_at_60_and_30_days_once_each(self, location, manager):
        unit = StorageUnitFactory(location=location, name="Vaccine fridge", calibration_expires_on=TUESDAY)
        sent_on = []
        for n in range(90, -1, -1):
            now = at(TUESDAY - dt.timedelta(days=n), 7)
            if calibration_expiry_sweep(now=now):
                sent_on.append(n)
            calibration_expiry_sweep(now=now)
        assert sent_on == [60, 30]
        first, second = rows(NotificationKind.CALIBRATION_EXPIRY, channel="email")
        assert "Expires in 60 days" in first.subject and "Vaccine fridge" in first.subject
        assert "Expires in 30 days" in second.subject
        assert f"/products/units/{unit.pk}/" in second.body
        assert len(rows(NotificationKind.CALIBRATION_EXPIRY, channel="in_app")) == 2

    def test_a_renewed_certificate_is_alerted_again_when_its_time_comes(self, location, manager):
        unit = StorageUnitFactory(location=location, calibration_expires_on=TUESDAY)
        calibration_expiry_sweep(now=at(TUESDAY - dt.timedelta(days=20), 7))
        unit.calibration_expires_on = TUESDAY + dt.timedelta(days=365)
        unit.save()
        calibration_expiry_sweep(now=at(TUESDAY + dt.timedelta(days=310), 7))
        assert len(rows(NotificationKind.CALIBRATION_EXPIRY, channel="email")) == 2

    def test_any_document_can_be_plugged_in(self, location, other_location, manager, other_manager):
        product = ProductFactory(name="Benev ERC")
        items = [
            (product, TUESDAY + dt.timedelta(days=45), location, "The CE certificate of Benev ERC", "/x/"),
            (
                "supplier-agreement:7",
                TUESDAY + dt.timedelta(days=29),
                other_location.pk,
                "Supplier agreement",
                "",
            ),
            ("far-away", TUESDAY + dt.timedelta(days=300), location, "Not yet", ""),
        ]
        document_expiry_alerts(items, now=at(TUESDAY, 7))
        document_expiry_alerts(items, now=at(TUESDAY, 8))
        emails = rows(NotificationKind.DOCUMENT_EXPIRY, channel="email")
        assert sorted((e.recipient_user.username, e.subject) for e in emails) == [
            ("mgr", "[Exosome Clinic] Expires in 45 days: The CE certificate of Benev ERC"),
            ("mgr_other", "[Exosome Clinic] Expires in 29 days: Supplier agreement"),
        ]

    def test_the_query_count_is_fixed(self, location, manager, django_assert_num_queries):
        def run(n: int) -> None:
            for _ in range(n):
                StorageUnitFactory(location=location, calibration_expires_on=TUESDAY + dt.timedelta(days=10))
            with django_assert_num_queries(7, info=f"{n} more certificates expiring"):
                calibration_expiry_sweep(now=at(TUESDAY, 7))

        run(1)
        run(8)
