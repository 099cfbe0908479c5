"""The demo data covers every format and source; the scheduled import command is idempotent."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from products.models import (
    Excursion,
    Format,
    Lot,
    LotStatus,
    Product,
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
        call_command(
            "import_logger_files", "--dir", str(tmp_path), "--date-format", "iso", stdout=out, stderr=err
        )
        assert "2 readings added" in out.getvalue() and "UNKNOWN-1.csv" in err.getvalue()
        call_command(
            "import_logger_files", "--dir", str(tmp_path), "--date-format", "iso", stdout=out, stderr=err
        )
        assert "already imported" in out.getvalue()
        assert unit.readings.count() == 2

    def test_a_bad_file_fails_the_run_and_imports_nothing(self, tmp_path, location):
        unit = StorageUnitFactory(location=location)
        bad = tmp_path / "bad.csv"
        bad.write_text("Time,Temp (°C)\n2026-03-01 00:00:00,5\nnot a date,5\n")
        with pytest.raises(CommandError, match="1 file"):
            call_command(
                "import_logger_files", "--unit", str(unit.pk), str(bad), "--date-format", "iso",
                stdout=io.StringIO(), stderr=io.StringIO(),
            )  # fmt: skip
        assert not unit.readings.exists()
