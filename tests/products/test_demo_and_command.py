"""The demo data covers every format and source; the scheduled import command is idempotent."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from products.models import (
    Excursion,
    Format,
    Lot,
    LotStatus,
    Product,
    ReorderLevel,
    Source,
    StockMovement,
    TemperatureReading,
)
from tests.products.factories import StorageUnitFactory


@pytest.mark.django_db(transaction=True)
def test_the_demo_has_every_format_source_and_status_and_is_idempotent():
    call_command("seed_demo", stdout=io.StringIO())
    assert set(Product.objects.values_list("format", flat=True)) == set(Format.values)
    assert set(Product.objects.values_list("source", flat=True)) == set(Source.values)
    statuses = {lot.status for lot in Lot.objects.all()}
    assert {
        LotStatus.EXPIRED,
        LotStatus.EXPIRING_SOON,
        LotStatus.AVAILABLE,
        LotStatus.QUARANTINED,
    } <= statuses
    assert Excursion.objects.open().count() == 1
    assert TemperatureReading.objects.filter(source="logger").count() > 1000
    # A lot kept at both sites, and a product below its reorder minimum (issue 19).
    split = Lot.objects.filter(origin__isnull=False).select_related("origin__storage_unit", "storage_unit")
    assert any(s.origin.storage_unit.location_id != s.storage_unit.location_id for s in split)
    assert ReorderLevel.objects.low().exists() and ReorderLevel.objects.exclude(
        pk__in=ReorderLevel.objects.low()
    )
    before = (Lot.objects.count(), StockMovement.objects.count(), TemperatureReading.objects.count())
    call_command("seed_demo", stdout=io.StringIO())
    assert (Lot.objects.count(), StockMovement.objects.count(), TemperatureReading.objects.count()) == before
    for lot in Lot.objects.all():
        assert lot.quantity_on_hand == sum(lot.movements.values_list("quantity", flat=True))


@pytest.mark.django_db
class TestImportCommand:
    def test_it_imports_a_folder_by_logger_id_once(self, tmp_path, location):
        unit = StorageUnitFactory(location=location, logger_id="LOG-7")
        (tmp_path / "LOG-7-2026-03.csv").write_text(
            "Time,Temp (°C)\n2026-03-01 00:00:00,5\n2026-03-01 00:05:00,5.1\n"
        )
        (tmp_path / "UNKNOWN-1.csv").write_text("Time,Temp (°C)\n2026-03-01 00:00:00,5\n")
        out, err = io.StringIO(), io.StringIO()
        call_command("import_logger_files", "--dir", str(tmp_path), stdout=out, stderr=err)
        assert "2 readings added" in out.getvalue() and "UNKNOWN-1.csv" in err.getvalue()
        call_command("import_logger_files", "--dir", str(tmp_path), stdout=out, stderr=err)
        assert "already imported" in out.getvalue()
        assert unit.readings.count() == 2

    def test_a_bad_file_fails_the_run_and_imports_nothing(self, tmp_path, location):
        unit = StorageUnitFactory(location=location)
        bad = tmp_path / "bad.csv"
        bad.write_text("Time,Temp (°C)\n2026-03-01 00:00:00,5\nnot a date,5\n2026-03-01 00:10:00,5\n")
        err = io.StringIO()
        with pytest.raises(CommandError, match="1 file"):
            call_command(
                "import_logger_files", "--unit", str(unit.pk), str(bad), stdout=io.StringIO(), stderr=err
            )
        assert not unit.readings.exists()
        assert "line 3: “not a date” is not a date and time" in err.getvalue()

    def test_a_file_whose_dates_read_both_ways_is_asked_then_answered(self, tmp_path, location):
        unit = StorageUnitFactory(location=location)
        us = tmp_path / "us.csv"
        us.write_text("Date,Time,Temperature (°F)\n03/04/2026,1:05 PM,41\n")
        err = io.StringIO()
        with pytest.raises(CommandError):
            call_command(
                "import_logger_files", "--unit", str(unit.pk), str(us), stdout=io.StringIO(), stderr=err
            )
        assert "Which way round" in err.getvalue() and "--date-format" in err.getvalue()
        assert not unit.readings.exists()
        call_command(
            "import_logger_files",
            "--unit",
            str(unit.pk),
            str(us),
            "--date-format",
            "mdy",
            stdout=io.StringIO(),
        )
        reading = unit.readings.get()
        assert timezone.localtime(reading.taken_at).replace(tzinfo=None) == dt.datetime(2026, 3, 4, 13, 5)
        assert reading.temperature_c == 5
