"""The chart's database downsampling, the admin pages and the list filters."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.utils import timezone

from products.charts import MAX_BUCKETS, bucket_seconds, daily_extremes, temperature_series
from products.models import Lot, LotStatus, StockMovement, TemperatureReading
from products.services import (
    lot_quarantine,
    lot_release,
    stock_adjust,
    stock_use,
    stock_waste,
    vial_open,
)
from tests.factories import UserFactory
from tests.products.factories import ProductFactory, make_lot

pytestmark = pytest.mark.django_db


class TestChart:
    def test_buckets_hold_min_max_and_mean_computed_by_the_database(self, unit):
        start = dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC)
        values = [Decimal(v) for v in ("4.0", "6.0", "5.0", "9.0", "3.0", "3.0")]
        TemperatureReading.objects.bulk_create(
            TemperatureReading(
                storage_unit=unit,
                taken_at=start + dt.timedelta(minutes=5 * i),
                temperature_c=v,
                source="logger",
            )
            for i, v in enumerate(values)
        )
        series = temperature_series(unit, start=start, end=start + dt.timedelta(minutes=15))
        assert series["bucket_seconds"] == 300
        assert [(p["lo"], p["hi"]) for p in series["points"]] == [(4.0, 4.0), (6.0, 6.0), (5.0, 5.0)]
        # A day split into at most MAX_BUCKETS buckets of whole 5-minute steps.
        wide = temperature_series(unit, start=start, end=start + dt.timedelta(days=200))
        assert wide["bucket_seconds"] == bucket_seconds(start, start + dt.timedelta(days=200))
        assert wide["bucket_seconds"] % 300 == 0
        (point,) = wide["points"]
        assert (point["lo"], point["hi"], point["avg"]) == (3.0, 9.0, 5.0)
        assert point["t"] <= int(start.timestamp() * 1000)

    def test_a_year_never_has_more_than_the_bucket_limit(self):
        now = timezone.now()
        assert (365 * 86400) / bucket_seconds(now - dt.timedelta(days=365), now) <= MAX_BUCKETS

    def test_daily_extremes_are_per_local_day(self, unit):
        now = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
        for hours, value in ((0, "3.5"), (1, "7.5"), (24, "5.0")):
            TemperatureReading.objects.create(
                storage_unit=unit,
                taken_at=now - dt.timedelta(hours=hours),
                temperature_c=Decimal(value),
                source="manual",
            )
        days = daily_extremes(unit)
        assert [(d["lo"], d["hi"], d["n"]) for d in days] == [
            (Decimal("3.5"), Decimal("7.5"), 2),
            (Decimal("5.0"), Decimal("5.0"), 1),
        ]

    def test_daily_extremes_include_the_min_and_max_recorded_with_a_manual_check(
        self, client_for, manager, unit, django_assert_num_queries
    ):
        now = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
        TemperatureReading.objects.create(
            storage_unit=unit,
            taken_at=now,
            temperature_c=Decimal("9.8"),
            min_c=Decimal("6.10"),
            max_c=Decimal("11.40"),
            source="manual",
        )
        TemperatureReading.objects.create(
            storage_unit=unit,
            taken_at=now - dt.timedelta(hours=1),
            temperature_c=Decimal("7.0"),
            source="logger",
        )
        # Yesterday: a recorded minimum only (no maximum), below the current reading.
        TemperatureReading.objects.create(
            storage_unit=unit,
            taken_at=now - dt.timedelta(days=1),
            temperature_c=Decimal("5.0"),
            min_c=Decimal("2.5"),
            source="manual",
        )
        assert [(d["lo"], d["hi"], d["n"]) for d in daily_extremes(unit)] == [
            (Decimal("6.10"), Decimal("11.40"), 2),
            (Decimal("2.50"), Decimal("5.00"), 1),
        ]
        c = client_for(manager)
        page = c.get(f"/products/units/{unit.pk}/").text
        assert "<td>6.1 °C</td><td>11.4 °C</td><td>2</td>" in page
        assert "<td>2.5 °C</td><td>5.0 °C</td><td>1</td>" in page
        # Still one aggregate query, whatever the number of days and readings.
        with django_assert_num_queries(1, info="two days"):
            daily_extremes(unit)
        for day in range(2, 10):
            TemperatureReading.objects.create(
                storage_unit=unit,
                taken_at=now - dt.timedelta(days=day),
                temperature_c=Decimal("5.0"),
                min_c=Decimal("4.0"),
                max_c=Decimal("6.0"),
                source="manual",
            )
        with django_assert_num_queries(1, info="ten days"):
            assert len(daily_extremes(unit)) == 10


class TestAdmin:
    @pytest.mark.parametrize(
        "model",
        [
            "product",
            "lot",
            "stockmovement",
            "openedvial",
            "vialdraw",
            "storageunit",
            "temperaturereading",
            "readingimport",
            "excursion",
            "excursionaddendum",
        ],
    )
    def test_every_model_has_a_working_changelist(self, client, lot, model):
        admin = UserFactory(username="root", is_staff=True, is_superuser=True)
        client.force_login(admin)
        assert client.get(f"/admin/products/{model}/").status_code == 200

    def test_the_ledger_is_read_only_in_the_admin(self, client, lot):
        client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
        movement = lot.movements.get()
        assert client.get("/admin/products/stockmovement/add/").status_code == 403
        page = client.get(f"/admin/products/stockmovement/{movement.pk}/change/")
        assert page.status_code == 200 and 'type="submit"' not in page.text.split('id="content-main"')[1]
        assert client.post(f"/admin/products/stockmovement/{movement.pk}/delete/").status_code == 403


class TestFilters:
    def test_the_stock_overview_filters_by_format_status_and_location(
        self, client_for, manager, unit, other_location
    ):
        manager.staff_profile.locations.add(other_location)
        ProductFactory(name="Frozen one", format="frozen", storage_min_c=-90, storage_max_c=-15)
        liquid = ProductFactory(name="Liquid one")
        quarantined = make_lot(unit=unit, product=liquid, actor=manager)
        lot_quarantine(lot=quarantined, actor=manager, reason="check")
        c = client_for(manager)
        names = lambda r: [p.name for p in r.context["page"]]  # noqa: E731
        assert "Frozen one" in names(c.get("/products/stock/", {"format": "frozen"}))
        assert "Liquid one" not in names(c.get("/products/stock/", {"format": "frozen"}))
        assert names(c.get("/products/stock/", {"status": "quarantined"})) == ["Liquid one"]
        row = c.get("/products/stock/", {"status": "quarantined"}).context["page"][0]
        assert (row.on_hand, row.usable_on_hand, row.n_quarantined) == (10, 0, 1)
        other = c.get("/products/stock/", {"location": other_location.pk, "status": "quarantined"})
        assert names(other) == []

    def test_the_lot_list_sorts_by_expiry_and_filters_usable(self, client_for, manager, unit):
        today = timezone.localdate()
        late = make_lot(unit=unit, expiry=today + dt.timedelta(days=300), actor=manager)
        soon = make_lot(unit=unit, expiry=today + dt.timedelta(days=10), actor=manager)
        gone = make_lot(unit=unit, expiry=today + dt.timedelta(days=5), quantity=1, actor=manager)
        stock_use(lot=gone, quantity=1, actor=manager)
        c = client_for(manager)
        assert [lot.pk for lot in c.get("/products/lots/").context["page"]] == [gone.pk, soon.pk, late.pk]
        assert [lot.pk for lot in c.get("/products/lots/", {"sort": "-expiry"}).context["page"]] == [
            late.pk,
            soon.pk,
            gone.pk,
        ]
        assert [lot.pk for lot in c.get("/products/lots/", {"usable": "1"}).context["page"]] == [
            soon.pk,
            late.pk,
        ]
        statuses = [lot.status_code for lot in c.get("/products/lots/").context["page"]]
        assert statuses == [LotStatus.DEPLETED, LotStatus.EXPIRING_SOON, LotStatus.AVAILABLE]


def test_the_ledger_always_equals_the_quantity_on_hand(unit, manager):
    """Whatever sequence of actions succeeds or is refused, stock and ledger agree."""
    rng = random.Random(7)
    lots = [make_lot(unit=unit, quantity=rng.randint(1, 8), actor=manager) for _ in range(4)]
    actions = [
        lambda lot: stock_use(lot=lot, quantity=rng.randint(1, 4), actor=manager),
        lambda lot: stock_waste(lot=lot, quantity=rng.randint(1, 3), reason="broken", actor=manager),
        lambda lot: stock_adjust(lot=lot, counted=rng.randint(0, 9), reason="count", actor=manager),
        lambda lot: vial_open(lot=lot, actor=manager),
        lambda lot: lot_quarantine(lot=lot, actor=manager, reason="check"),
        lambda lot: lot_release(lot=lot, actor=manager, reason="ok"),
    ]
    for _ in range(200):
        with contextlib.suppress(ValidationError):
            rng.choice(actions)(rng.choice(lots))
    for lot in Lot.objects.filter(pk__in=[lot.pk for lot in lots]):
        ledger = StockMovement.objects.filter(lot=lot).aggregate(s=Sum("quantity"))["s"]
        last = StockMovement.objects.filter(lot=lot).order_by("-created_at", "-id").first()
        assert lot.quantity_on_hand == ledger == last.balance_after >= 0
