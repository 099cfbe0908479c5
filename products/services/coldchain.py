"""Cold-chain services: readings (manual and imported), excursions and their review."""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import DurationField, ExpressionWrapper, F, Q, Window
from django.db.models.functions import Lag
from django.urls import reverse
from django.utils import timezone

from clinic.audit import audit_record, snapshot
from clinic.outbox import notification_queue
from products.models import Excursion, ExcursionAddendum, ExcursionLot, Lot, StorageUnit, TemperatureReading
from products.models.coldchain import Decision, ReadingImport, ReadingSource
from products.models.stock import MovementKind, WasteReason

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
LOGGER_INTERVAL = dt.timedelta(minutes=30)
MANUAL_WORKING_HOURS = (8, 18)  # a working day, local time, Monday to Friday


# --- Readings ---------------------------------------------------------------------------


@transaction.atomic
def reading_record(
    *,
    unit: StorageUnit,
    actor,
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
        action="reading.record",
        obj=reading,
        location=unit.location,
        after=snapshot(reading, ("storage_unit", "taken_at", "temperature_c", "min_c", "max_c")),
    )
    _apply_readings(unit=unit, readings=TemperatureReading.objects.filter(pk=reading.pk), actor=actor)
    return reading


@dataclass
class ImportResult:
    batch: ReadingImport
    added: int
    already_imported: bool = False


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
    *, unit: StorageUnit, content: bytes, filename: str, date_format: str, actor
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
        action="reading.import",
        obj=batch,
        location=unit.location,
        after={"filename": filename, "rows": len(rows), "added": added, "sha256": digest},
    )
    _apply_readings(unit=unit, readings=TemperatureReading.objects.filter(batch=batch), actor=actor)
    return ImportResult(batch=batch, added=added)


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


# --- Excursions ---------------------------------------------------------------------------


def _out_of_range(unit: StorageUnit) -> Q:
    lo, hi = unit.min_c, unit.max_c
    return Q(temperature_c__lt=lo) | Q(temperature_c__gt=hi) | Q(min_c__lt=lo) | Q(max_c__gt=hi)


def _apply_readings(*, unit: StorageUnit, readings, actor) -> Excursion | None:
    """Open or extend the unit's excursion from new readings outside its range."""
    # The unit's row lock serialises everything that may open an excursion or add stock to
    # the unit (see stock._hold_for_open_excursion), so nothing slips past a quarantine.
    unit = StorageUnit.objects.select_for_update(of=("self",)).select_related("location").get(pk=unit.pk)
    out = list(
        readings.filter(_out_of_range(unit))
        .order_by("taken_at")
        .values_list("taken_at", "temperature_c", "min_c", "max_c")
    )
    excursion = unit.excursions.filter(closed_at__isnull=True).first()
    if not out:
        if excursion is not None:
            _refresh_back_in_range(excursion)
        return excursion
    opened = excursion is None
    lows = [min(v for v in (t, lo) if v is not None) for _, t, lo, _ in out]
    highs = [max(v for v in (t, hi) if v is not None) for _, t, _, hi in out]
    if opened:
        excursion = Excursion.objects.create(
            storage_unit=unit,
            started_at=out[0][0],
            last_out_at=out[-1][0],
            lowest_c=min(lows),
            highest_c=max(highs),
        )
    else:
        before = snapshot(excursion, ("started_at", "last_out_at", "lowest_c", "highest_c"))
        excursion.started_at = min(excursion.started_at, out[0][0])
        excursion.last_out_at = max(excursion.last_out_at, out[-1][0])
        excursion.lowest_c = min(excursion.lowest_c, *lows)
        excursion.highest_c = max(excursion.highest_c, *highs)
        excursion.save(update_fields=["started_at", "last_out_at", "lowest_c", "highest_c"])
    _refresh_back_in_range(excursion)
    after = snapshot(excursion, ("started_at", "last_out_at", "lowest_c", "highest_c", "back_in_range_at"))
    if opened:
        audit_record(actor=actor, action="excursion.open", obj=excursion, location=unit.location, after=after)
        _alert_managers(excursion)
    else:
        audit_record(
            actor=actor,
            action="excursion.extend",
            obj=excursion,
            location=unit.location,
            before=before,
            after=after,
        )
    for lot in Lot.objects.filter(storage_unit=unit, quantity_on_hand__gt=0).exclude(
        excursions__excursion=excursion
    ):
        excursion_hold_lot(excursion=excursion, lot=lot, actor=actor)
    return excursion


def _refresh_back_in_range(excursion: Excursion) -> None:
    """The first in-range reading after the last one outside the range ends the spell."""
    unit = excursion.storage_unit
    first_back = (
        TemperatureReading.objects.filter(storage_unit=unit, taken_at__gt=excursion.last_out_at)
        .exclude(_out_of_range(unit))
        .order_by("taken_at")
        .values_list("taken_at", flat=True)
        .first()
    )
    if first_back != excursion.back_in_range_at:
        excursion.back_in_range_at = first_back
        excursion.save(update_fields=["back_in_range_at"])


