"""Temperature readings: manual checks, data-logger imports and missed-check detection."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from clinic.audit import AuditAction, audit_record, snapshot
from products.models import StorageUnit, TemperatureReading
from products.models.coldchain import ReadingImport, ReadingSource
from products.services.excursions import ApplyResult, apply_readings

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# Date formats a manager can state for a logger file (never guessed: 03/04 is ambiguous).
DATE_FORMATS: dict[str, tuple[str, str]] = {
    "iso": ("%Y-%m-%d %H:%M:%S", "2026-03-31 14:05:00"),
    "iso_min": ("%Y-%m-%d %H:%M", "2026-03-31 14:05"),
    "iso_t": ("%Y-%m-%dT%H:%M:%S", "2026-03-31T14:05:00"),
    "dmy": ("%d/%m/%Y %H:%M:%S", "31/03/2026 14:05:00"),
    "dmy_min": ("%d/%m/%Y %H:%M", "31/03/2026 14:05"),
    "mdy": ("%m/%d/%Y %H:%M:%S", "03/31/2026 14:05:00"),
    "mdy_min": ("%m/%d/%Y %H:%M", "03/31/2026 14:05"),
    "dmy_dot": ("%d.%m.%Y %H:%M:%S", "31.03.2026 14:05:00"),
    "dmy_dot_min": ("%d.%m.%Y %H:%M", "31.03.2026 14:05"),
}
DATE_FORMAT_CHOICES = [(key, f"{example}  ({fmt})") for key, (fmt, example) in DATE_FORMATS.items()]

PLAUSIBLE_C = (Decimal("-100"), Decimal("60"))
MAX_REPORTED_ERRORS = 20


# --- Readings ---------------------------------------------------------------------------


@transaction.atomic
def reading_record(
    *,
    unit: StorageUnit,
    actor: User | None,
    temperature_c: Decimal,
    min_c: Decimal | None = None,
    max_c: Decimal | None = None,
    taken_at: dt.datetime | None = None,
) -> TemperatureReading:
    """A manual check of a unit: current temperature and the min/max since the last check."""
    taken_at = taken_at or timezone.now()
    if taken_at > timezone.now() + dt.timedelta(minutes=5):
        raise ValidationError("A reading cannot be taken in the future.")
    if min_c is not None and min_c > temperature_c:
        raise ValidationError("The minimum cannot be above the current temperature.")
    if max_c is not None and max_c < temperature_c:
        raise ValidationError("The maximum cannot be below the current temperature.")
    for value in (temperature_c, min_c, max_c):
        if value is not None and not PLAUSIBLE_C[0] <= value <= PLAUSIBLE_C[1]:
            raise ValidationError(f"{value} °C is not a plausible temperature; check the display again.")
    if TemperatureReading.objects.filter(
        storage_unit=unit, taken_at=taken_at, source=ReadingSource.MANUAL
    ).exists():
        raise ValidationError("A manual reading at exactly this time is already recorded.")
    reading = TemperatureReading.objects.create(
        storage_unit=unit,
        taken_at=taken_at,
        temperature_c=temperature_c,
        min_c=min_c,
        max_c=max_c,
        source=ReadingSource.MANUAL,
        recorded_by=actor,
    )
    audit_record(
        actor=actor,
        action=AuditAction.READING_RECORD,
        obj=reading,
        location=unit.location,
        after=snapshot(reading, ("storage_unit", "taken_at", "temperature_c", "min_c", "max_c")),
    )
    apply_readings(unit=unit, readings=TemperatureReading.objects.filter(pk=reading.pk), actor=actor)
    return reading


@dataclass
class ImportResult:
    batch: ReadingImport
    added: int
    already_imported: bool = False
    excursions: ApplyResult | None = None


def _temperature_unit(header: list[str]) -> str:
    tokens = set(re.split(r"[^a-z]+", " ".join(header).lower().replace("°", " deg ")))
    if tokens & {"f", "degf", "fahrenheit"}:
        return "F"
    if tokens & {"c", "degc", "celsius"}:
        return "C"
    raise ValidationError(
        "Line 1: the header does not say whether temperatures are in °C or °F "
        "(e.g. “Temperature (°C)”); nothing was imported."
    )


def _columns(header: list[str]) -> tuple[int, int]:
    names = [h.strip().lower() for h in header]
    ts = next((i for i, n in enumerate(names) if "time" in n or "date" in n), None)
    temp = next((i for i, n in enumerate(names) if "temp" in n or "°" in n or n in ("c", "f")), None)
    if ts is None or temp is None or ts == temp:
        if len(names) < 2:
            raise ValidationError("Line 1: the header needs a timestamp column and a temperature column.")
        return 0, 1
    return ts, temp


def parse_logger_csv(content: bytes, date_format: str) -> list[tuple[dt.datetime, Decimal]]:
    """Rows of (aware timestamp, °C). Any bad line raises with its line number; all or nothing."""
    if date_format not in DATE_FORMATS:
        raise ValidationError("Choose the date format the logger writes.")
    fmt = DATE_FORMATS[date_format][0]
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("latin-1")
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise ValidationError("The file is empty.")
    header_line = lines[first]
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    header = next(csv.reader([header_line], delimiter=delimiter))
    unit = _temperature_unit(header)
    ts_col, temp_col = _columns(header)
    tz = timezone.get_current_timezone()
    rows: dict[dt.datetime, Decimal] = {}
    errors: list[str] = []
    reader = csv.reader(io.StringIO("\n".join(lines[first + 1 :])), delimiter=delimiter)
    strptime = dt.datetime.strptime
    for offset, cells in enumerate(reader):
        line_no = first + 2 + offset
        if not cells or not any(c.strip() for c in cells):
            continue
        if len(cells) <= max(ts_col, temp_col):
            errors.append(f"Line {line_no}: expected a timestamp and a temperature.")
        else:
            raw_ts, raw_temp = cells[ts_col].strip(), cells[temp_col].strip()
            try:
                when = strptime(raw_ts, fmt).replace(tzinfo=tz)
            except ValueError:
                errors.append(f"Line {line_no}: “{raw_ts}” is not a date in the chosen format.")
                when = None
            try:
                value = Decimal(raw_temp.replace(",", ".") if delimiter == ";" else raw_temp)
                if unit == "F":
                    value = (value - 32) * 5 / 9
                value = value.quantize(Decimal("0.01"))
                if not value.is_finite() or not PLAUSIBLE_C[0] <= value <= PLAUSIBLE_C[1]:
                    raise InvalidOperation
            except (InvalidOperation, ValueError):
                errors.append(f"Line {line_no}: “{raw_temp}” is not a plausible temperature.")
                value = None
            if when is not None and value is not None:
                rows[when] = value
        if len(errors) >= MAX_REPORTED_ERRORS:
            errors.append("… further lines not checked.")
            break
    if errors:
        raise ValidationError(["Nothing from this file was imported.", *errors])
    if not rows:
        raise ValidationError("The file holds no readings.")
    return sorted(rows.items())


@transaction.atomic
def readings_import_csv(
    *, unit: StorageUnit, content: bytes, filename: str, date_format: str, actor: User | None
) -> ImportResult:
    """Import a data-logger file. The same file twice adds nothing; a bad line imports nothing."""
    digest = hashlib.sha256(content).hexdigest()
    existing = ReadingImport.objects.filter(storage_unit=unit, sha256=digest).first()
    if existing is not None:
        return ImportResult(batch=existing, added=0, already_imported=True)
    rows = parse_logger_csv(content, date_format)
    batch = ReadingImport.objects.create(
        storage_unit=unit,
        sha256=digest,
        filename=filename[:200],
        date_format=date_format,
        rows=len(rows),
        imported_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    added = _insert_logger_rows(unit=unit, batch=batch, rows=rows)
    batch.added = added
    batch.save(update_fields=["added"])
    audit_record(
        actor=actor,
        action=AuditAction.READING_IMPORT,
        obj=batch,
        location=unit.location,
        after={"filename": filename, "rows": len(rows), "added": added, "sha256": digest},
    )
    applied = apply_readings(unit=unit, readings=TemperatureReading.objects.filter(batch=batch), actor=actor)
    return ImportResult(batch=batch, added=added, excursions=applied)


def _insert_logger_rows(*, unit: StorageUnit, batch: ReadingImport, rows) -> int:
    """Insert samples, skipping any the unit already has (overlapping files share samples:
    the unique (unit, time, source) key skips them). Returns how many were added."""
    if connection.vendor == "postgresql":
        # One INSERT … SELECT FROM unnest() per chunk: a 100 000-line file in about a second,
        # where building 100 000 model instances for bulk_create takes several.
        added = 0
        with connection.cursor() as cursor:
            for i in range(0, len(rows), 20_000):
                chunk = rows[i : i + 20_000]
                cursor.execute(
                    "INSERT INTO products_temperaturereading"
                    " (storage_unit_id, taken_at, temperature_c, source, batch_id)"
                    " SELECT %s, t, v, %s, %s FROM unnest(%s::timestamptz[], %s::numeric[]) AS u(t, v)"
                    " ON CONFLICT (storage_unit_id, taken_at, source) DO NOTHING",
                    [
                        unit.pk,
                        ReadingSource.LOGGER.value,
                        batch.pk,
                        [w for w, _ in chunk],
                        [v for _, v in chunk],
                    ],
                )
                added += cursor.rowcount
        return added
    TemperatureReading.objects.bulk_create(
        (
            TemperatureReading(
                storage_unit=unit,
                taken_at=when,
                temperature_c=value,
                source=ReadingSource.LOGGER,
                batch=batch,
            )
            for when, value in rows
        ),
        batch_size=5000,
        ignore_conflicts=True,
    )
    return TemperatureReading.objects.filter(batch=batch).count()


def readings_import_parsed(
    *,
    unit: StorageUnit,
    parsed,
    sha256: str,
    filename: str,
    actor: User | None,
    channel: str,
):
    """Import what a parser read (a ``products.loggerfiles.LoggerFile``) into ``unit``.

    Every line is accounted for in the returned batch (``ReadingImport``): added, already
    held, refused (then nothing is imported and the batch's status is "refused"), or waiting
    for an answer ("pending"). Times without an offset are read in the unit's logger clock.
    Idempotent on (unit, time). Returns an ``ImportResult``. (Being written for issue 14.)
    """
    raise NotImplementedError
