"""Missing data-logger data (issue 14, item 4): the gap rule, the unit page and its chart, the
monthly cold-chain report, and the alert sweep (time frozen with time-machine)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from clinic.models import Notification
from clinic.notifications import NotificationKind
from clinic.roles import FRONT_DESK
from products.charts import temperature_series
from products.models import TemperatureReading
from products.models.coldchain import ReadingSource
from products.services.checks import (
    LOGGER_INTERVAL,
    logger_gaps,
    logger_gaps_by_unit,
    logger_interval,
    missed_checks,
)
from products.sweeps import logger_gap_sweep
from tests.factories import staff
from tests.products.factories import StorageUnitFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
MIN = dt.timedelta(minutes=1)
# A Saturday (no manual checks due), in winter time: local time is UTC.
SATURDAY = dt.datetime(2026, 3, 7, tzinfo=UTC)
# 25 October 2026: the clocks go back at 02:00 BST (01:00 UTC); the day has 25 hours.
CLOCKS_BACK = dt.datetime(2026, 10, 25, 1, 0, tzinfo=UTC)


def log(unit, start: dt.datetime, end: dt.datetime, every: dt.timedelta = 5 * MIN, skip=()) -> None:
    """Logger samples from ``start`` to ``end`` inclusive, every ``every``, leaving out the
    ``(from, to)`` periods in ``skip`` (exclusive bounds: the samples at them are kept)."""
    rows = []
    when = start
    while when <= end:
        if not any(a < when < b for a, b in skip):
            rows.append(
                TemperatureReading(
                    storage_unit=unit, taken_at=when, temperature_c=Decimal("5"), source=ReadingSource.LOGGER
                )
            )
        when += every
    TemperatureReading.objects.bulk_create(rows)


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture
def logged_unit(unit):
    unit.logger_id = "LOG-1"
    unit.created_at = dt.datetime(2026, 1, 1, tzinfo=UTC)
    unit.save(update_fields=["logger_id", "created_at"])
    return unit


# --- The rule ---------------------------------------------------------------------------------


class TestTheGapRule:
    def test_three_hours_missing_from_a_5_minute_log_is_one_gap_from_the_last_sample_to_the_next(
        self, logged_unit
    ):
        last, first = SATURDAY + dt.timedelta(hours=2), SATURDAY + dt.timedelta(hours=5, minutes=5)
        log(logged_unit, SATURDAY, SATURDAY + dt.timedelta(hours=8), skip=[(last, first)])
        [gap] = logger_gaps(logged_unit, since=SATURDAY, until=SATURDAY + dt.timedelta(hours=8))
        assert (gap.source, gap.after, gap.before) == ("logger", last, first)
        assert gap.duration == dt.timedelta(hours=3, minutes=5)
        assert gap.interval.value == 5 * MIN and gap.interval.how == "learnt"
        assert gap.interval.label == "5-minute interval (learnt from its samples)"

    def test_jitter_under_one_and_a_half_intervals_is_not_a_gap(self, logged_unit):
        # A 5-minute logger writing late and early: spacings of 3 to 7 minutes (under 7.5).
        when, rows = SATURDAY, []
        for i in range(60):  # most spacings 5 minutes, the rest 3 to 7 (and up to 20 s)
            rows.append(
                TemperatureReading(storage_unit=logged_unit, taken_at=when, temperature_c=5, source="logger")
            )
            when += dt.timedelta(minutes=(5, 5, 6, 5, 4, 5, 7, 5, 3, 5)[i % 10], seconds=(i % 3) * 10)
        TemperatureReading.objects.bulk_create(rows)
        assert logger_interval(logged_unit, until=when).value == 5 * MIN
        assert logger_gaps(logged_unit, since=SATURDAY, until=when) == []

    def test_one_sample_missing_is_a_gap_already(self, logged_unit):
        t = SATURDAY + dt.timedelta(hours=1)
        log(logged_unit, SATURDAY, SATURDAY + dt.timedelta(hours=2), skip=[(t - 5 * MIN, t + 5 * MIN)])
        [gap] = logger_gaps(logged_unit, since=SATURDAY, until=SATURDAY + dt.timedelta(hours=2))
        assert gap.duration == 10 * MIN

    def test_a_set_interval_wins_over_the_learnt_one(self, logged_unit):
        # A 5-minute log with one 10-minute spacing: missing data at 5 minutes, none at 10.
        t = SATURDAY + dt.timedelta(hours=1)
        end = SATURDAY + dt.timedelta(hours=2)
        log(logged_unit, SATURDAY, end, skip=[(t - 5 * MIN, t + 5 * MIN)])
        assert len(logger_gaps(logged_unit, since=SATURDAY, until=end)) == 1
        logged_unit.logger_interval_minutes = 10
        logged_unit.save(update_fields=["logger_interval_minutes"])
        interval = logger_interval(logged_unit, until=end)
        assert (interval.value, interval.how) == (10 * MIN, "set")
        assert logger_gaps(logged_unit, since=SATURDAY, until=end) == []

    def test_the_learnt_interval_is_the_commonest_spacing_not_the_first(self, logged_unit):
        # Two samples a minute apart (a logger restarted), then a 15-minute log.
        log(logged_unit, SATURDAY, SATURDAY + MIN, every=MIN)
        log(logged_unit, SATURDAY + 16 * MIN, SATURDAY + dt.timedelta(hours=6), every=15 * MIN)
        assert logger_interval(logged_unit, until=SATURDAY + dt.timedelta(hours=6)).value == 15 * MIN

    def test_too_few_samples_to_learn_from_fall_back_to_30_minutes(self, logged_unit):
        log(logged_unit, SATURDAY, SATURDAY)
        interval = logger_interval(logged_unit, until=SATURDAY + dt.timedelta(hours=1))
        assert (interval.value, interval.how) == (LOGGER_INTERVAL, "default")

    def test_no_logger_and_no_samples_is_no_logger_gap(self, unit):
        TemperatureReading.objects.create(
            storage_unit=unit, taken_at=SATURDAY, temperature_c=5, source="manual"
        )
        assert (
            logger_gaps(unit, since=SATURDAY - dt.timedelta(days=1), until=SATURDAY + dt.timedelta(days=1))
            == []
        )

    def test_samples_decide_even_without_a_logger_id(self, unit):
        log(
            unit,
            SATURDAY,
            SATURDAY + dt.timedelta(hours=4),
            skip=[(SATURDAY + MIN * 60, SATURDAY + MIN * 180)],
        )
        assert len(logger_gaps(unit, since=SATURDAY, until=SATURDAY + dt.timedelta(hours=4))) == 1

    def test_a_manual_check_does_not_fill_a_logger_gap(self, logged_unit):
        a, b = SATURDAY + dt.timedelta(hours=1), SATURDAY + dt.timedelta(hours=3)
        log(logged_unit, SATURDAY, SATURDAY + dt.timedelta(hours=4), skip=[(a, b)])
        TemperatureReading.objects.create(
            storage_unit=logged_unit, taken_at=a + dt.timedelta(hours=1), temperature_c=5, source="manual"
        )
        [gap] = logger_gaps(logged_unit, since=SATURDAY, until=SATURDAY + dt.timedelta(hours=4))
        assert (gap.after, gap.before) == (a, b)

    def test_a_gap_reaching_across_the_period_is_found_whole(self, logged_unit):
        a, b = SATURDAY + dt.timedelta(hours=1), SATURDAY + dt.timedelta(hours=5)
        log(logged_unit, SATURDAY, SATURDAY + dt.timedelta(hours=6), skip=[(a, b)])
        for since, until in ((a + MIN * 60, b + MIN * 30), (a - MIN * 30, b - MIN * 60)):
            [gap] = logger_gaps(logged_unit, since=since, until=until)
            assert (gap.after, gap.before) == (a, b)

    def test_missed_checks_lists_logger_gaps_with_the_manual_ones(self, logged_unit):
        a, b = SATURDAY + dt.timedelta(hours=1), SATURDAY + dt.timedelta(hours=4)
        log(logged_unit, SATURDAY, SATURDAY + dt.timedelta(hours=6), skip=[(a, b)])
        gaps = missed_checks(logged_unit, since=SATURDAY, until=SATURDAY + dt.timedelta(hours=6))
        assert [(g.source, g.after, g.before) for g in gaps] == [("logger", a, b)]

    def test_the_night_the_clocks_go_back_is_no_gap_and_a_gap_that_night_has_its_real_length(
        self, logged_unit
    ):
        start, end = CLOCKS_BACK - dt.timedelta(hours=3), CLOCKS_BACK + dt.timedelta(hours=3)
        log(logged_unit, start, end)
        assert logger_gaps(logged_unit, since=start, until=end) == []
        TemperatureReading.objects.filter(
            taken_at__gt=CLOCKS_BACK - dt.timedelta(hours=1), taken_at__lt=CLOCKS_BACK
        ).delete()
        [gap] = logger_gaps(logged_unit, since=start, until=end)
        # 01:00 BST to 01:00 GMT: the same wall-clock time, an hour apart.
        local = [timezone.localtime(t).strftime("%H:%M %Z") for t in (gap.after, gap.before)]
        assert local == ["01:00 BST", "01:00 GMT"]
        assert gap.duration == dt.timedelta(hours=1)

    def test_many_units_cost_the_same_two_queries(self, location, django_assert_num_queries):
        def units(n: int) -> list:
            made = []
            for _ in range(n):
                u = StorageUnitFactory(location=location, logger_id="L")
                log(
                    u,
                    SATURDAY,
                    SATURDAY + dt.timedelta(hours=3),
                    skip=[(SATURDAY + MIN * 60, SATURDAY + MIN * 120)],
                )
                made.append(u)
            return made

        for n in (1, 6):
            batch = units(n)
            with django_assert_num_queries(2, info=f"{n} units"):
                found = logger_gaps_by_unit(batch, since=SATURDAY, until=SATURDAY + dt.timedelta(hours=3))
            assert all(len(found[u.pk]) == 1 for u in batch)


# --- The unit page and its chart ----------------------------------------------------------------

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # a Tuesday noon (GMT)


@pytest.fixture
def outage(logged_unit):
    """A 5-minute log of the last two days, three hours missing last night (22:00 to 01:05)."""
    last, first = NOW - dt.timedelta(hours=14), NOW - dt.timedelta(hours=10, minutes=55)
    log(logged_unit, NOW - dt.timedelta(days=2), NOW - dt.timedelta(minutes=5), skip=[(last, first)])
    return last, first


class TestTheUnitPage:
    def test_the_gaps_list_says_no_logger_data_with_times_duration_and_interval(
        self, client_for, manager, logged_unit, outage
    ):
        with time_machine.travel(NOW, tick=False):
            response = client_for(manager).get(f"/products/units/{logged_unit.pk}/")
        html = " ".join(response.content.decode().split())
        assert "No logger data</span> from Mon 9 Mar 22:00 to Tue 10 Mar 01:05 (3 h 5 min)" in html
        assert "5-minute interval (learnt from its samples)" in html
        [logger] = [g for g in response.context["gaps"] if g.source == "logger"]
        assert (logger.after, logger.before) == outage

    def test_the_chart_series_carries_the_gap_and_the_page_describes_it(
        self, client_for, manager, logged_unit, outage
    ):
        with time_machine.travel(NOW, tick=False):
            response = client_for(manager).get(f"/products/units/{logged_unit.pk}/", {"range": "1d"})
        assert response.context["series"]["gaps"] == [{"start": ms(outage[0]), "end": ms(outage[1])}]
        html = " ".join(response.content.decode().split())
        assert "1 period without logger data" in html  # the canvas's label
        assert (
            "No logger data: 1 gap in the last 1d, 3 h 5 min in all, judged by the 5-minute interval" in html
        )
        assert "No logger data from Mon 9 Mar 22:00 to Tue 10 Mar 01:05 (3 h 5 min)" in html

    def test_temperature_series_finds_the_gaps_itself(self, logged_unit, outage):
        series = temperature_series(logged_unit, start=NOW - dt.timedelta(days=1), end=NOW)
        assert series["gaps"] == [{"start": ms(outage[0]), "end": ms(outage[1])}]
        assert temperature_series(logged_unit, start=NOW - dt.timedelta(hours=6), end=NOW)["gaps"] == []

    def test_the_page_query_count_does_not_grow_with_samples_or_gaps(
        self, client_for, manager, logged_unit, django_assert_num_queries
    ):
        # As tests/products/test_views.py: the chart's SET LOCAL on PostgreSQL.
        queries = 17 + (connection.vendor == "postgresql")
        with time_machine.travel(NOW, tick=False):
            c = client_for(manager)
            log(
                logged_unit,
                NOW - dt.timedelta(hours=6),
                NOW,
                skip=[(NOW - dt.timedelta(hours=4), NOW - dt.timedelta(hours=3))],
            )
            c.get(f"/products/units/{logged_unit.pk}/")
            with django_assert_num_queries(queries, info="six hours, one gap"):
                c.get(f"/products/units/{logged_unit.pk}/")
            log(
                logged_unit,
                NOW - dt.timedelta(days=6),
                NOW - dt.timedelta(hours=6, minutes=5),
                skip=[
                    (NOW - dt.timedelta(days=d, hours=1), NOW - dt.timedelta(days=d)) for d in (2, 3, 4, 5)
                ],
            )
            with django_assert_num_queries(queries, info="six days, five gaps"):
                response = c.get(f"/products/units/{logged_unit.pk}/")
        assert len(response.context["series"]["gaps"]) == 5


# --- The monthly cold-chain report ----------------------------------------------------------------


class TestTheMonthlyReport:
    URL = "/clinic/reports/cold-chain/"

    @pytest.fixture
    def october(self, logged_unit):
        """A 5-minute log of 24–26 October 2026, with no data from 00:00 BST to 04:00 GMT on the
        25th (five hours: the clocks go back in between) and from 22:00 on the 25th to 02:00."""
        night = (dt.datetime(2026, 10, 24, 23, 0, tzinfo=UTC), dt.datetime(2026, 10, 25, 4, 0, tzinfo=UTC))
        late = (dt.datetime(2026, 10, 25, 22, 0, tzinfo=UTC), dt.datetime(2026, 10, 26, 2, 0, tzinfo=UTC))
        log(
            logged_unit,
            dt.datetime(2026, 10, 24, 0, 0, tzinfo=UTC),
            dt.datetime(2026, 10, 26, 12, 0, tzinfo=UTC),
            skip=[night, late],
        )
        return night, late

    def days(self, response) -> dict[int, int]:
        return {d["day"].day: d["gap_minutes"] for d in response.context["days"]}

    def test_each_day_has_its_minutes_without_logger_data_and_the_month_lists_its_gaps(
        self, client_for, manager, logged_unit, october
    ):
        with time_machine.travel(dt.datetime(2026, 11, 10, 9, 0, tzinfo=UTC), tick=False):
            response = client_for(manager).get(self.URL, {"unit": logged_unit.pk, "month": "2026-10"})
        minutes = self.days(response)
        # 25 Oct: 00:00 BST to 04:00 GMT (300) and 22:00 to midnight (120).
        assert (minutes[24], minutes[25], minutes[26], minutes[27]) == (0, 420, 120, 0)
        assert response.context["gap_minutes"] == 540
        assert [(g.after, g.before) for g in response.context["gaps"]] == list(october)
        html = " ".join(response.content.decode().split())
        assert "No logger data</span> from Sun 25 Oct 2026 00:00 to Sun 25 Oct 2026 04:00 (5 h 0 min)" in html
        assert "2 logger gap(s), 9 h 0 min without logger data" in html
        assert "5-minute interval (learnt from its samples)" in html

    def test_the_export_has_the_minutes_column(self, client_for, manager, logged_unit, october):
        with time_machine.travel(dt.datetime(2026, 11, 10, 9, 0, tzinfo=UTC), tick=False):
            response = client_for(manager).get(
                self.URL + "export.csv", {"unit": logged_unit.pk, "month": "2026-10"}
            )
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
        assert rows[0][-1] == "logger_gap_minutes"
        by_day = {r[0]: r[-1] for r in rows[1:]}
        assert (by_day["2026-10-24"], by_day["2026-10-25"], by_day["2026-10-26"]) == ("0", "420", "120")


# --- The alert ------------------------------------------------------------------------------------


def alerts(channel: str = "email") -> list[Notification]:
    return list(Notification.objects.filter(kind=NotificationKind.COLDCHAIN_LOGGER_GAP, channel=channel))


class TestTheSweep:
    def test_a_gap_is_alerted_once_to_the_managers_of_missed_checks(self, manager, logged_unit, outage):
        staff(FRONT_DESK, logged_unit.location, username="desk")  # not told of missed checks either
        assert logger_gap_sweep(now=NOW) > 0
        assert logger_gap_sweep(now=NOW) == 0
        assert logger_gap_sweep(now=NOW + dt.timedelta(hours=1)) == 0
        [email] = alerts()
        assert email.to_address == manager.email
        assert "Missing logger data: Main fridge" in email.subject
        assert "from Mon 9 Mar 22:00 to Tue 10 Mar 01:05 (185 minutes" in email.body
        assert "5-minute interval (learnt from its samples)" in email.body
        assert len(alerts("in_app")) == 1
        assert email.dedupe_key.startswith(f"logger_gap:{logged_unit.pk}:20260309T220000Z")

    def test_a_single_dropped_sample_is_shown_but_pages_nobody(self, manager, logged_unit):
        t = NOW - dt.timedelta(hours=3)
        log(logged_unit, NOW - dt.timedelta(hours=6), NOW, skip=[(t - 5 * MIN, t + 5 * MIN)])
        assert len(logger_gaps(logged_unit, since=NOW - dt.timedelta(hours=6), until=NOW)) == 1
        logger_gap_sweep(now=NOW)
        assert alerts() == []

    def test_three_intervals_and_fifteen_minutes_alert(self, manager, logged_unit):
        t = NOW - dt.timedelta(hours=3)
        log(logged_unit, NOW - dt.timedelta(hours=6), NOW, skip=[(t, t + 15 * MIN)])  # two samples missing
        logger_gap_sweep(now=NOW)
        assert len(alerts()) == 1

    def test_a_gap_a_late_file_reveals_is_alerted_on_the_next_run(self, manager, logged_unit):
        # The sweep ran while the file of ten days ago was still on the logger: nothing to see.
        assert logger_gap_sweep(now=NOW) == 0
        ten_days_ago = NOW - dt.timedelta(days=10)
        log(
            logged_unit,
            ten_days_ago - dt.timedelta(hours=6),
            ten_days_ago,
            skip=[(ten_days_ago - dt.timedelta(hours=4), ten_days_ago - dt.timedelta(hours=1))],
        )
        logger_gap_sweep(now=NOW + dt.timedelta(hours=1))
        [email] = alerts()
        assert "Sat 28 Feb" in email.body

    def test_a_gap_over_the_clocks_change_is_told_in_local_time(self, manager, logged_unit):
        a, b = CLOCKS_BACK - dt.timedelta(hours=1), CLOCKS_BACK  # 01:00 BST to 01:00 GMT
        log(
            logged_unit,
            CLOCKS_BACK - dt.timedelta(hours=4),
            CLOCKS_BACK + dt.timedelta(hours=4),
            skip=[(a, b)],
        )
        logger_gap_sweep(now=CLOCKS_BACK + dt.timedelta(hours=5))
        [email] = alerts()
        assert "from Sun 25 Oct 01:00 to Sun 25 Oct 01:00 (60 minutes" in email.body

    def test_out_of_service_units_and_old_gaps_are_left_alone(self, manager, logged_unit):
        log(
            logged_unit,
            NOW - dt.timedelta(days=50),
            NOW - dt.timedelta(days=40),
            skip=[(NOW - dt.timedelta(days=45), NOW - dt.timedelta(days=44))],
        )
        assert logger_gap_sweep(now=NOW) == 0  # older than the 35 days looked back
        log(
            logged_unit,
            NOW - dt.timedelta(hours=6),
            NOW,
            skip=[(NOW - dt.timedelta(hours=5), NOW - dt.timedelta(hours=2))],
        )
        logged_unit.is_active = False
        logged_unit.save(update_fields=["is_active"])
        assert logger_gap_sweep(now=NOW) == 0

    def test_the_query_count_is_fixed(self, location, manager, django_assert_num_queries):
        def run(n: int) -> None:
            for _ in range(n):
                unit = StorageUnitFactory(
                    location=location, logger_id="L", created_at=NOW - dt.timedelta(days=30)
                )
                t = NOW - dt.timedelta(hours=3)
                log(unit, NOW - dt.timedelta(hours=6), NOW, skip=[(t, t + dt.timedelta(hours=1))])
            # Units, intervals, gaps, networked loggers gone silent, marks, recipients, then the
            # outbox rows and the marks written in one transaction (a savepoint here: two more).
            with django_assert_num_queries(10, info=f"{n} more units with a gap"):
                logger_gap_sweep(now=NOW)

        run(1)
        run(5)
        assert len(alerts()) == 6


class TestSilentNetworkedLoggers:
    """A logger that pushes its readings has stopped when nothing has come for three intervals
    (at least 15 minutes): known now, without waiting for a sample after the gap."""

    @pytest.fixture
    def pushed(self, manager, logged_unit):
        from products.services.feeds import feed_token_create

        token, _ = feed_token_create(unit=logged_unit, name="Gateway", actor=manager)
        token.last_used_at = NOW - dt.timedelta(hours=1)
        token.save(update_fields=["last_used_at"])
        log(logged_unit, NOW - dt.timedelta(hours=6), NOW - dt.timedelta(hours=1))
        return token

    def test_it_is_alerted_once_while_it_stays_silent(self, manager, logged_unit, pushed):
        assert logger_gap_sweep(now=NOW) > 0
        [email] = alerts()
        assert "Logger silent: Main fridge" in email.subject
        assert "has sent nothing since" in email.body and "minutes so far" in email.body
        assert logger_gap_sweep(now=NOW + dt.timedelta(hours=1)) == 0
        # It comes back: the gap it leaves was told already. Then it stops again: a new alert.
        log(logged_unit, NOW, NOW + dt.timedelta(hours=1))
        assert logger_gap_sweep(now=NOW + dt.timedelta(minutes=65)) == 0
        logger_gap_sweep(now=NOW + dt.timedelta(hours=3))
        assert len(alerts()) == 2

    def test_a_short_pause_or_a_revoked_token_pages_nobody(self, manager, logged_unit, pushed):
        assert logger_gap_sweep(now=NOW - dt.timedelta(minutes=50)) == 0  # ten minutes: two samples
        pushed.revoked_at = NOW
        pushed.save(update_fields=["revoked_at"])
        assert logger_gap_sweep(now=NOW + dt.timedelta(hours=5)) == 0

    def test_a_unit_whose_files_arrive_by_hand_is_not_silent(self, manager, logged_unit):
        log(logged_unit, NOW - dt.timedelta(days=8), NOW - dt.timedelta(days=7))
        logger_gap_sweep(now=NOW)
        assert alerts() == []