def _alert_managers(excursion: Excursion) -> None:
    unit = excursion.storage_unit
    User = get_user_model()
    managers = (
        User.objects.filter(
            is_active=True,
            staff_profile__locations=unit.location,
            groups__permissions__codename="review_excursion",
            groups__permissions__content_type__app_label="products",
        )
        .distinct()
        .order_by("pk")
    )
    link = reverse("products:excursion_detail", args=[excursion.pk])
    for manager in managers:
        notification_queue(
            kind="excursion.opened",
            channel="in_app",
            subject=f"Temperature excursion in {unit.name} at {unit.location.name}",
            body=(
                f"{unit.name} read outside {unit.min_c}–{unit.max_c} °C from "
                f"{timezone.localtime(excursion.started_at):%d %b %H:%M}. Its stock is quarantined "
                "until you review the excursion."
            ),
            dedupe_key=f"excursion:{excursion.pk}:manager:{manager.pk}",
            recipient_user=manager,
            location=unit.location,
            link=link,
        )


@transaction.atomic
def excursion_hold_lot(*, excursion: Excursion, lot: Lot, actor) -> ExcursionLot:
    """Put one lot under the excursion's hold ("do not use"), through the ledger."""
    from products.services.stock import _audit, _move, lock_lot

    lot = lock_lot(lot)
    held, _created = ExcursionLot.objects.get_or_create(
        excursion=excursion, lot=lot, defaults={"quantity_at_start": lot.quantity_on_hand}
    )
    if not lot.is_quarantined:
        before = snapshot(lot, ("is_quarantined", "hold_reason"))
        lot.is_quarantined = True
        lot.hold_reason = f"Temperature excursion #{excursion.pk} in {excursion.storage_unit.name}"
        lot.save(update_fields=["is_quarantined", "hold_reason"])
        _move(lot, kind=MovementKind.QUARANTINE, quantity=0, actor=actor, note=lot.hold_reason)
        _audit(lot, "lot.quarantine", actor, before, excursion=excursion.pk)
    return held


REVIEW_FIELDS = (
    "what_happened",
    "temperature_when_found_c",
    "room_temperature_c",
    "found_by",
    "manufacturer_contact",
    "manufacturer_contacted_at",
    "manufacturer_answer",
    "prevention",
)


def _lock_open(excursion: Excursion) -> Excursion:
    excursion = (
        Excursion.objects.select_for_update(of=("self",))
        .select_related("storage_unit__location")
        .get(pk=excursion.pk)
    )
    if not excursion.is_open:
        raise ValidationError("This excursion is closed; add an addendum instead of editing it.")
    return excursion


@transaction.atomic
def excursion_review(*, excursion: Excursion, actor, **review) -> Excursion:
    """Save the review so far (the excursion stays open and its stock held)."""
    excursion = _lock_open(excursion)
    unknown = set(review) - set(REVIEW_FIELDS)
    if unknown:
        raise ValueError(f"Unknown review fields: {sorted(unknown)}")
    before = snapshot(excursion, REVIEW_FIELDS)
    for name, value in review.items():
        setattr(excursion, name, value)
    excursion.full_clean()
    excursion.save(update_fields=list(review))
    audit_record(
        actor=actor,
        action="excursion.review",
        obj=excursion,
        location=excursion.storage_unit.location,
        before=before,
        after=snapshot(excursion, REVIEW_FIELDS),
    )
    return excursion


@transaction.atomic
def excursion_close(
    *, excursion: Excursion, actor, decisions: dict[int, tuple[str, str]], **review
) -> Excursion:
    """Close with the review and a decision per held lot: release it or discard its stock."""
    from products.services.stock import lot_release, stock_waste

    excursion = excursion_review(excursion=excursion, actor=actor, **review)
    problems = []
    if excursion.back_in_range_at is None:
        problems.append("The unit has not read inside its range since; record a reading first.")
    for name, label in (
        ("what_happened", "what happened"),
        ("found_by", "who found it"),
        ("prevention", "the action taken to prevent it again"),
    ):
        if not getattr(excursion, name):
            problems.append(f"Record {label}.")
    held = list(excursion.lots.select_related("lot"))
    for item in held:
        decision, reason = decisions.get(item.lot_id, ("", ""))
        if decision not in Decision.values or not reason.strip():
            problems.append(
                f"Decide about lot {item.lot.lot_number} (release or discard) and give the reason."
            )
    releasing = any(decisions.get(i.lot_id, ("",))[0] == Decision.RELEASE for i in held)
    if releasing and not excursion.manufacturer_answer:
        problems.append("Releasing stock needs the manufacturer's answer.")
    if problems:
        raise ValidationError(problems)
    excursion.closed_at = timezone.now()
    excursion.reviewed_by = actor
    excursion.save(update_fields=["closed_at", "reviewed_by"])
    for item in held:
        decision, reason = decisions[item.lot_id]
        item.decision, item.reason = decision, reason.strip()[:300]
        item.save(update_fields=["decision", "reason"])
        lot = Lot.objects.get(pk=item.lot_id)
        note = f"Excursion #{excursion.pk}: {item.reason}"
        if decision == Decision.DISCARD:
            if lot.quantity_on_hand > 0:
                stock_waste(
                    lot=lot,
                    quantity=lot.quantity_on_hand,
                    reason=WasteReason.TEMPERATURE,
                    actor=actor,
                    note=note,
                )
        elif lot.is_quarantined and not lot.is_recalled:
            still_held = lot.excursions.filter(excursion__closed_at__isnull=True).exists()
            if not still_held and lot.hold_reason.startswith("Temperature excursion"):
                lot_release(lot=lot, actor=actor, reason=note, excursion=excursion)
    audit_record(
        actor=actor,
        action="excursion.close",
        obj=excursion,
        location=excursion.storage_unit.location,
        after={"decisions": {str(i.lot_id): [i.decision, i.reason] for i in held}},
    )
    return excursion


