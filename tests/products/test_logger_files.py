"""Logger files as real loggers write them: shapes, clocks, questions and the line-by-line summary.

The samples in ``logger_samples/`` reproduce the layouts of LogTag, Berlinger and Elitech
exports (see its SOURCES.md); the DST files are built here, minute by minute, the way a logger
on each kind of clock writes them (Europe/London: 29 March 2026 01:00 GMT jumps to 02:00 BST;
25 October 2026 02:00 BST falls back to 01:00 GMT).
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from clinic.models import AuditEvent
from products.loggerfiles import analyse
from products.models import ImportStatus, LoggerClock, ReadingImport, TemperatureReading
from products.services import readings_import_file
from tests.products.factories import StorageUnitFactory

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).parent / "logger_samples"
LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def run(unit, content: bytes | str, name: str = "log.csv", **kwargs):
    data = content.encode() if isinstance(content, str) else content
    return readings_import_file(unit=unit, file=data, filename=name, actor=None, **kwargs)


def accounted(batch: ReadingImport) -> bool:
    """Every line of the file is in exactly one group of the summary."""
    imported = batch.status != "imported" or batch.rows == batch.added + batch.already_held
    return imported and batch.lines == batch.skipped + batch.rows + batch.refused


def times(unit) -> list[dt.datetime]:
    return list(unit.readings.order_by("taken_at").values_list("taken_at", flat=True))


# --- Real export layouts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "answers", "layout", "encoding", "unit_", "readings", "first"),
    [
        (
            "logtag_uk.csv",
            {"date_format": "dmy"},
            "logtag",
            "utf-8-sig",
            "C",
            24,
            (2025, 3, 10, 13, 0, "4.60"),
        ),
        (
            "logtag_us.csv",
            {"date_format": "mdy"},
            "logtag",
            "utf-8-sig",
            "F",
            24,
            (2025, 3, 10, 11, 0, "4.61"),
        ),
        ("logtag_de.csv", {"date_format": "dmy"}, "logtag", "latin-1", "C", 24, None),
        ("logtag_de_utf16.csv", {"date_format": "dmy"}, "logtag", "utf-16", "C", 24, None),
        ("fridgetag2l.txt", {}, "fridgetag", "utf-8", "C", 42, (2025, 3, 10, 22, 0, "21.40")),
        ("berlinger_qtag_clm.txt", {"temperature_unit": "C"}, "fridgetag", "utf-8", "C", None, None),
        ("elitech_rc5.csv", {}, "elitech", "utf-8-sig", "C", 24, (2025, 3, 10, 9, 0, "4.60")),
        ("generic_crlf.csv", {}, "generic", "utf-8", "C", 24, (2025, 3, 10, 12, 0, "4.60")),
    ],
)
def test_real_exports_import_with_every_line_accounted_for(
    location, name, answers, layout, encoding, unit_, readings, first
):
    unit = StorageUnitFactory(location=location, logger_clock=LoggerClock.UTC)
    result = run(unit, (SAMPLES / name).read_bytes(), name, answers=answers)
    batch = result.batch
    assert batch.status == ImportStatus.IMPORTED, batch.summary
    assert (batch.layout, batch.summary["encoding"], batch.temperature_unit) == (layout, encoding, unit_)
    assert accounted(batch) and batch.refused == 0 and batch.added == batch.rows
    if readings is not None:
        assert batch.added == readings
    if first is not None:
        reading = unit.readings.order_by("taken_at").first()
        assert reading.taken_at == dt.datetime(*first[:5], tzinfo=UTC)
        assert reading.temperature_c == Decimal(first[5])


def test_the_fridge_tag_data_section_is_read_and_its_missing_marks_accounted(location):
    unit = StorageUnitFactory(location=location, logger_clock=LoggerClock.UTC)
    content = (
        (SAMPLES / "fridgetag2l.txt")
        .read_text()
        .replace("\t2025-03-10 22:10\t6.1", "\t2025-03-10 22:10\t--.-")
    )
    batch = run(unit, content, "ft.txt").batch
    assert batch.status == "imported" and accounted(batch)
    assert batch.summary["skipped_counts"]["no reading (the logger wrote “--.-”)"] == 1
    assert batch.summary["device"]["Serial"] == "130500112647"
    unit.refresh_from_db()
    assert unit.logger_interval_minutes == 5  # learnt from "Logging Interval: 5"


def test_a_fridge_tag_report_without_readings_is_refused_with_the_reason(unit):
    batch = run(unit, (SAMPLES / "fridgetag2.txt").read_bytes(), "ft2.txt").batch
    assert (
        batch.status == "refused"
        and "daily minimum and maximum" in batch.summary["refused_lines"][0]["reason"]
    )


def test_a_european_export_with_preamble_semicolons_and_decimal_commas(unit):
    content = (
        "Gerät;Testo 184 T3\r\nSeriennummer;41234567\r\nStart;13.03.2026 09:00\r\nIntervall;00:05:00\r\n"
        "\r\nDatum;Uhrzeit;Temperatur [°C]\r\n13.03.2026;09:00:00;4,5\r\n13.03.2026;09:05:00;-0,5\r\n"
    )
    batch = run(unit, content.encode("latin-1")).batch
    assert batch.status == "imported", batch.summary
    assert (batch.date_format, batch.temperature_unit, batch.summary["delimiter"]) == (
        "dmy",
        "C",
        "semicolon",
    )
    assert list(unit.readings.order_by("taken_at").values_list("temperature_c", flat=True)) == [
        Decimal("4.5"),
        Decimal("-0.5"),
    ]
    assert batch.summary["skipped_counts"] == {"preamble": 4, "blank": 1, "header": 1}


def test_fahrenheit_with_twelve_hour_times_on_its_own_column(unit):
    content = (
        "Date,Time,Temperature (°F)\n"
        "03/28/2026,12:05 AM,41.0\n03/28/2026,12:10 PM,46.4\n03/28/2026,1:15 PM,39.2\n"
    )
    batch = run(unit, content).batch
    assert batch.status == "imported" and batch.date_format == "mdy"
    local = [timezone_local(t) for t in times(unit)]
    assert local == [
        dt.datetime(2026, 3, 28, 0, 5),
        dt.datetime(2026, 3, 28, 12, 10),
        dt.datetime(2026, 3, 28, 13, 15),
    ]
    assert list(unit.readings.order_by("taken_at").values_list("temperature_c", flat=True)) == [
        Decimal("5"),
        Decimal("8"),
        Decimal("4"),
    ]


def timezone_local(when: dt.datetime) -> dt.datetime:
    return when.astimezone(LONDON).replace(tzinfo=None)


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16", b""), ("latin-1", b""), ("cp1252", b"")],
)
def test_encodings_and_line_ends(unit, encoding, bom):
    text = "Zeit;Temperatur (°C)\r\n2026-03-13 09:00;4,5\r\n2026-03-13 09:05;4,6\r\n"
    batch = run(unit, bom + text.encode(encoding)).batch
    assert batch.status == "imported" and batch.added == 2 and batch.temperature_unit == "C"


def test_a_spreadsheet_is_refused_with_what_to_do(unit):
    batch = run(unit, b"PK\x03\x04" + b"\x00" * 100, "log.xlsx").batch
    assert (
        batch.status == "refused"
        and "export or save it as CSV" in batch.summary["refused_lines"][0]["reason"]
    )


# --- The date format is found from the whole file, and asked when it cannot be ---------------------


def test_a_file_where_every_day_is_at_most_12_is_asked_with_both_readings(unit):
    content = "Timestamp,Temp (C)\n03/04/2026 10:00,5\n04/04/2026 10:00,5\n"
    asked = run(unit, content)
    assert asked.status == "pending" and not TemperatureReading.objects.exists()
    [question] = asked.questions
    assert question["line"] == 2 and question["text"] == "03/04/2026 10:00"
    assert question["choices"] == {
        "dmy": "Friday 3 April 2026, 10:00",
        "mdy": "Wednesday 4 March 2026, 10:00",
    }
    done = run(unit, content, answers={"date_format": "dmy"}, pending=asked.batch)
    assert done.status == "imported" and ReadingImport.objects.get().pk == asked.batch.pk
    assert [timezone_local(t).date() for t in times(unit)] == [dt.date(2026, 4, 3), dt.date(2026, 4, 4)]


def test_one_day_over_12_anywhere_in_the_file_settles_the_format(unit):
    lines = [f"{d:02d}/03/2026 10:00,5" for d in range(1, 13)] + ["13/03/2026 10:00,5"]
    batch = run(unit, "Timestamp,Temp (C)\n" + "\n".join(lines)).batch
    assert batch.status == "imported" and batch.date_format == "dmy" and batch.added == 13


def test_a_day_and_month_that_are_equal_need_no_question(unit):
    batch = run(unit, "Timestamp,Temp (C)\n03/03/2026 10:00,5\n").batch
    assert batch.status == "imported"


def test_the_unit_is_asked_when_nothing_says_it(unit):
    asked = run(unit, "Timestamp,Reading\n2026-03-13 10:00,41\n")
    assert [q["key"] for q in asked.questions] == ["temperature_unit"]
    assert asked.questions[0]["choices"]["F"] == "41 °F (5.00 °C)"
    run(
        unit,
        "Timestamp,Reading\n2026-03-13 10:00,41\n",
        answers={"temperature_unit": "F"},
        pending=asked.batch,
    )
    assert unit.readings.get().temperature_c == Decimal("5")


def test_the_pending_question_is_answered_on_its_page(client_for, manager, unit):
    c = client_for(manager)
    upload = SimpleUploadedFile("us.csv", b"Date,Temp C\n03/04/2026 10:00,5\n", "text/csv")
    response = c.post(f"/products/units/{unit.pk}/import/", {"file": upload}, follow=True)
    assert "Which way round does this logger write its dates?" in response.text
    assert "Friday 3 April 2026, 10:00" in response.text and "Wednesday 4 March 2026, 10:00" in response.text
    batch = ReadingImport.objects.get()
    assert c.post(f"/products/imports/{batch.pk}/", {}).status_code == 200  # unanswered: asked again
    assert not TemperatureReading.objects.exists()
    response = c.post(f"/products/imports/{batch.pk}/", {"date_format": "mdy"}, follow=True)
    assert "1 readings added" in response.text
    assert timezone_local(unit.readings.get().taken_at) == dt.datetime(2026, 3, 4, 10, 0)


def test_only_importers_answer(client_for, practitioner, manager, unit):
    asked = run(unit, "Date,Temp C\n03/04/2026 10:00,5\n")
    assert (
        client_for(practitioner)
        .post(f"/products/imports/{asked.batch.pk}/", {"date_format": "dmy"})
        .status_code
        == 403
    )
    assert not TemperatureReading.objects.exists()


# --- No reading dropped silently ------------------------------------------------------------------


def test_the_summary_accounts_for_every_line(unit):
    run(unit, "Time,Temp (C)\n2026-03-13 10:00,5\n", "first.csv")
    content = (
        "Logger: FR-2\nSerial: 88\n\nTime,Temp (C)\n"
        "2026-03-13 10:00,5\n"  # already held from the first file
        "2026-03-13 10:05,5.1\n"
        "2026-03-13 10:05,5.1\n"  # repeated within the file
        "2026-03-13 10:10,---\n"  # the logger's own "no reading"
        "\n"
        "2026-03-13 10:15,5.2\n"
    )
    batch = run(unit, content, "second.csv").batch
    assert (batch.lines, batch.skipped, batch.added, batch.already_held, batch.refused) == (10, 6, 2, 2, 0)
    assert accounted(batch)
    assert batch.summary["skipped"] == {
        "preamble": "1–2",
        "blank": "3, 9",
        "header": "4",
        "no reading (the logger wrote “---”)": "8",
    }
    assert AuditEvent.objects.filter(action="reading.import", object_id=str(batch.pk)).exists()


def test_the_unit_page_shows_each_import_with_its_counts(client_for, manager, unit):
    run(unit, "Time,Temp (C)\n2026-03-13 10:00,5\n2026-03-13 10:05,x\n", "bad.csv")
    run(unit, "Time,Temp (C)\n2026-03-13 10:00,5\n", "good.csv")
    page = client_for(manager).get(f"/products/units/{unit.pk}/").text
    assert "bad.csv" in page and "1 line refused, nothing imported" in page
    assert "good.csv" in page and "1 added · 0 already held · 1 other lines, of 2" in page
    batch = ReadingImport.objects.get(filename="bad.csv")
    detail = client_for(manager).get(f"/products/imports/{batch.pk}/").text
    assert "<td>3</td><td>“x” is not a temperature</td>" in detail


def test_an_oversized_field_is_refused_by_line_without_an_error(unit, client_for, manager):
    content = (
        "Time,Temp (C)\n2026-03-13 10:00,5\n2026-03-13 10:05," + "9" * 140_000 + "\n2026-03-13 10:10,5\n"
    )
    response = client_for(manager).post(
        f"/products/units/{unit.pk}/import/",
        {"file": SimpleUploadedFile("big.csv", content.encode(), "text/csv")},
        follow=True,
    )
    assert response.status_code == 200 and "Nothing was imported" in response.text
    batch = ReadingImport.objects.get()
    assert batch.summary["refused_lines"][0]["line"] == 3
    assert "140,017 characters" in batch.summary["refused_lines"][0]["reason"]
    assert not TemperatureReading.objects.exists()


def test_an_oversized_header_is_refused_too(unit):
    batch = run(unit, "Time," + "x" * 200_000 + "\n2026-03-13 10:00,5\n").batch
    assert batch.status == "refused" and batch.summary["refused_lines"][0]["line"] == 1


@pytest.mark.parametrize(
    ("stamp", "reason"),
    [
        ("0001-01-01 00:00", "before the year 2000"),
        ("1999-12-31 23:55", "before the year 2000"),
        ("9999-12-31 23:59", "in the future"),
        ("2026-11-20 12:06", "in the future"),  # six minutes ahead of now
    ],
)
def test_implausible_timestamps_refuse_the_whole_file(unit, stamp, reason):
    content = f"Time,Temp (C)\n2026-03-13 10:00,5\n{stamp},5\n"
    batch = run(unit, content).batch
    assert batch.status == "refused" and not TemperatureReading.objects.exists()
    [note] = batch.summary["refused_lines"]
    assert note["line"] == 3 and reason in note["reason"]


def test_a_reading_a_few_minutes_ahead_is_a_logger_clock_a_little_fast(unit):
    assert run(unit, "Time,Temp (C)\n2026-11-20 12:04,5\n").batch.status == "imported"


def test_every_bad_line_is_listed_not_just_the_first(unit):
    content = (
        "Time,Temp (C)\n2026-03-13 10:00,warm\n2026-03-13 10:05,5\n1999-01-01 00:00,5\n2026-02-30 10:00,5\n"
    )
    batch = run(unit, content).batch
    assert [n["line"] for n in batch.summary["refused_lines"]] == [2, 4, 5]
    assert batch.refused == 3 and accounted(batch)


# --- The logger's clock on the nights the clocks change ------------------------------------------------


def utc_log(start: dt.datetime, count: int) -> list[dt.datetime]:
    return [start + dt.timedelta(minutes=5 * k) for k in range(count)]


def log_file(instants, zone) -> str:
    """What a logger writes: each instant as the wall-clock time of its clock."""
    return "Time,Temp (C)\n" + "".join(f"{t.astimezone(zone):%Y-%m-%d %H:%M},5\n" for t in instants)


SPRING = utc_log(dt.datetime(2026, 3, 28, 23, 0, tzinfo=UTC), 48)  # 23:00–02:55 UTC
AUTUMN = utc_log(dt.datetime(2026, 10, 24, 23, 0, tzinfo=UTC), 48)  # 00:00 BST – 02:55 GMT


@pytest.mark.parametrize("instants", [SPRING, AUTUMN], ids=["spring", "autumn"])
@pytest.mark.parametrize(
    ("clock", "offset", "zone"),
    [
        (LoggerClock.UTC, None, UTC),
        (LoggerClock.FIXED, 0, UTC),
        (LoggerClock.FIXED, 60, dt.timezone(dt.timedelta(hours=1))),
        (LoggerClock.FIXED, -300, dt.timezone(dt.timedelta(hours=-5))),
        (LoggerClock.LOCAL, None, LONDON),
    ],
    ids=["utc", "fixed+0", "fixed+60", "fixed-300", "local"],
)
def test_a_log_over_a_clock_change_night_keeps_every_reading(location, instants, clock, offset, zone):
    unit = StorageUnitFactory(location=location, logger_clock=clock, logger_utc_offset_minutes=offset)
    batch = run(unit, log_file(instants, zone)).batch
    assert batch.status == "imported", batch.summary["refused_lines"][:3]
    assert batch.added == 48 and times(unit) == instants


def test_a_non_dst_logger_read_as_local_time_is_refused_not_overwritten(unit):
    """The 12 samples written 01:00–01:55 by a logger that stays on GMT do not exist in UK time:
    the file is refused with each line and what to change, never folded onto other readings."""
    batch = run(unit, log_file(SPRING, UTC)).batch
    assert batch.status == "refused" and batch.refused == 12
    reasons = batch.summary["refused_lines"]
    assert reasons[0]["line"] == 2 + 24 and "29 Mar 2026 01:00 does not exist" in reasons[0]["reason"]
    assert "set the unit's logger clock to UTC or a fixed offset" in reasons[0]["reason"]
    assert not TemperatureReading.objects.exists()


def test_the_repeated_hour_is_read_in_file_order_either_way(location):
    ascending = StorageUnitFactory(location=location, name="A")
    run(ascending, log_file(AUTUMN, LONDON))
    descending = StorageUnitFactory(location=location, name="B")
    lines = log_file(AUTUMN, LONDON).splitlines()
    run(descending, "\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    assert times(ascending) == times(descending) == AUTUMN


def test_an_hourly_log_over_the_repeated_hour(unit):
    instants = utc_log(dt.datetime(2026, 10, 24, 23, 30, tzinfo=UTC), 4 * 12)[::12]  # hourly
    batch = run(unit, log_file(instants, LONDON)).batch
    assert batch.added == 4 and times(unit) == instants


def test_a_file_starting_inside_the_repeated_hour_says_how_it_was_read(unit):
    batch = run(unit, "Time,Temp (C)\n2026-10-25 01:30,5\n").batch
    assert batch.status == "imported"
    assert batch.summary["notes"] == [
        "25 Oct 2026 01:30 happens twice; read as the first (before the clocks went back)"
    ]
    assert times(unit) == [dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)]


def test_times_with_an_offset_ignore_the_unit_clock(unit):
    """01:30 does not exist in UK time that night, but 01:30Z names its instant."""
    batch = run(unit, "Time,Temp (C)\n2026-03-29T01:30:00Z,5\n2026-03-29T04:30:00+02:00,5\n").batch
    assert batch.status == "imported"
    assert times(unit) == [
        dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        dt.datetime(2026, 3, 29, 2, 30, tzinfo=UTC),
    ]


def test_a_fixed_clock_needs_its_offset(location):
    from django.core.exceptions import ValidationError

    unit = StorageUnitFactory.build(
        location=location, logger_clock=LoggerClock.FIXED, logger_utc_offset_minutes=None
    )
    with pytest.raises(ValidationError, match="offset from UTC"):
        unit.clean()


def test_analyse_streams_without_holding_the_file(unit):
    """The parser reads from the file object; a file of any length is two passes over it."""
    content = "Time,Temp (C)\n" + "".join(
        f"2026-01-01 {h:02d}:{m:02d},5\n" for h in range(24) for m in range(0, 60, 5)
    )
    parsed = analyse(io.BytesIO(content.encode()), clock=UTC, now=NOW)
    assert parsed.ok and sum(1 for _ in parsed.samples()) == 288


def test_a_preamble_line_that_names_date_and_temperature_is_not_taken_for_the_header(unit):
    content = (
        "Date/time format: dd/mm/yyyy hh:mm, Temperature unit: °C\n"
        "Serial: 4007310288\n"
        "Date,Time,Temperature (°C)\n"
        "13/03/2026,10:00,4.5\n"
    )
    batch = run(unit, content).batch
    assert batch.status == "imported" and batch.added == 1
    assert batch.summary["skipped"] == {"preamble": "1–2", "header": "3"}


def test_thousands_of_blank_lines_are_counted_in_little_space(unit):
    content = "Time,Temp (C)\n" + "2026-03-13 10:00,5\n\n" * 3000
    batch = run(unit, content).batch
    assert batch.summary["skipped_counts"]["blank"] == 3000 and accounted(batch)
    assert (
        batch.summary["skipped"]["blank"].endswith("and more")
        and len(batch.summary["skipped"]["blank"]) < 600
    )


def test_answering_twice_imports_once(client_for, manager, unit):
    asked = run(unit, "Date,Temp C\n03/04/2026 10:00,5\n")
    c = client_for(manager)
    c.post(f"/products/imports/{asked.batch.pk}/", {"date_format": "dmy"})
    again = c.post(f"/products/imports/{asked.batch.pk}/", {"date_format": "mdy"}, follow=True)
    assert "no question waiting" in again.text
    assert timezone_local(unit.readings.get().taken_at) == dt.datetime(2026, 4, 3, 10, 0)


# --- Found by an outside review ------------------------------------------------------------------


@pytest.mark.parametrize(
    "stamp", ["2026-03-28T13:15:00+25:00", "0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-02:00"]
)
def test_impossible_offsets_and_dates_are_refused_lines_not_errors(client_for, manager, unit, stamp):
    content = f"Time,Temp (C)\n2026-03-13 10:00,5\n{stamp},5\n".encode()
    response = client_for(manager).post(
        f"/products/units/{unit.pk}/import/", {"file": SimpleUploadedFile("o.csv", content)}, follow=True
    )
    assert response.status_code == 200 and "Nothing was imported" in response.text
    batch = ReadingImport.objects.get()
    assert [n["line"] for n in batch.summary["refused_lines"]] == [3] and accounted(batch)


def test_a_fixed_clock_near_the_ends_of_time_is_refused_not_an_error(location):
    unit = StorageUnitFactory(location=location, logger_clock=LoggerClock.FIXED, logger_utc_offset_minutes=60)
    batch = run(unit, "Time,Temp (C)\n0001-01-01 00:30,5\n").batch
    assert batch.status == "refused" and batch.summary["refused_lines"][0]["line"] == 2


def test_an_answer_never_overrides_what_the_file_says(unit):
    run(unit, "Date,Time,Temp °C\n2026-03-13,10:00,4.0\n", answers={"temperature_unit": "F"})
    assert unit.readings.get().temperature_c == Decimal("4.0")


def test_a_date_answer_applies_only_to_a_file_that_reads_both_ways(unit):
    batch = run(unit, "Timestamp,Temp (C)\n03/28/2026 10:00,5\n", answers={"date_format": "dmy"}).batch
    assert batch.status == "imported" and batch.date_format == "mdy"


def test_a_descending_half_hourly_log_over_the_repeated_hour(unit):
    instants = utc_log(dt.datetime(2026, 10, 24, 23, 30, tzinfo=UTC), 6 * 6)[::6]  # 00:30 BST … 02:00 GMT
    lines = log_file(instants, LONDON).splitlines()
    batch = run(unit, "\n".join([lines[0], *reversed(lines[1:])]) + "\n").batch
    assert batch.added == 6 and times(unit) == instants


@pytest.mark.parametrize("text", ["4_5", "4.5e1", "1E1", "0x10"])
def test_numbers_in_odd_notations_are_not_temperatures(unit, text):
    batch = run(unit, f"Time,Temp (C)\n2026-03-13 10:00,{text}\n").batch
    assert batch.status == "refused" and "is not a temperature" in batch.summary["refused_lines"][0]["reason"]


def test_a_time_given_twice_with_two_temperatures_is_refused_not_dropped(unit):
    batch = run(unit, "Time,Temp (C)\n2026-03-13 10:05,4.1\n2026-03-13 10:05,9.9\n").batch
    assert batch.status == "refused" and not TemperatureReading.objects.exists()
    [note] = batch.summary["refused_lines"]
    assert note["line"] == 3 and "line 2 has the same time with 4.10 °C" in note["reason"].replace(
        "4.1 ", "4.10 "
    )


def test_a_time_the_unit_holds_with_another_temperature_is_refused(unit):
    run(unit, "Time,Temp (C)\n2026-03-13 10:05,4.1\n", "first.csv")
    batch = run(unit, "Time,Temp (C)\n2026-03-13 10:05,12.5\n2026-03-13 10:10,4.2\n", "second.csv").batch
    assert (
        batch.status == "refused" and "from an earlier import" in batch.summary["refused_lines"][0]["reason"]
    )
    assert unit.readings.count() == 1


def test_a_summary_after_the_readings_is_a_footer(unit):
    content = "Time,Temp (C)\n2026-03-13 10:00,5\n2026-03-13 10:05,5\n\nSummary\nMinimum,4.5\nMaximum,5.0\n"
    batch = run(unit, content).batch
    assert batch.status == "imported" and batch.added == 2 and accounted(batch)
    assert batch.summary["skipped"]["footer (after the last reading)"] == "5–7"


def test_a_dateless_line_between_readings_is_still_refused(unit):
    batch = run(unit, "Time,Temp (C)\n2026-03-13 10:00,5\nMaximum,5.0\n2026-03-13 10:05,5\n").batch
    assert batch.status == "refused" and batch.summary["refused_lines"][0]["line"] == 3


def test_a_file_with_no_readings_still_adds_up(unit):
    batch = run(unit, bytes(range(256)) * 10, "x.bin").batch
    assert batch.status == "refused" and accounted(batch)


def test_the_command_matches_the_longest_logger_id_and_goes_on_after_a_bad_file(location, tmp_path):
    from django.core.management import CommandError, call_command

    short = StorageUnitFactory(location=location, name="S", logger_id="A1")
    long_ = StorageUnitFactory(location=location, name="L", logger_id="A12")
    (tmp_path / "A12-2026-03.csv").write_text("Time,Temp (C)\n2026-03-13 10:00,5\n")
    (tmp_path / "A1-2026-03.csv").write_text("Time,Temp (C)\n2026-03-13 10:00,6\n")
    (tmp_path / "A1-broken.csv").write_text("Time,Temp (C)\n2026-03-13T10:00+25:00,6\n")
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 file"):
        call_command("import_logger_files", "--dir", str(tmp_path), stdout=io.StringIO(), stderr=err)
    assert long_.readings.get().temperature_c == 5 and short.readings.get().temperature_c == 6
