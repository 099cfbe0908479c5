"""Issue 13: one excursion per event, in any order, and the stock it exposed from the ledger."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from clinic.models import AuditEvent
from products.models import Excursion, Lot, LotStatus, StockMovement
from products.services import (
    excursion_close,
    reading_record,
    readings_import_file,
    stock_transfer,
    stock_use,
)
from products.services.excursions import EVENT_GAP, split_events
from tests.products.factories import StorageUnitFactory, make_lot

pytestmark = pytest.mark.django_db

D = Decimal


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=timezone.get_current_timezone())


NOW = at(2026, 5, 12, 12, 0)  # a Tuesday; the logger file is from last month
DAY = (2026, 4, 14)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


FILE_START, FILE_END = at(*DAY, 6, 0), at(*DAY, 18, 0)


def two_events_file(*, start=FILE_START, end=FILE_END) -> bytes:
    """5-minute samples, 5 °C but too warm 08:00–08:15 and too cold 16:00–16:15."""
    lines = ["Timestamp,Temperature (°C)"]
    when = start
    while when <= end:
        if at(*DAY, 8, 0) <= when <= at(*DAY, 8, 15):
            value = "9.5" if when != at(*DAY, 8, 10) else "11.2"
        elif at(*DAY, 16, 0) <= when <= at(*DAY, 16, 15):
            value = "1.4" if when != at(*DAY, 16, 5) else "0.8"
        else:
            value = "5"
        lines.append(f"{timezone.localtime(when):%Y-%m-%d %H:%M:%S},{value}")
        when += dt.timedelta(minutes=5)
    return ("\n".join(lines) + "\n").encode()


def import_file(unit, manager, content: bytes, name: str = "logger.csv"):
    return readings_import_file(unit=unit, file=content, filename=name, actor=manager)


def spans():
    return [
        (e.started_at, e.back_in_range_at, e.duration, e.lowest_c, e.highest_c)
        for e in Excursion.objects.order_by("started_at")
    ]


TWO_EVENTS = [
    (at(*DAY, 8, 0), at(*DAY, 8, 20), dt.timedelta(minutes=20), D("9.5"), D("11.2")),
    (at(*DAY, 16, 0), at(*DAY, 16, 20), dt.timedelta(minutes=20), D("0.8"), D("1.4")),
]


class TestOneExcursionPerEvent:
    def test_a_file_with_two_spells_makes_two_excursions_of_the_right_length(self, unit, manager):
        result = import_file(unit, manager, two_events_file())
        assert spans() == TWO_EVENTS
        assert len(result.excursions.opened) == 2
        assert AuditEvent.objects.filter(action="excursion.open").count() == 2

    def test_an_old_file_leaves_todays_open_excursion_alone(self, unit, manager):
        reading_record(
            unit=unit, actor=manager, temperature_c=D("10.5"), taken_at=NOW - dt.timedelta(hours=1)
        )
        today = Excursion.objects.get()
        import_file(unit, manager, two_events_file())
        today.refresh_from_db()
        assert (today.started_at, today.last_out_at) == (NOW - dt.timedelta(hours=1),) * 2
        assert today.is_ongoing and (today.lowest_c, today.highest_c) == (D("10.5"), D("10.5"))
        old = Excursion.objects.exclude(pk=today.pk).order_by("started_at")
        assert [(e.started_at, e.back_in_range_at) for e in old] == [(s, b) for s, b, *_ in TWO_EVENTS]
        assert not AuditEvent.objects.filter(action="excursion.extend").exists()

    def test_reimporting_or_overlapping_files_never_duplicates_an_event(self, unit, manager):
        import_file(unit, manager, two_events_file())
        assert import_file(unit, manager, two_events_file()).already_imported
        wider = import_file(unit, manager, two_events_file(start=at(*DAY, 4, 0)), name="wider.csv")
        assert wider.added == 24 and not wider.excursions.opened
        assert spans() == TWO_EVENTS

    def test_a_file_in_two_parts_in_either_order_gives_the_same_events(self, unit, other_unit, manager):
        first = two_events_file(end=at(*DAY, 8, 10))  # ends while too warm
        rest = two_events_file(start=at(*DAY, 8, 10))
        import_file(unit, manager, first)
        assert Excursion.objects.get().is_ongoing
        import_file(unit, manager, rest)
        assert spans() == TWO_EVENTS
        assert Excursion.objects.count() == 2

    def test_the_later_part_first_then_the_earlier_one(self, unit, manager):
        import_file(unit, manager, two_events_file(start=at(*DAY, 12, 0)))
        import_file(unit, manager, two_events_file(end=at(*DAY, 12, 0)))
        assert spans() == TWO_EVENTS

    def test_readings_days_apart_with_nothing_between_are_two_events(self, unit):
        start = at(*DAY, 8, 0)
        rows = [
            (start, D("9"), None, None),
            (start + EVENT_GAP + dt.timedelta(minutes=1), D("10"), None, None),
            (start + EVENT_GAP + dt.timedelta(minutes=31), D("5"), None, None),
        ]
        first, second = split_events(unit, rows)
        assert first.end_unknown and first.back_in_range_at is None
        assert second.back_in_range_at == rows[2][0] and not second.end_unknown

    def test_a_manual_check_seeing_a_maximum_out_of_range_is_out(self, unit):
        rows = [(at(*DAY, 9, 0), D("5"), D("4"), D("9")), (at(*DAY, 13, 0), D("5"), D("4"), D("6"))]
        (event,) = split_events(unit, rows)
        assert (event.highest_c, event.back_in_range_at) == (D("9"), at(*DAY, 13, 0))


class TestExposureFromTheLedger:
    @pytest.fixture
    def stock(self, unit, manager, location):
        """In April: A in the unit then moved out before the first spell, B moved in during
        it, C there all day, E used up before it; D received today (after both)."""
        elsewhere = StorageUnitFactory(location=location, name="Spare fridge")
        with time_machine.travel(at(*DAY, 7, 0), tick=False):
            lots = {
                "A": make_lot(unit=unit, actor=manager, lot_number="A-OUT"),
                "B": make_lot(unit=elsewhere, actor=manager, lot_number="B-IN"),
                "C": make_lot(unit=unit, actor=manager, lot_number="C-STAY"),
                "E": make_lot(unit=unit, actor=manager, lot_number="E-USED", quantity=1),
            }
        with time_machine.travel(at(*DAY, 7, 30), tick=False):
            stock_transfer(lot=lots["A"], to_unit=elsewhere, actor=manager)
        with time_machine.travel(at(*DAY, 7, 45), tick=False):
            stock_use(lot=lots["E"], quantity=1, actor=manager)
        with time_machine.travel(at(*DAY, 8, 10), tick=False):
            stock_transfer(lot=lots["B"], to_unit=unit, actor=manager)
        lots["D"] = make_lot(unit=unit, actor=manager, lot_number="D-NEW")
        return lots

    def exposure(self, excursion):
        return dict(excursion.lots.values_list("lot__lot_number", "exposed_minutes"))

    def test_an_old_file_holds_the_lots_that_were_there_for_the_minutes_they_were(self, unit, manager, stock):
        import_file(unit, manager, two_events_file())
        first, second = Excursion.objects.order_by("started_at")
        assert self.exposure(first) == {"B-IN": 10, "C-STAY": 20}
        assert self.exposure(second) == {"B-IN": 20, "C-STAY": 20}
        assert first.lots.get(lot=stock["B"]).quantity_at_start == 10
        for name in ("A", "D"):  # moved out before it, received after it
            assert Lot.objects.get(pk=stock[name].pk).status == LotStatus.AVAILABLE
        for name in ("B", "C"):  # over, but they may have been spoiled: held for review
            assert Lot.objects.get(pk=stock[name].pk).status == LotStatus.QUARANTINED
        assert not stock["E"].excursions.exists()

    def test_exposure_adds_up_over_a_lots_life(self, unit, manager, stock, client_for):
        import_file(unit, manager, two_events_file())
        page = client_for(manager).get(f"/products/lots/{stock['B'].pk}/").text
        assert "Time out of range over its life: 30 min</strong> in 2 excursions" in page
        first = Excursion.objects.order_by("started_at").first()
        page = client_for(manager).get(f"/products/excursions/{first.pk}/").text
        assert "10 min out of range in this excursion, 30 min over its life." in page
        assert "20 min out of range in this excursion, 40 min over its life." in page

    def test_closing_records_the_final_exposure_and_each_decision(self, unit, manager, stock):
        import_file(unit, manager, two_events_file())
        first = Excursion.objects.order_by("started_at").first()
        excursion_close(
            excursion=first,
            actor=manager,
            decisions={stock["B"].pk: ("discard", "10 min warm"), stock["C"].pk: ("discard", "20 min")},
            what_happened="Door ajar",
            found_by="Logger download",
            prevention="Door alarm",
        )
        first.refresh_from_db()
        assert not first.is_open and self.exposure(first) == {"B-IN": 10, "C-STAY": 20}


class TestStockIntoAUnitOutOfRange:
    @pytest.fixture
    def ongoing(self, unit, manager):
        reading_record(
            unit=unit, actor=manager, temperature_c=D("11"), taken_at=NOW - dt.timedelta(minutes=30)
        )
        return Excursion.objects.get()

    def test_a_transfer_in_is_refused_without_the_confirmation(self, unit, manager, location, ongoing):
        spare = StorageUnitFactory(location=location, name="Spare")
        lot = make_lot(unit=spare, actor=manager)
        with pytest.raises(ValidationError, match="confirm that the lot will be held"):
            stock_transfer(lot=lot, to_unit=unit, actor=manager)
        lot.refresh_from_db()
        assert lot.storage_unit == spare and not lot.is_quarantined
        assert not StockMovement.objects.filter(lot=lot, kind="transfer").exists()

    def test_with_the_confirmation_it_is_held_and_its_minutes_count_from_arrival(
        self, unit, manager, location, ongoing
    ):
        spare = StorageUnitFactory(location=location, name="Spare")
        lot = make_lot(unit=spare, actor=manager)
        stock_transfer(lot=lot, to_unit=unit, actor=manager, hold_confirmed=True)
        assert Lot.objects.get(pk=lot.pk).status == LotStatus.QUARANTINED
        with time_machine.travel(NOW + dt.timedelta(minutes=15), tick=False):
            reading_record(unit=unit, actor=manager, temperature_c=D("5"))
        ongoing.refresh_from_db()
        assert ongoing.back_in_range_at == NOW + dt.timedelta(minutes=15)
        assert ongoing.lots.get(lot=lot).exposed_minutes == 15

    def test_a_unit_back_in_range_takes_stock_without_holding_it(self, unit, manager, ongoing):
        reading_record(
            unit=unit, actor=manager, temperature_c=D("5"), taken_at=NOW - dt.timedelta(minutes=10)
        )
        lot = make_lot(unit=unit, actor=manager)  # arrives after the event: not exposed
        assert Lot.objects.get(pk=lot.pk).status == LotStatus.AVAILABLE
        assert not ongoing.lots.exists()


class TestTheFourBugs:
    def test_a_check_just_recorded_is_recognised_on_the_dashboard(self, unit, manager, client_for):
        unit.created_at = NOW - dt.timedelta(days=14)
        unit.save(update_fields=["created_at"])
        # Tuesday noon: Monday afternoon, the last completed half-day, had no check.
        assert [u["pk"] for u in client_for(manager).get("/clinic/reports/").context["missed_checks"]] == [
            unit.pk
        ]
        reading_record(unit=unit, actor=manager, temperature_c=D("5"), taken_at=NOW - dt.timedelta(minutes=5))
        page = client_for(manager).get("/clinic/reports/")
        assert page.context["missed_checks"] == []
        assert "Every unit was checked last half-day." in page.text

    def test_a_unit_created_today_has_missed_nothing_from_before(self, location, manager, client_for):
        with time_machine.travel(at(2026, 5, 12, 9, 0), tick=False):
            unit = StorageUnitFactory(location=location, name="New fridge")
        assert client_for(manager).get("/clinic/reports/").context["missed_checks"] == []
        from products.services import missed_checks

        assert missed_checks(unit, since=NOW - dt.timedelta(days=14), until=NOW) == []
        with time_machine.travel(at(2026, 5, 12, 18, 30), tick=False):  # the afternoon went unchecked
            gaps = missed_checks(unit, since=NOW - dt.timedelta(days=14))
        assert [(g.after, g.before) for g in gaps] == [(at(2026, 5, 12, 13, 0), at(2026, 5, 12, 18, 0))]
        page = client_for(manager).get(f"/products/units/{unit.pk}/").text
        assert "28 Apr" not in page

    def test_the_chart_axis_has_one_tick_per_day_or_per_hour(self, unit):
        from products.charts import temperature_series

        week = temperature_series(unit, start=NOW - dt.timedelta(days=7), end=NOW)["ticks"]
        assert [t["label"] for t in week] == [f"{d:02d} May" for d in range(6, 13)]
        steps = {b["v"] - a["v"] for a, b in itertools.pairwise(week)}
        assert steps == {86_400_000}  # evenly spaced (no clock change in May)
        day = temperature_series(unit, start=NOW - dt.timedelta(days=1), end=NOW)["ticks"]
        assert len(day) == 25 and day[0]["label"] == "12:00" and day[-1]["label"] == "12:00"

    def test_the_chart_axis_keeps_one_tick_per_real_hour_the_night_clocks_go_forward(self, unit):
        from products.charts import axis_ticks

        ticks = axis_ticks(at(2026, 3, 28, 22, 0), at(2026, 3, 29, 4, 0))
        labels = [t["label"] for t in ticks]
        if timezone.get_current_timezone_name() == "Europe/London":
            assert labels == ["22:00", "23:00", "00:00", "02:00", "03:00", "04:00"]
        assert {b["v"] - a["v"] for a, b in itertools.pairwise(ticks)} == {3_600_000}

    @pytest.fixture
    def warm(self, unit, manager):
        reading_record(
            unit=unit, actor=manager, temperature_c=D("11"), taken_at=NOW - dt.timedelta(minutes=20)
        )
        return unit

    def test_the_transfer_form_refuses_a_move_into_a_unit_out_of_range_until_confirmed(
        self, warm, manager, location, client_for
    ):
        spare = StorageUnitFactory(location=location, name="Spare")
        lot = make_lot(unit=spare, actor=manager)
        url = f"/products/lots/{lot.pk}/transfer/"
        response = client_for(manager).post(url, {"to_unit": warm.pk})
        assert response.status_code == 200 and "out of range right now" in response.text
        lot.refresh_from_db()
        assert lot.storage_unit == spare and not lot.is_quarantined
        response = client_for(manager).post(url, {"to_unit": warm.pk, "hold_confirmed": "on"})
        assert response.status_code == 302
        lot.refresh_from_db()
        assert lot.storage_unit == warm and lot.status == LotStatus.QUARANTINED

    def test_the_receive_form_refuses_a_receipt_into_a_unit_out_of_range_until_confirmed(
        self, warm, manager, product, client_for
    ):
        form = {
            "quantity": "6",
            "storage_unit": warm.pk,
            "packaging_intact": "on",
            "logger_ok": "unknown",
            "lot_number": "HOT-1",
            "product": product.pk,
            "expiry_date": "2027-05-01",
        }
        response = client_for(manager).post("/products/lots/receive/", form)
        assert response.status_code == 200 and "out of range right now" in response.text
        assert not Lot.objects.filter(lot_number="HOT-1").exists()
        response = client_for(manager).post("/products/lots/receive/", {**form, "hold_confirmed": "on"})
        assert response.status_code == 302
        assert Lot.objects.get(lot_number="HOT-1").status == LotStatus.QUARANTINED

    def test_an_ongoing_excursion_cannot_be_closed_as_over(self, warm, manager):
        with pytest.raises(ValidationError, match="still going on"):
            excursion_close(
                excursion=Excursion.objects.get(),
                actor=manager,
                decisions={},
                what_happened="x",
                found_by="y",
                prevention="z",
            )


class TestBreachRules:
    @pytest.fixture
    def lot(self, unit, manager):
        with time_machine.travel(at(*DAY, 7, 0), tick=False):
            return make_lot(unit=unit, actor=manager, lot_number="IN-FRIDGE")

    def rules(self, unit, **rules):
        for name, value in rules.items():
            setattr(unit, name, value)
        unit.save()

    def test_by_default_any_reading_out_of_range_is_a_breach(self, unit, manager, lot):
        import_file(unit, manager, two_events_file())
        assert [e.breach for e in Excursion.objects.order_by("started_at")] == [
            "Too warm for 20 min (rule: any reading out of range)",
            "Too cold for 20 min (rule: any reading out of range)",
        ]

    def test_too_warm_and_too_cold_have_their_own_continuous_rules(self, unit, manager, lot):
        from clinic.models import Notification

        self.rules(unit, warm_after_minutes=30, cold_after_minutes=20)
        import_file(unit, manager, two_events_file())
        warm, cold = Excursion.objects.order_by("started_at")
        assert warm.breach == "" and warm.lots.get().exposed_minutes == 20  # recorded, visible
        assert cold.breach == "Too cold for 20 min (rule: 20 min continuously)"
        assert Lot.objects.get(pk=lot.pk).hold_reason.startswith(f"Temperature excursion #{cold.pk}")
        assert {n.dedupe_key.split(":")[1] for n in Notification.objects.filter(kind="excursion.opened")} == {
            str(cold.pk)
        }

    def test_a_dip_below_every_rule_holds_nothing_and_closes_without_decisions(self, unit, manager, lot):
        self.rules(unit, warm_after_minutes=30, cold_after_minutes=30)
        import_file(unit, manager, two_events_file())
        assert Lot.objects.get(pk=lot.pk).status == LotStatus.AVAILABLE
        warm = Excursion.objects.order_by("started_at").first()
        excursion_close(
            excursion=warm, actor=manager, decisions={}, what_happened="Restock", found_by="Logger",
            prevention="Quicker restocking",
        )  # fmt: skip
        assert not Excursion.objects.get(pk=warm.pk).is_open

    def test_a_cumulative_rule_adds_up_the_sides_excursions_within_24_hours(self, unit, manager, lot):
        self.rules(unit, warm_after_minutes=60, warm_cumulative_minutes=30, cold_after_minutes=60)
        lines = ["Timestamp,Temperature (°C)"]
        for minute in range(0, 6 * 60, 5):  # 20 min too warm at 08:00 and again at 11:00
            when = at(*DAY, 7, 0) + dt.timedelta(minutes=minute + 60)
            warm = any(dt.timedelta(0) <= when - at(*DAY, h, 0) < dt.timedelta(minutes=20) for h in (8, 11))
            lines.append(f"{timezone.localtime(when):%Y-%m-%d %H:%M:%S},{'9.5' if warm else '5'}")
        import_file(unit, manager, ("\n".join(lines) + "\n").encode())
        first, second = Excursion.objects.order_by("started_at")
        assert first.breach == ""
        assert second.breach == "Too warm for 40 min within 24 h (rule: 30 min)"
        assert Lot.objects.get(pk=lot.pk).status == LotStatus.QUARANTINED

    def test_an_ongoing_excursion_breaches_once_it_lasts_long_enough(self, unit, manager):
        self.rules(unit, warm_after_minutes=30)
        with time_machine.travel(NOW - dt.timedelta(hours=1), tick=False):
            lot = make_lot(unit=unit, actor=manager)
        reading_record(
            unit=unit, actor=manager, temperature_c=D("9"), taken_at=NOW - dt.timedelta(minutes=20)
        )
        assert Excursion.objects.get().breach == ""
        assert Lot.objects.get(pk=lot.pk).status == LotStatus.AVAILABLE
        with time_machine.travel(NOW + dt.timedelta(minutes=15), tick=False):
            reading_record(unit=unit, actor=manager, temperature_c=D("9.4"))
        assert Excursion.objects.get().breach == "Too warm for 35 min (rule: 30 min continuously)"
        assert Lot.objects.get(pk=lot.pk).status == LotStatus.QUARANTINED

    def test_a_thawed_freezer_is_its_own_breach(self, location, manager):
        freezer = StorageUnitFactory(
            location=location, name="Freezer", kind="freezer_20", min_c=D("-25"), max_c=D("-15"),
            warm_after_minutes=600,
        )  # fmt: skip
        reading_record(
            unit=freezer, actor=manager, temperature_c=D("-12"), taken_at=NOW - dt.timedelta(hours=2)
        )
        assert Excursion.objects.get().breach == ""
        reading_record(
            unit=freezer, actor=manager, temperature_c=D("1.5"), taken_at=NOW - dt.timedelta(hours=1)
        )
        assert Excursion.objects.get().breach == "Thawed: 1.50 °C in a freezer"