@transaction.atomic
def excursion_addendum(*, excursion: Excursion, actor, text: str) -> ExcursionAddendum:
    """Add a correction or later fact to a closed excursion."""
    if not text.strip():
        raise ValidationError("Write the addendum.")
    excursion = Excursion.objects.select_related("storage_unit__location").get(pk=excursion.pk)
    if excursion.is_open:
        raise ValidationError("The excursion is still open; edit its review instead.")
    addendum = ExcursionAddendum.objects.create(excursion=excursion, text=text.strip(), author=actor)
    audit_record(
        actor=actor,
        action="excursion.addendum",
        obj=excursion,
        location=excursion.storage_unit.location,
        after={"addendum": addendum.pk, "text": addendum.text},
    )
    return addendum


# --- Missed checks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    source: str
    after: dt.datetime
    before: dt.datetime

    @property
    def duration(self) -> dt.timedelta:
        return self.before - self.after


def _half_days(since: dt.datetime, until: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """Working half-days (08–13, 13–18 local, Monday–Friday) lying wholly inside the period."""
    tz = timezone.get_current_timezone()
    first, last = timezone.localtime(since).date(), timezone.localtime(until).date()
    open_h, close_h = MANUAL_WORKING_HOURS
    middle = (open_h + close_h) // 2
    slots = []
    day = first
    while day <= last:
        if day.weekday() < 5:
            for a, b in ((open_h, middle), (middle, close_h)):
                slot = (dt.datetime.combine(day, dt.time(a), tz), dt.datetime.combine(day, dt.time(b), tz))
                if slot[0] >= since and slot[1] <= until:
                    slots.append(slot)
        day += dt.timedelta(days=1)
    return slots


def missed_checks(unit: StorageUnit, *, since: dt.datetime, until: dt.datetime | None = None) -> list[Gap]:
    """Gaps longer than expected: manual checks half a working day apart, logger samples 30 min."""
    until = until or timezone.now()
    gaps: list[Gap] = []
    manual = list(
        unit.readings.filter(source=ReadingSource.MANUAL, taken_at__gte=since, taken_at__lte=until)
        .order_by("taken_at")
        .values_list("taken_at", flat=True)
    )
    # Checks are due at the start and end of each working day: every working half-day
    # should hold one. Consecutive empty half-days make one gap.
    slots = _half_days(since, until)
    run: list[tuple[dt.datetime, dt.datetime]] = []
    for index, (a, b) in enumerate(slots):
        i = bisect.bisect_left(manual, a)
        checked = i < len(manual) and manual[i] < b
        if not checked and run and run[-1][1] == index - 1:
            run[-1] = (run[-1][0], index)
        elif not checked:
            run.append((index, index))
    gaps += [Gap(ReadingSource.MANUAL, slots[i][0], slots[j][1]) for i, j in run]
    if unit.logger_id:
        # The database compares each sample with the one before (LAG) and returns only gaps:
        # a fortnight of 5-minute samples never travels to Python.
        logged = (
            unit.readings.filter(source=ReadingSource.LOGGER, taken_at__gte=since, taken_at__lte=until)
            .annotate(previous=Window(Lag("taken_at"), order_by=F("taken_at").asc()))
            .annotate(gap=ExpressionWrapper(F("taken_at") - F("previous"), output_field=DurationField()))
            .filter(gap__gt=LOGGER_INTERVAL)
            .order_by("taken_at")
            .values_list("previous", "taken_at")
        )
        gaps += [Gap(ReadingSource.LOGGER, previous, when) for previous, when in logged]
    return sorted(gaps, key=lambda g: g.after, reverse=True)
