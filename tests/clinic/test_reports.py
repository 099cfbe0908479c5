"""Manager reports: totals against a hand-computed fixture, exports, scope, query counts.

Who may read each report: tests/clinic/test_access.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.utils import timezone

from clinic.models import Notification
from clinic.reports.periods import add_months, month_start
from products.models import Excursion, ExcursionLot, StorageUnit, TemperatureReading
from products.models.coldchain import ReadingSource
from products.services import stock_use, stock_waste, vial_discard, vial_draw, vial_open
from tests.products.factories import ProductFactory, StorageUnitFactory, make_lot
from tests.treatments.factories import PatientFactory, SessionFactory, at
from treatments.models import SessionStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(location, other_location, manager, practitioner, other_manager):
    """A small, hand-countable stock history at the manager's location and one elsewhere.

    At Marylebone:
      Serum A (£120, 5 mL vials), lot A1 of 10: 2 used, 1 opened (2 mL drawn, 3 mL discarded
        "drawn unused"), 1 broken  → 6 on hand.
      Serum B (£50), lot B1 of 4: 1 expired (written off), 1 opened and still open → 2 on hand.
    At Manchester (never in the manager's reports): Serum A lot M1 of 7, 3 used, 1 broken.
    """
    unit = StorageUnitFactory(location=location, name="Main fridge")
    other_unit = StorageUnitFactory(location=other_location, name="Manchester fridge")
    serum_a = ProductFactory(name="Serum A", unit_cost=Decimal("120.00"), vial_volume_ml=Decimal("5"))
    serum_b = ProductFactory(name="Serum B", unit_cost=Decimal("50.00"), vial_volume_ml=Decimal("5"))
    a1 = make_lot(unit=unit, product=serum_a, quantity=10, lot_number="A1", actor=manager)
    b1 = make_lot(unit=unit, product=serum_b, quantity=4, lot_number="B1", actor=manager)
    m1 = make_lot(unit=other_unit, product=serum_a, quantity=7, lot_number="M1", actor=other_manager)
    stock_use(lot=a1, quantity=2, actor=practitioner)
    vial = vial_open(lot=a1, actor=practitioner)
    vial_draw(vial=vial, volume_ml=Decimal("2"), actor=practitioner)
    vial_discard(vial=vial, actor=practitioner, reason="drawn_unused")
    stock_waste(lot=a1, quantity=1, reason="broken", actor=manager)
    stock_waste(lot=b1, quantity=1, reason="expired", actor=manager)
    vial_open(lot=b1, actor=manager)
    stock_use(lot=m1, quantity=3, actor=other_manager)
    stock_waste(lot=m1, quantity=1, reason="broken", actor=other_manager)
    return {"unit": unit, "other_unit": other_unit, "a1": a1, "b1": b1, "m1": m1, "a": serum_a, "b": serum_b}


def _failed(**kwargs) -> Notification:
    return Notification.objects.create(
        kind="x", channel="email", to_address="a@b.c", subject="s", body="b", status="failed", **kwargs
    )


def _csv(response) -> list[list[str]]:
    assert response.streaming
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


# --- Hand-computed totals ---------------------------------------------------------------------


def test_usage_counts_used_and_opened_vials_per_product_and_person(ledger, location, client_for, manager):
    response = client_for(manager).get("/clinic/reports/usage/")
    assert response.status_code == 200
    by_product = {t["product"]: (t["vials"], t["value"]) for t in response.context["by_product"]}
    assert by_product == {"Serum A": (3, Decimal("360.00")), "Serum B": (1, Decimal("50.00"))}
    assert response.context["total_vials"] == 4
    assert response.context["total_value"] == Decimal("410.00")
    rows = {(r["product"], r["practitioner"]): (r["used"], r["opened"]) for r in response.context["rows"]}
    assert rows == {("Serum A", "Priya Shah"): (2, 1), ("Serum B", manager.get_full_name()): (0, 1)}


def test_usage_export_streams_the_same_rows(ledger, client_for, manager):
    rows = _csv(client_for(manager).get("/clinic/reports/usage/export.csv"))
    assert rows[0] == [
        "month",
        "product",
        "practitioner",
        "sealed_vials_used",
        "vials_opened",
        "vials",
        "value_gbp",
    ]
    month = timezone.localdate().strftime("%Y-%m")
    assert sorted(rows[1:]) == sorted(
        [
            [month, "Serum A", "Priya Shah", "2", "1", "3", "360.00"],
            [month, "Serum B", manager.get_full_name(), "0", "1", "1", "50.00"],
        ]
    )


def test_waste_by_reason_with_its_value(ledger, client_for, manager):
    response = client_for(manager).get("/clinic/reports/waste/")
    totals = {t["reason"]: t for t in response.context["totals"]}
    # Every reason is listed, zero when nothing was wasted for it.
    assert set(totals) >= {"expired", "temperature", "beyond_use", "broken", "drawn_unused"}
    assert (totals["broken"]["sealed_vials"], totals["broken"]["value"]) == (1, Decimal("120.00"))
    assert (totals["expired"]["sealed_vials"], totals["expired"]["value"]) == (1, Decimal("50.00"))
    drawn = totals["drawn_unused"]
    # 3 mL of a 5 mL vial at £120 = £72.
    assert (drawn["opened_vials"], drawn["opened_ml"], drawn["value"]) == (
        1,
        Decimal("3.00"),
        Decimal("72.00"),
    )
    assert totals["temperature"]["value"] == totals["beyond_use"]["value"] == Decimal("0")
    assert response.context["total_value"] == Decimal("242.00")


def test_waste_export_streams_rows_per_reason_and_product(ledger, client_for, manager):
    rows = _csv(client_for(manager).get("/clinic/reports/waste/export.csv"))
    body = {(r[0], r[2]): r[3:] for r in rows[1:]}
    assert body == {
        ("broken", "Serum A"): ["1", "120.00", "0", "0", "0", "120.00"],
        ("drawn_unused", "Serum A"): ["0", "0", "1", "3.00", "72.00", "72.00"],
        ("expired", "Serum B"): ["1", "50.00", "0", "0", "0", "50.00"],
    }


def test_stock_valuation_is_on_hand_times_unit_cost(ledger, client_for, manager):
    response = client_for(manager).get("/clinic/reports/valuation/")
    rows = {r["product__name"]: r for r in response.context["rows"]}
    assert set(rows) == {"Serum A", "Serum B"}  # Manchester's lot is not here
    assert (rows["Serum A"]["on_hand"], rows["Serum A"]["value"]) == (6, Decimal("720.00"))
    assert (rows["Serum B"]["on_hand"], rows["Serum B"]["value"], rows["Serum B"]["open_vials"]) == (
        2,
        Decimal("100.00"),
        1,
    )
    assert response.context["total_value"] == Decimal("820.00")
    exported = _csv(client_for(manager).get("/clinic/reports/valuation/export.csv"))
    assert [r[1] for r in exported[1:]] == ["Serum A", "Serum B"]
    assert [Decimal(r[8]) for r in exported[1:]] == [Decimal("720"), Decimal("100")]


def test_held_stock_is_valued_apart_from_usable_stock(ledger, client_for, manager):
    from products.services import lot_quarantine

    lot_quarantine(lot=ledger["b1"], actor=manager, reason="Leaking box")
    rows = {
        r["product__name"]: r for r in client_for(manager).get("/clinic/reports/valuation/").context["rows"]
    }
    assert (rows["Serum B"]["usable"], rows["Serum B"]["held"], rows["Serum B"]["usable_value"]) == (
        0,
        2,
        None,
    )


def test_the_period_filter_leaves_out_older_movements(ledger, client_for, manager):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    response = client_for(manager).get(f"/clinic/reports/usage/?date_from={tomorrow}&date_to={tomorrow}")
    assert response.context["rows"] == []


def test_the_location_filter_narrows_to_one_of_the_managers_locations(
    ledger, location, other_location, client_for
):
    from clinic.roles import MANAGER
    from tests.factories import staff

    both = staff(MANAGER, location, other_location, username="mgr_both")
    client = client_for(both)
    everything = client.get("/clinic/reports/valuation/").context["total_value"]
    assert everything == Decimal("820.00") + 3 * Decimal("120.00")
    only = client.get(f"/clinic/reports/valuation/?location={other_location.pk}").context["total_value"]
    assert only == 3 * Decimal("120.00")


# --- Dashboard ---------------------------------------------------------------------------------


def test_dashboard_shows_stock_expiry_cold_chain_messages_and_todays_sessions(
    ledger, location, other_location, client_for, manager, practitioner
):
    soon = make_lot(
        unit=ledger["unit"],
        product=ledger["a"],
        quantity=3,
        lot_number="SOON",
        expiry=timezone.localdate() + dt.timedelta(days=10),
    )
    _failed(dedupe_key="f1", location=location)
    _failed(dedupe_key="f2", location=other_location)
    today = timezone.localdate()
    patient = PatientFactory(location=location)
    SessionFactory(
        patient=patient, practitioner=practitioner, starts_at=at(today, 9), status=SessionStatus.COMPLETED
    )
    SessionFactory(patient=patient, practitioner=practitioner, starts_at=at(today, 15))
    SessionFactory(patient=patient, practitioner=practitioner, starts_at=at(today, 17), status="cancelled")
    SessionFactory(patient=PatientFactory(location=other_location), starts_at=at(today, 11))
    response = client_for(manager).get("/clinic/reports/")
    assert response.status_code == 200
    ctx = response.context
    stock = {r["product"]: r for r in ctx["stock"]}
    assert (stock["Serum A"]["on_hand"], stock["Serum A"]["value"]) == (9, Decimal("1080.00"))
    assert (stock["Serum B"]["on_hand"], stock["Serum B"]["open_vials"]) == (2, 1)
    assert ctx["stock_value"] == Decimal("1180.00")
    assert [lot.pk for lot in ctx["expiring"]] == [soon.pk] and ctx["expiring_count"] == 1
    assert ctx["notifications"]["failed"] == 1
    assert ctx["today"] == [
        {"practitioner": "Priya Shah", "total": 2, "booked": 1, "in_clinic": 0, "done": 1, "no_show": 0}
    ]
    # Charts: this month's usage per product, waste value per reason, sessions per practitioner.
    usage = {d["label"]: d["data"][-1] for d in ctx["charts"]["usage"]["datasets"]}
    assert usage == {"Serum A": 3, "Serum B": 1}
    waste = dict(zip(ctx["charts"]["waste"]["labels"], ctx["charts"]["waste"]["values"], strict=True))
    assert waste["Broken"] == 120.0 and waste["Drawn, unused"] == 72.0 and waste["Expired"] == 50.0
    chart = ctx["charts"]["sessions"]
    assert chart["labels"] == ["Priya Shah"]  # the other location's session is not counted
    assert {d["label"]: d["data"] for d in chart["datasets"]} == {
        "Completed": [1],
        "No-show": [0],
        "Cancelled": [1],
    }
    html = response.content.decode()
    assert 'data-source="chart-usage"' in html and 'id="chart-usage"' in html
    assert "/clinic/outbox/?status=failed" in html


def test_dashboard_lists_open_excursions_and_units_missing_checks(ledger, client_for, manager):
    now = timezone.now()
    Excursion.objects.create(
        storage_unit=ledger["unit"],
        started_at=now,
        last_out_at=now,
        lowest_c=Decimal("9"),
        highest_c=Decimal("10"),
    )
    Excursion.objects.create(
        storage_unit=ledger["other_unit"],
        started_at=now,
        last_out_at=now,
        lowest_c=Decimal("9"),
        highest_c=Decimal("10"),
    )
    ctx = client_for(manager).get("/clinic/reports/").context
    assert [e.storage_unit_id for e in ctx["excursions"]] == [ledger["unit"].pk]
    # Nobody checked the unit by hand in the last working half-day (and it existed then: a
    # unit created since was not due a check, issue 13).
    StorageUnit.objects.update(created_at=now - dt.timedelta(days=14))
    ctx = client_for(manager).get("/clinic/reports/").context
    assert [u["pk"] for u in ctx["missed_checks"]] == [ledger["unit"].pk]


def test_a_unit_checked_in_the_last_half_day_is_not_listed(ledger, client_for, manager):
    from products.services.checks import last_manual_check_periods

    start, _ = last_manual_check_periods(timezone.now(), 1)[0]
    StorageUnit.objects.update(created_at=start - dt.timedelta(days=14))
    TemperatureReading.objects.create(
        storage_unit=ledger["unit"],
        taken_at=start + dt.timedelta(minutes=5),
        temperature_c=Decimal("5"),
        source=ReadingSource.MANUAL,
    )
    assert client_for(manager).get("/clinic/reports/").context["missed_checks"] == []


def test_dashboard_counts_lots_not_cleared_for_use(ledger, client_for, manager):
    make_lot(unit=ledger["unit"], product=ProductFactory(name="Uncleared", cleared=False), quantity=2)
    gaps = client_for(manager).get("/clinic/reports/").context["compliance"]
    assert gaps == {"Lots in stock not cleared for use": 1, "Products concerned": 1}


def _more_data(ledger, location, practitioner, manager):
    product = ProductFactory(name="Serum C", unit_cost=Decimal("10"))
    for i in range(3):
        lot = make_lot(
            unit=ledger["unit"],
            product=product,
            quantity=5,
            expiry=timezone.localdate() + dt.timedelta(days=5 + i),
        )
        stock_use(lot=lot, quantity=1, actor=practitioner)
        stock_waste(lot=lot, quantity=1, reason="temperature", actor=manager)
        vial_discard(vial=vial_open(lot=lot, actor=practitioner), actor=practitioner, reason="beyond_use")
    unit = StorageUnitFactory(location=location, name="Second fridge")
    now = timezone.now()
    Excursion.objects.create(
        storage_unit=unit, started_at=now, last_out_at=now, lowest_c=Decimal("9"), highest_c=Decimal("10")
    )
    today = timezone.localdate()
    for hour in (9, 10, 11):
        SessionFactory(
            patient=PatientFactory(location=location),
            practitioner=practitioner,
            starts_at=at(today, hour),
            status=SessionStatus.COMPLETED,
        )
        SessionFactory(
            patient=PatientFactory(location=location), starts_at=at(today - dt.timedelta(days=40), hour)
        )


@pytest.mark.parametrize(
    ("url", "queries"),
    [
        ("/clinic/reports/", 19),
        ("/clinic/reports/usage/", 7),
        ("/clinic/reports/waste/", 8),
        ("/clinic/reports/valuation/", 7),
    ],
)
def test_query_count_does_not_grow_with_the_data(
    url, queries, ledger, location, client_for, manager, practitioner, django_assert_num_queries
):
    client = client_for(manager)
    client.get(url)  # warm caches (content types, sessions)
    with django_assert_num_queries(queries, info=f"{url} (-v lists the queries)"):
        assert client.get(url).status_code == 200
    _more_data(ledger, location, practitioner, manager)
    with django_assert_num_queries(queries, info=f"{url} with more data (-v lists the queries)"):
        assert client.get(url).status_code == 200


# --- Cold-chain monthly report -------------------------------------------------------------------


@pytest.fixture
def cold_month(ledger, manager):
    unit = ledger["unit"]
    month = add_months(month_start(timezone.localdate()), -1)
    tz = timezone.get_current_timezone()

    def t(day, hour):
        return dt.datetime.combine(month + dt.timedelta(days=day - 1), dt.time(hour), tz)

    TemperatureReading.objects.bulk_create(
        [
            TemperatureReading(
                storage_unit=unit,
                taken_at=t(1, 9),
                temperature_c=Decimal("5.0"),
                min_c=Decimal("3.0"),
                max_c=Decimal("6.0"),
                source=ReadingSource.MANUAL,
                recorded_by=manager,
            ),
            TemperatureReading(
                storage_unit=unit, taken_at=t(1, 12), temperature_c=Decimal("4.0"), source="logger"
            ),
            TemperatureReading(
                storage_unit=unit, taken_at=t(2, 12), temperature_c=Decimal("9.5"), source="logger"
            ),
            TemperatureReading(
                storage_unit=unit, taken_at=t(2, 13), temperature_c=Decimal("7.5"), source="logger"
            ),
            # The next month: not in this report.
            TemperatureReading(
                storage_unit=unit,
                taken_at=dt.datetime.combine(add_months(month, 1), dt.time(9), tz),
                temperature_c=Decimal("20"),
                source="logger",
            ),
        ]
    )
    excursion = Excursion.objects.create(
        storage_unit=unit,
        started_at=t(2, 12),
        last_out_at=t(2, 12),
        back_in_range_at=t(2, 13),
        lowest_c=Decimal("9.5"),
        highest_c=Decimal("9.5"),
        what_happened="Door left ajar during a delivery",
        reviewed_by=manager,
        closed_at=t(3, 10),
    )
    ExcursionLot.objects.create(
        excursion=excursion,
        lot=ledger["a1"],
        quantity_at_start=6,
        decision="release",
        reason="Maker says fine",
    )
    return {"unit": unit, "month": month, "excursion": excursion}


def test_coldchain_report_has_every_day_with_min_max_and_the_excursion_decisions(
    cold_month, client_for, manager
):
    unit, month = cold_month["unit"], cold_month["month"]
    response = client_for(manager).get(f"/clinic/reports/cold-chain/?unit={unit.pk}&month={month:%Y-%m}")
    assert response.status_code == 200
    days = response.context["days"]
    assert len(days) == (add_months(month, 1) - month).days
    assert (days[0]["lo"], days[0]["hi"], days[0]["n"], days[0]["manual"]) == (
        Decimal("3.00"),
        Decimal("6.00"),
        2,
        1,
    )
    assert not days[0]["out_of_range"]
    assert (days[1]["lo"], days[1]["hi"], days[1]["out_of_range"]) == (Decimal("7.50"), Decimal("9.50"), True)
    assert days[2]["n"] == 0 and days[2]["lo"] is None
    assert response.context["out_days"] == 1
    assert [e.pk for e in response.context["excursions"]] == [cold_month["excursion"].pk]
    html = response.content.decode()
    assert "Door left ajar" in html and "Release for use" in html and "Maker says fine" in html
    assert "data-print" in html and 'id="coldchain-data"' in html


def test_coldchain_export_streams_the_daily_table(cold_month, client_for, manager):
    unit, month = cold_month["unit"], cold_month["month"]
    rows = _csv(
        client_for(manager).get(f"/clinic/reports/cold-chain/export.csv?unit={unit.pk}&month={month:%Y-%m}")
    )
    assert rows[0] == [
        "day", "min_c", "max_c", "readings", "manual_checks", "out_of_range", "logger_gap_minutes",
    ]  # fmt: skip
    # The logger's samples (learnt interval: hourly) stop at noon on the 1st until noon on the 2nd.
    assert rows[1] == [month.isoformat(), "3.00", "6.00", "2", "1", "no", "720"]
    assert rows[2][5] == "yes"
    assert len(rows) == 1 + (add_months(month, 1) - month).days


def test_coldchain_report_of_another_locations_unit_is_404(cold_month, ledger, client_for, manager):
    month = cold_month["month"]
    for url in ("/clinic/reports/cold-chain/", "/clinic/reports/cold-chain/export.csv"):
        response = client_for(manager).get(f"{url}?unit={ledger['other_unit'].pk}&month={month:%Y-%m}")
        assert response.status_code == 404


def test_coldchain_report_query_count_is_fixed(cold_month, client_for, manager, django_assert_num_queries):
    unit, month = cold_month["unit"], cold_month["month"]
    url = f"/clinic/reports/cold-chain/?unit={unit.pk}&month={month:%Y-%m}"
    client = client_for(manager)
    client.get(url)
    # Two of them the logger's: learning its interval, and finding its gaps.
    with django_assert_num_queries(14, info="one excursion"):
        client.get(url)
    excursion = Excursion.objects.create(
        storage_unit=unit,
        started_at=timezone.make_aware(dt.datetime.combine(month + dt.timedelta(days=5), dt.time(8))),
        last_out_at=timezone.make_aware(dt.datetime.combine(month + dt.timedelta(days=5), dt.time(9))),
        lowest_c=Decimal("1"),
        highest_c=Decimal("1.5"),
        closed_at=timezone.now(),
    )
    ExcursionLot.objects.create(
        excursion=excursion, lot=cold_month["excursion"].lots.first().lot, quantity_at_start=1
    )
    with django_assert_num_queries(14, info="two excursions"):
        client.get(url)


# --- Navigation and the dashboard -------------------------------------------------------------------


def test_reports_are_in_the_navigation_and_linked_from_the_role_dashboard(client_for, manager, practitioner):
    html = client_for(manager).get("/").content.decode()
    assert 'href="/clinic/reports/"' in html
    html = client_for(practitioner).get("/").content.decode()
    assert "/clinic/reports/" not in html
