"""Reorder levels: the low-stock rule, the suggested order, the services, the sweep (once per
crossing), the manager's page and the badges on the stock overview and dashboard."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection, connections

from clinic.audit import AuditAction
from clinic.models import AlertMark, AuditEvent, Notification
from clinic.notifications import NotificationKind
from clinic.roles import FRONT_DESK, MANAGER
from products.models import ReorderLevel
from products.models.reorder import suggested_order_quantity
from products.services import (
    lot_quarantine,
    reorder_level_delete,
    reorder_level_set,
    stock_adjust,
    stock_use,
    stock_waste,
    vial_open,
)
from products.sweeps import low_stock_sweep
from tests.factories import staff
from tests.products.factories import ProductFactory, StorageUnitFactory, make_lot

pytestmark = pytest.mark.django_db

# A fixed "now" at a fixed hour: the suite passes whatever the clock says.
NOW = dt.datetime(2026, 11, 16, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def level_of(product, location) -> ReorderLevel:
    return ReorderLevel.objects.with_stock().get(product=product, location=location)


def low_ids() -> set[int]:
    return set(ReorderLevel.objects.low().values_list("pk", flat=True))


def digests(**filters) -> list[Notification]:
    return list(
        Notification.objects.filter(
            kind=NotificationKind.LOW_STOCK_DIGEST, channel="in_app", **filters
        ).order_by("id")
    )


# --- The rule ------------------------------------------------------------------------------------


class TestLowRule:
    def test_below_the_minimum_is_low_and_at_it_is_not(self, unit, product, manager):
        lot = make_lot(unit=unit, product=product, quantity=5, actor=manager)
        level = reorder_level_set(
            product=product, location=unit.location, minimum=5, reorder_quantity=10, actor=manager
        )
        assert level.pk not in low_ids()  # 5 on hand, minimum 5: at the minimum is not low
        assert not level_of(product, unit.location).is_low
        stock_use(lot=lot, quantity=1, actor=manager)
        assert level.pk in low_ids()  # 4 < 5
        assert level_of(product, unit.location).is_low

    def test_a_minimum_of_zero_never_alerts(self, unit, product, manager):
        level = reorder_level_set(
            product=product, location=unit.location, minimum=0, reorder_quantity=1, actor=manager
        )
        assert level.pk not in low_ids()  # nothing on hand at all, still not low

    def test_only_usable_vials_at_that_location_count(self, unit, other_unit, product, manager):
        make_lot(unit=unit, product=product, quantity=4, actor=manager)
        held = make_lot(unit=unit, product=product, quantity=10, actor=manager)
        lot_quarantine(lot=held, actor=manager, reason="Door left open")
        make_lot(unit=unit, product=product, quantity=10, actor=manager, coa=False)  # not cleared
        make_lot(unit=other_unit, product=product, quantity=50, actor=manager)  # elsewhere
        # A second unit at the same location counts: stock is per location, not per unit.
        spare = StorageUnitFactory(location=unit.location, name="Spare")
        make_lot(unit=spare, product=product, quantity=1, actor=manager)
        reorder_level_set(product=product, location=unit.location, minimum=6, reorder_quantity=5, actor=None)
        level = level_of(product, unit.location)
        assert level.usable_on_hand == 5
        assert level.is_low and level.pk in low_ids()

    def test_levels_are_counted_per_product(self, unit, manager):
        a, b = ProductFactory(), ProductFactory()
        make_lot(unit=unit, product=a, quantity=1, actor=manager)
        make_lot(unit=unit, product=b, quantity=9, actor=manager)
        la = reorder_level_set(product=a, location=unit.location, minimum=3, reorder_quantity=5, actor=None)
        lb = reorder_level_set(product=b, location=unit.location, minimum=3, reorder_quantity=5, actor=None)
        assert la.pk in low_ids() and lb.pk not in low_ids()


# --- The suggested order -------------------------------------------------------------------------


class TestSuggestion:
    @pytest.mark.parametrize(
        ("minimum", "reorder", "usable", "used", "expected"),
        [
            (5, 10, 2, 0, 10),  # no use: the reorder quantity
            (20, 5, 2, 0, 18),  # back up to the minimum
            (5, 10, 2, 40, 38),  # another 90 days like the last
            (5, 10, 50, 40, 10),  # plenty on hand: still at least the reorder quantity
        ],
    )
    def test_the_rule(self, minimum, reorder, usable, used, expected):
        got = suggested_order_quantity(minimum=minimum, reorder_quantity=reorder, usable=usable, used=used)
        assert got == expected

    def test_use_is_vials_used_or_opened_in_the_last_90_days(self, unit, product, manager, frozen):
        frozen.move_to(NOW - dt.timedelta(days=120), tick=False)
        lot = make_lot(unit=unit, product=product, quantity=40, actor=manager)
        frozen.move_to(NOW - dt.timedelta(days=91), tick=False)
        stock_use(lot=lot, quantity=10, actor=manager)  # too long ago
        frozen.move_to(NOW - dt.timedelta(days=89), tick=False)
        stock_use(lot=lot, quantity=6, actor=manager)
        frozen.move_to(NOW - dt.timedelta(days=10), tick=False)
        vial_open(lot=lot, actor=manager)  # one vial opened: use
        stock_waste(lot=lot, quantity=2, reason="broken", actor=manager)  # waste is not use
        stock_adjust(lot=lot, counted=19, reason="Recount", actor=manager)  # neither is a recount
        frozen.move_to(NOW, tick=False)
        reorder_level_set(product=product, location=unit.location, minimum=20, reorder_quantity=4, actor=None)
        level = level_of(product, unit.location)
        assert level.used_recently == 7
        assert level.usable_on_hand == 19
        # max(4, 20 - 19, 7 - 19) = 4
        assert level.suggested_order == 4
        stock_use(lot=lot, quantity=17, actor=manager)  # a busy day: 24 used, 2 left
        level = level_of(product, unit.location)
        assert (level.used_recently, level.usable_on_hand) == (24, 2)
        assert level.suggested_order == 22  # max(4, 18, 22)

    def test_use_at_another_location_does_not_count(self, unit, other_unit, product, manager):
        here = make_lot(unit=unit, product=product, quantity=5, actor=manager)
        there = make_lot(unit=other_unit, product=product, quantity=5, actor=manager)
        stock_use(lot=here, quantity=1, actor=manager)
        stock_use(lot=there, quantity=3, actor=manager)
        reorder_level_set(product=product, location=unit.location, minimum=1, reorder_quantity=1, actor=None)
        assert level_of(product, unit.location).used_recently == 1


# --- Services ------------------------------------------------------------------------------------


class TestServices:
    def test_set_creates_then_replaces_with_audit_rows(self, unit, product, manager):
        level = reorder_level_set(
            product=product, location=unit.location, minimum=3, reorder_quantity=10, actor=manager
        )
        again = reorder_level_set(
            product=product, location=unit.location, minimum=5, reorder_quantity=12, actor=manager
        )
        assert again.pk == level.pk and ReorderLevel.objects.count() == 1
        events = list(AuditEvent.objects.filter(action=AuditAction.REORDER_LEVEL_SET).order_by("id"))
        assert len(events) == 2
        assert events[0].before is None and events[0].after["minimum"] == 3
        assert events[1].before["minimum"] == 3 and events[1].after == {
            "product": product.pk,
            "location": unit.location.pk,
            "minimum": 5,
            "reorder_quantity": 12,
        }
        assert events[1].location_id == unit.location.pk and events[1].actor == manager

    @pytest.mark.parametrize(
        ("minimum", "reorder", "message"),
        [
            (-1, 5, "The minimum must be 0 or more"),
            (3, 0, "at least 1 vial"),
            (3, 20_000, "at most 10000 vials"),
        ],
    )
    def test_numbers_are_checked(self, unit, product, manager, minimum, reorder, message):
        with pytest.raises(ValidationError, match=message):
            reorder_level_set(
                product=product,
                location=unit.location,
                minimum=minimum,
                reorder_quantity=reorder,
                actor=manager,
            )
        assert (
            not ReorderLevel.objects.exists()
            and not AuditEvent.objects.filter(action=AuditAction.REORDER_LEVEL_SET).exists()
        )

    def test_an_inactive_product_or_another_location_is_refused(self, unit, other_location, manager):
        retired = ProductFactory(is_active=False)
        with pytest.raises(ValidationError, match="no longer in the catalogue"):
            reorder_level_set(
                product=retired, location=unit.location, minimum=1, reorder_quantity=1, actor=manager
            )
        with pytest.raises(ValidationError, match="You do not work at Manchester"):
            reorder_level_set(
                product=ProductFactory(),
                location=other_location,
                minimum=1,
                reorder_quantity=1,
                actor=manager,
            )

    def test_delete_is_audited(self, unit, product, manager, other_manager):
        level = reorder_level_set(
            product=product, location=unit.location, minimum=1, reorder_quantity=1, actor=None
        )
        with pytest.raises(ValidationError, match="You do not work at"):
            reorder_level_delete(level=level, actor=other_manager)
        reorder_level_delete(level=level, actor=manager)
        assert not ReorderLevel.objects.exists()
        event = AuditEvent.objects.get(action=AuditAction.REORDER_LEVEL_DELETE)
        assert event.before["minimum"] == 1 and event.actor == manager


# --- The sweep: once per crossing ----------------------------------------------------------------


class TestSweep:
    @pytest.fixture
    def low(self, unit, product, manager):
        lot = make_lot(unit=unit, product=product, quantity=10, actor=manager)
        reorder_level_set(
            product=product, location=unit.location, minimum=5, reorder_quantity=8, actor=manager
        )
        stock_use(lot=lot, quantity=7, actor=manager)  # 3 < 5
        return lot

    def test_a_crossing_is_told_once_not_every_day(self, low, manager, front_desk, frozen):
        assert low_stock_sweep(now=NOW) > 0
        low_stock_sweep(now=NOW + dt.timedelta(minutes=5))
        for day in range(1, 4):  # still low the next days: nothing new
            frozen.move_to(NOW + dt.timedelta(days=day), tick=False)
            assert low_stock_sweep() == 0
        [alert] = digests()
        assert alert.recipient_user == manager and alert.location_id == low.storage_unit.location_id
        assert "3 usable vials, minimum 5" in alert.body
        assert "Suggested order: 8 vials" in alert.body  # max(8, 5 - 3, 7 - 3)
        assert "1 product below the minimum at Marylebone" in alert.subject
        assert (
            Notification.objects.filter(kind=NotificationKind.LOW_STOCK_DIGEST, channel="email").count() == 1
        )
        assert not digests(recipient_user=front_desk)

    def test_back_above_and_below_again_is_a_new_crossing(self, low, unit, product, manager, frozen):
        low_stock_sweep(now=NOW)
        frozen.move_to(NOW + dt.timedelta(days=1), tick=False)
        fresh = make_lot(unit=unit, product=product, quantity=10, actor=manager)  # 13: not low
        low_stock_sweep()
        assert ReorderLevel.objects.get().low_since is None
        frozen.move_to(NOW + dt.timedelta(days=2), tick=False)
        stock_use(lot=fresh, quantity=10, actor=manager)  # 3 again
        low_stock_sweep()
        low_stock_sweep()
        assert len(digests()) == 2
        assert ReorderLevel.objects.get().low_since == NOW + dt.timedelta(days=2)

    def test_a_crossing_with_nobody_to_tell_waits_for_a_manager(self, unit, product, other_location):
        lot = make_lot(unit=unit, product=product, quantity=2)
        reorder_level_set(product=product, location=unit.location, minimum=5, reorder_quantity=8, actor=None)
        staff(MANAGER, other_location, username="elsewhere")
        staff(FRONT_DESK, unit.location, username="desk")
        assert low_stock_sweep(now=NOW) == 0
        assert not AlertMark.objects.filter(key__startswith="low_stock:").exists()
        newcomer = staff(MANAGER, unit.location, username="newcomer")
        low_stock_sweep(now=NOW + dt.timedelta(hours=1))
        [alert] = digests()
        assert alert.recipient_user == newcomer
        assert lot.product.name in alert.body

    def test_one_digest_per_location_and_day(self, unit, manager):
        products = [ProductFactory() for _ in range(3)]
        for p in products:
            make_lot(unit=unit, product=p, quantity=1, actor=manager)
            reorder_level_set(product=p, location=unit.location, minimum=2, reorder_quantity=4, actor=manager)
        low_stock_sweep(now=NOW)
        [alert] = digests()
        assert "3 products below the minimum" in alert.subject
        assert all(p.name in alert.body for p in products)

    def test_inactive_products_are_not_told(self, unit, manager):
        product = ProductFactory()
        reorder_level_set(
            product=product, location=unit.location, minimum=2, reorder_quantity=4, actor=manager
        )
        product.is_active = False
        product.save()
        assert low_stock_sweep(now=NOW) == 0

    def test_the_sweep_runs_a_fixed_number_of_queries(self, unit, manager, django_assert_num_queries):
        def grow(n):
            for _ in range(n):
                p = ProductFactory()
                make_lot(unit=unit, product=p, quantity=1, actor=manager)
                reorder_level_set(
                    product=p, location=unit.location, minimum=2, reorder_quantity=4, actor=None
                )

        grow(1)
        low_stock_sweep(now=NOW - dt.timedelta(days=1))  # warm up (content types, templates)
        ReorderLevel.objects.update(low_since=None)
        AlertMark.objects.all().delete()
        Notification.objects.all().delete()
        with django_assert_num_queries(9, info="one level"):
            low_stock_sweep(now=NOW)
        grow(6)
        ReorderLevel.objects.update(low_since=None)
        AlertMark.objects.all().delete()
        Notification.objects.all().delete()
        with django_assert_num_queries(9, info="seven levels"):
            low_stock_sweep(now=NOW + dt.timedelta(days=1))

    def test_the_beat_runs_it_daily(self):
        from django.conf import settings

        from products import tasks

        [entry] = [
            e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"].endswith("low_stock_alerts")
        ]
        assert entry["task"] == "products.tasks.low_stock_alerts" and hasattr(tasks, "low_stock_alerts")
        assert entry["schedule"].hour == {7}


# --- Pages ---------------------------------------------------------------------------------------


class TestPages:
    URL = "/products/stock/reorder/"

    def test_a_manager_sets_a_level(self, client_for, manager, product, unit):
        c = client_for(manager)
        page = c.get(f"{self.URL}?product={product.pk}")
        assert page.status_code == 200 and "Suggested order" in page.content.decode()
        assert page.context["form"].initial["product"] == product.pk
        r = c.post(
            self.URL,
            {"product": product.pk, "location": unit.location.pk, "minimum": 4, "reorder_quantity": 10},
        )
        assert r.status_code == 302
        level = ReorderLevel.objects.get()
        assert (level.minimum, level.reorder_quantity, level.updated_by) == (4, 10, manager)
        listing = c.get(self.URL).content.decode()
        assert product.name in listing and "Low stock" in listing  # nothing on hand

    def test_errors_are_explained(self, client_for, manager, product, unit):
        r = client_for(manager).post(
            self.URL,
            {"product": product.pk, "location": unit.location.pk, "minimum": -1, "reorder_quantity": 0},
        )
        body = r.content.decode()
        assert r.status_code == 200 and not ReorderLevel.objects.exists()
        assert "The minimum cannot be negative" in body
        assert "The reorder quantity must be at least 1 vial" in body

    def test_another_locations_product_place_is_not_offered(
        self, client_for, manager, product, other_location
    ):
        r = client_for(manager).post(
            self.URL,
            {"product": product.pk, "location": other_location.pk, "minimum": 1, "reorder_quantity": 1},
        )
        assert r.status_code == 200 and "Choose one of your locations" in r.content.decode()
        assert not ReorderLevel.objects.exists()

    def test_front_desk_and_practitioners_cannot_change_levels(
        self, client_for, front_desk, practitioner, product, unit
    ):
        level = reorder_level_set(
            product=product, location=unit.location, minimum=1, reorder_quantity=1, actor=None
        )
        for user in (front_desk, practitioner):
            c = client_for(user)
            assert c.get(self.URL).status_code == 403
            data = {"product": product.pk, "location": unit.location.pk, "minimum": 9, "reorder_quantity": 9}
            assert c.post(self.URL, data).status_code == 403
            assert c.post(f"{self.URL}{level.pk}/", {"minimum": 9, "reorder_quantity": 9}).status_code == 403
            assert c.post(f"{self.URL}{level.pk}/delete/").status_code == 403
        level.refresh_from_db()
        assert level.minimum == 1

    def test_another_locations_level_is_a_404(self, client_for, manager, other_location):
        theirs = reorder_level_set(
            product=ProductFactory(), location=other_location, minimum=1, reorder_quantity=1, actor=None
        )
        c = client_for(manager)
        assert c.get(f"{self.URL}{theirs.pk}/").status_code == 404
        assert c.post(f"{self.URL}{theirs.pk}/", {"minimum": 9, "reorder_quantity": 9}).status_code == 404
        assert c.post(f"{self.URL}{theirs.pk}/delete/").status_code == 404
        assert ReorderLevel.objects.get().minimum == 1

    @pytest.mark.parametrize("field", ["minimum", "reorder_quantity"])
    def test_absurd_numbers_are_a_form_error(self, client_for, manager, product, unit, field):
        c = client_for(manager)
        valid = {"product": product.pk, "location": unit.location.pk, "minimum": 2, "reorder_quantity": 4}
        for value in ("99999999999999999999", "-99999999999999999999", "1e309", "nan", "9" * 5000):
            r = c.post(self.URL, {**valid, field: value})
            assert r.status_code == 200 and r.context["form"].errors.get(field), value[:30]
        assert not ReorderLevel.objects.exists()

    def test_edit_and_delete(self, client_for, manager, product, unit):
        level = reorder_level_set(
            product=product, location=unit.location, minimum=1, reorder_quantity=1, actor=None
        )
        c = client_for(manager)
        assert c.post(f"{self.URL}{level.pk}/", {"minimum": 6, "reorder_quantity": 12}).status_code == 302
        level.refresh_from_db()
        assert (level.minimum, level.reorder_quantity) == (6, 12)
        bad = c.post(f"{self.URL}{level.pk}/", {"minimum": "x", "reorder_quantity": 12})
        assert "The minimum is a whole number of vials" in bad.content.decode()
        assert c.post(f"{self.URL}{level.pk}/delete/").status_code == 302
        assert not ReorderLevel.objects.exists()


class TestBadges:
    def test_the_overview_badges_low_stock_per_location(
        self, client_for, manager, unit, product, other_manager
    ):
        lot = make_lot(unit=unit, product=product, quantity=6, actor=manager)
        reorder_level_set(
            product=product, location=unit.location, minimum=5, reorder_quantity=10, actor=manager
        )
        c = client_for(manager)
        assert "Low stock at" not in c.get("/products/stock/").content.decode()
        stock_use(lot=lot, quantity=2, actor=manager)
        body = c.get("/products/stock/").content.decode()
        assert "Low stock at Marylebone: 4 usable, minimum 5, suggested order 10" in body
        assert 'href="/products/stock/reorder/"' in body
        # Another location's manager sees no badge for Marylebone.
        assert "Low stock at" not in client_for(other_manager).get("/products/stock/").content.decode()

    def test_practitioners_see_the_badge_but_no_link_to_change_levels(
        self, client_for, practitioner, unit, product
    ):
        make_lot(unit=unit, product=product, quantity=1)
        reorder_level_set(product=product, location=unit.location, minimum=5, reorder_quantity=10, actor=None)
        body = client_for(practitioner).get("/products/stock/").content.decode()
        assert "Low stock at Marylebone" in body and 'href="/products/stock/reorder/"' not in body

    def test_the_dashboard_badges_low_stock(self, client_for, manager, unit, product):
        make_lot(unit=unit, product=product, quantity=1, actor=manager)
        c = client_for(manager)
        assert "below minimum" not in c.get("/").content.decode()
        reorder_level_set(
            product=product, location=unit.location, minimum=5, reorder_quantity=10, actor=manager
        )
        body = c.get("/").content.decode()
        assert "1 below minimum" in body
        assert f"{product.name} (Marylebone): 1 usable, minimum 5 · order 10" in body

    def test_the_overview_query_count_does_not_grow(
        self, client_for, manager, unit, django_assert_num_queries
    ):
        def grow(n):
            for _ in range(n):
                p = ProductFactory()
                make_lot(unit=unit, product=p, quantity=1, actor=manager)
                reorder_level_set(
                    product=p, location=unit.location, minimum=3, reorder_quantity=5, actor=None
                )

        c = client_for(manager)
        grow(2)
        c.get("/products/stock/")
        with django_assert_num_queries(11, info="two low products"):
            assert "Low stock at" in c.get("/products/stock/").content.decode()
        grow(10)
        with django_assert_num_queries(11, info="twelve low products"):
            c.get("/products/stock/")
        with django_assert_num_queries(15, info="the dashboard, twelve low products"):
            c.get("/")


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are only meaningful on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_tell_a_crossing_once(unit, product, manager):
    lot = make_lot(unit=unit, product=product, quantity=4, actor=manager)
    reorder_level_set(product=product, location=unit.location, minimum=5, reorder_quantity=8, actor=manager)
    start = threading.Barrier(2)
    unexpected: list[BaseException] = []

    def sweep(offset: int) -> None:
        try:
            start.wait()
            low_stock_sweep(now=NOW + dt.timedelta(seconds=offset))
        except BaseException as exc:  # anything is a bug the test must show
            unexpected.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert unexpected == []
    assert len(digests()) == 1
    assert AlertMark.objects.filter(key__startswith="low_stock:").count() == 1
    assert lot.product.name in digests()[0].body
