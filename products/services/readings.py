"""Temperature readings: manual checks and data-logger imports (files and networked loggers)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, BinaryIO

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from clinic.audit import AuditAction, audit_record, snapshot
from clinic.files import store_private_stream
from products.loggerfiles import (
    MAX_NOTES,
    MAX_RUNS,
    PLAUSIBLE_C,
    ClockReader,
    LineNote,
    LoggerFile,
    Sample,
    analyse,
)
from products.models import StorageUnit, TemperatureReading
from products.models.coldchain import ImportChannel, ImportStatus, LoggerClock, ReadingImport, ReadingSource
from products.services.excursions import ApplyResult, apply_readings

if TYPE_CHECKING:
    from django.contrib.auth.models import User


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

    @property
    def status(self) -> str:
        return self.batch.status

    @property
    def questions(self) -> list[dict]:
        return self.batch.summary.get("questions", [])


CLOCK_LABELS = {
    LoggerClock.LOCAL: "local time ({zone})",
    LoggerClock.UTC: "UTC",
    LoggerClock.FIXED: "UTC{offset}",
}


def clock_label(unit: StorageUnit) -> str:
    minutes = unit.logger_utc_offset_minutes or 0
    sign = "+" if minutes >= 0 else "−"
    offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return CLOCK_LABELS[LoggerClock(unit.logger_clock)].format(
        zone=timezone.get_current_timezone_name(), offset=offset
    )


def _sha256(fileobj: BinaryIO) -> str:
    fileobj.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(lambda: fileobj.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def readings_import_file(
    *,
    unit: StorageUnit,
    file: BinaryIO | bytes,
    filename: str,
    actor: User | None,
    channel: str = ImportChannel.UPLOAD,
    answers: dict[str, str] | None = None,
    pending: ReadingImport | None = None,
    now: dt.datetime | None = None,
) -> ImportResult:
    """Import a data-logger export (any layout ``products.loggerfiles`` reads) into ``unit``.

    The file is read twice from ``file`` (never held whole), kept privately with the import,
    and accounted for line by line in the returned batch: imported, refused (nothing of it
    imported, every unreadable line listed) or pending (a question for the user, e.g. which
    way round its dates are: ``answers`` carries the reply, ``pending`` the batch it resumes).
    The same file twice adds nothing.
    """
    fileobj = io.BytesIO(file) if isinstance(file, bytes) else file
    digest = _sha256(fileobj)
    existing = ReadingImport.objects.filter(
        storage_unit=unit, sha256=digest, status=ImportStatus.IMPORTED
    ).first()
    if existing is not None:
        return ImportResult(batch=existing, added=0, already_imported=True)
    parsed = analyse(fileobj, clock=unit.logger_tzinfo, answers=answers, now=now or timezone.now())
    stored = pending.file_name if pending is not None else ""
    if not stored and channel != ImportChannel.FEED:
        stored = store_private_stream(fileobj, folder="logger-files", kind="text")
    return readings_import_parsed(
        unit=unit, parsed=parsed, sha256=digest, filename=filename, actor=actor, channel=channel,
        file_name=stored, pending=pending, answers=answers,
    )  # fmt: skip


def readings_import_parsed(
    *,
    unit: StorageUnit,
    parsed: LoggerFile,
    sha256: str,
    filename: str,
    actor: User | None,
    channel: str,
    file_name: str = "",
    pending: ReadingImport | None = None,
    answers: dict[str, str] | None = None,
) -> ImportResult:
    """Import what a parser read (a ``LoggerFile``: a file, or a networked logger's batch).

    Every line is accounted for in the batch (``ReadingImport``): added, already held (in the
    unit, or repeated in the file), skipped (preamble, header, blank, "no reading" marks) or
    refused with its line and reason — and then nothing of it is imported. Times without an
    offset were read in the unit's logger clock. Idempotent on (unit, time).
    """
    with transaction.atomic():
        unit = StorageUnit.objects.select_for_update(of=("self",)).select_related("location").get(pk=unit.pk)
        batch = pending or ReadingImport(storage_unit=unit)
        batch.sha256, batch.filename, batch.channel = sha256, filename[:200], channel
        batch.file_name = file_name or batch.file_name
        batch.imported_by = actor if getattr(actor, "is_authenticated", False) else None
        batch.imported_at = timezone.now()
        batch.layout = parsed.layout
        batch.date_format = parsed.date_format
        batch.temperature_unit = parsed.temperature_unit
        batch.logger_clock = clock_label(unit)[:40]
        batch.lines, batch.skipped, batch.refused = parsed.lines, parsed.skipped_count, parsed.refused_count
        batch.summary = _summary(parsed, answers)
        batch.rows = batch.added = batch.already_held = 0
        if parsed.refused_count or parsed.refused:
            # The second pass still runs, so the summary lists every line that cannot be read.
            unread: list[LineNote] = []
            for _ in _only_samples(parsed.samples(), unread, ClockReader(unit.logger_tzinfo)):
                pass
            return _refuse(batch, parsed, unread, actor)
        if parsed.questions:
            batch.status = ImportStatus.PENDING
            batch.rows = parsed.readings
            batch.save()
            return ImportResult(batch=batch, added=0)
        batch.status = ImportStatus.IMPORTED
        try:
            with transaction.atomic():
                batch.save()
        except IntegrityError:  # the same file, imported by someone else a moment ago
            existing = ReadingImport.objects.get(
                storage_unit=unit, sha256=sha256, status=ImportStatus.IMPORTED
            )
            return ImportResult(batch=existing, added=0, already_imported=True)
        late: list[LineNote] = []
        sid = transaction.savepoint()
        rows, added, first, last = _insert_samples(
            unit=unit, batch=batch, samples=parsed.samples(), refused=late
        )
        if late:
            transaction.savepoint_rollback(sid)
            return _refuse(batch, parsed, late, actor)
        transaction.savepoint_commit(sid)
        batch.rows, batch.added, batch.already_held = rows, added, rows - added
        batch.first_at, batch.last_at = first, last
        batch.summary["notes"] = parsed.notes[:20]  # how the clock changes were read (second pass)
        batch.save()
        if unit.logger_interval_minutes is None and parsed.interval is not None:
            unit.logger_interval_minutes = max(1, round(parsed.interval.total_seconds() / 60))
            unit.save(update_fields=["logger_interval_minutes"])
        audit_record(
            actor=actor,
            action=AuditAction.READING_IMPORT,
            obj=batch,
            location=unit.location,
            after={
                "filename": filename, "rows": rows, "added": added, "already_held": rows - added,
                "lines": parsed.lines, "sha256": sha256,
            },
        )  # fmt: skip
        applied = apply_readings(
            unit=unit, readings=TemperatureReading.objects.filter(batch=batch), actor=actor
        )
    return ImportResult(batch=batch, added=added, excursions=applied)


def _refuse(
    batch: ReadingImport, parsed: LoggerFile, late: list[LineNote], actor: User | None
) -> ImportResult:
    """Keep a refused import with every line that cannot be read; nothing of it is imported."""
    notes = sorted([*parsed.refused, *late], key=lambda n: n.line)
    batch.status = ImportStatus.REFUSED
    batch.refused = parsed.refused_count + len(late)
    # Readings that could be read, but are not imported with the rest refused.
    batch.rows = max(parsed.readings - len(late), 0)
    batch.added = batch.already_held = 0
    batch.first_at = batch.last_at = None
    batch.summary["refused_lines"] = [{"line": n.line, "reason": n.reason} for n in notes[:MAX_NOTES]]
    batch.save()
    audit_record(
        actor=actor,
        action=AuditAction.READING_IMPORT_REFUSED,
        obj=batch,
        location=batch.storage_unit.location,
        after={"filename": batch.filename, "refused": batch.refused, "sha256": batch.sha256},
    )
    return ImportResult(batch=batch, added=0)


def _summary(parsed: LoggerFile, answers: dict[str, str] | None) -> dict:
    """What the unit page shows of an import: every group of lines, with numbers."""
    return {
        "encoding": parsed.encoding,
        "delimiter": {"\t": "tab", ";": "semicolon", ",": "comma"}.get(parsed.delimiter, parsed.delimiter),
        "header_line": parsed.header_line,
        "skipped": {reason: _ranges(lines) for reason, lines in parsed.skipped.items()},
        "skipped_counts": dict(parsed.skipped_counts),
        "refused_lines": [{"line": n.line, "reason": n.reason} for n in parsed.refused],
        "notes": parsed.notes[:20],
        "device": {k: v for k, v in parsed.metadata.items() if _device_key(k)},
        "interval_minutes": parsed.interval.total_seconds() / 60 if parsed.interval else None,
        "questions": [
            {"key": q.key, "prompt": q.prompt, "line": q.line, "text": q.text, "choices": q.choices}
            for q in parsed.questions
        ],
        "answers": answers or {},
    }


def _device_key(key: str) -> bool:
    low = key.lower()
    return any(
        word in low for word in ("serial", "device", "model", "product", "interval", "description", "user id")
    )


def _ranges(runs: list[list[int]]) -> str:
    """[[1, 3], [7, 7], [9, 10]] -> "1–3, 7, 9–10" (at most MAX_RUNS runs are kept)."""
    text = ", ".join(f"{a}–{b}" if b != a else str(a) for a, b in runs)
    return text + (" and more" if len(runs) >= MAX_RUNS else "")


def _insert_samples(
    *, unit: StorageUnit, batch: ReadingImport, samples: Iterator[Sample | LineNote], refused: list[LineNote]
):
    """Stream the samples into the readings table, skipping any the unit already has (the
    unique (unit, time, source) key); lines that cannot be read go to ``refused`` (the caller
    then rolls back). Returns (readings in the file, added, first, last)."""
    readings = _only_samples(samples, refused, ClockReader(unit.logger_tzinfo))
    if connection.vendor == "postgresql":
        return _copy_samples(unit=unit, batch=batch, samples=readings, refused=refused)
    rows = added = 0
    first = last = None
    for chunk in _chunks(readings, 5000):
        # A time the unit (or this file) already holds with another temperature is a clash,
        # not a repeat: refused, so an out-of-range value is never hidden behind an in-range one.
        held = {
            when: (value, batch_id)
            for when, value, batch_id in TemperatureReading.objects.filter(
                storage_unit=unit, source=ReadingSource.LOGGER, taken_at__in={s.when for s in chunk}
            ).values_list("taken_at", "temperature_c", "batch_id")
        }
        seen: dict[dt.datetime, tuple[Decimal, int]] = {}
        for s in chunk:
            if s.when in held and held[s.when][0] != s.celsius:
                value, source = held[s.when]
                refused.append(_clash(s, value, None if source != batch.pk else 0))
            elif s.when in seen and seen[s.when][0] != s.celsius:
                refused.append(_clash(s, seen[s.when][0], seen[s.when][1]))
            seen.setdefault(s.when, (s.celsius, s.line))
        if refused:
            continue  # the file is refused: read on only to list every bad line
        rows += len(chunk)
        times = [s.when for s in chunk]
        first = min([first, *times]) if first else min(times)
        last = max([last, *times]) if last else max(times)
        before = TemperatureReading.objects.filter(batch=batch).count()
        TemperatureReading.objects.bulk_create(
            [
                TemperatureReading(
                    storage_unit=unit,
                    taken_at=s.when,
                    temperature_c=s.celsius,
                    source=ReadingSource.LOGGER,
                    batch=batch,
                )
                for s in chunk
            ],
            ignore_conflicts=True,
        )
        added += TemperatureReading.objects.filter(batch=batch).count() - before
    return rows, added, first, last


def _clash(sample: Sample, other: Decimal, other_line: int | None) -> LineNote:
    """``other_line``: the earlier line of this file with that time; None: an earlier import
    (0: this file, line unknown)."""
    when = f"{timezone.localtime(sample.when):%d %b %Y %H:%M:%S}"
    where = (
        "the unit already has a logger reading then, from an earlier import"
        if other_line is None
        else f"line {other_line} has the same time"
        if other_line
        else "an earlier line has the same time"
    )
    return LineNote(sample.line, f"{sample.celsius} °C at {when}, but {where} with {other} °C")


def _only_samples(
    items: Iterator[Sample | LineNote], refused: list[LineNote], clock: ClockReader
) -> Iterator[Sample]:
    """The readings, each at its instant: a time without an offset (a networked logger's
    batch) is read in the unit's logger clock. What cannot be read goes to ``refused``."""
    for item in items:
        if isinstance(item, LineNote):
            refused.append(item)
        elif item.when.tzinfo is None:
            when = clock.read(item.when)
            if isinstance(when, str):
                refused.append(LineNote(item.line, when))
            else:
                yield Sample(item.line, when, item.celsius)
        else:
            clock.previous = item.when
            yield item


def _chunks(items: Iterator[Sample], size: int) -> Iterator[list[Sample]]:
    chunk: list[Sample] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _copy_samples(
    *, unit: StorageUnit, batch: ReadingImport, samples: Iterator[Sample], refused: list[LineNote]
):
    """PostgreSQL: COPY the stream into a temporary table, then one INSERT … SELECT … ON
    CONFLICT DO NOTHING — the floor the benchmark measures this against."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS logger_import_rows (line integer NOT NULL,"
            " taken_at timestamptz NOT NULL, temperature_c numeric(5, 2) NOT NULL) ON COMMIT DROP"
        )
        cursor.execute("TRUNCATE logger_import_rows")
        with cursor.cursor.copy("COPY logger_import_rows (line, taken_at, temperature_c) FROM STDIN") as copy:
            # COPY's text format written by hand, 64 KB at a time: adapting each value through
            # write_row costs more than parsing the line it came from.
            buffer: list[str] = []
            for s in samples:
                buffer.append(f"{s.line}\t{s.when.isoformat()}\t{s.celsius}\n")
                if len(buffer) == 2000:
                    copy.write("".join(buffer))
                    buffer.clear()
            if buffer:
                copy.write("".join(buffer))
        if refused:
            cursor.execute("DROP TABLE logger_import_rows")
            return 0, 0, None, None
        refused += _copy_clashes(cursor, unit)
        if refused:
            cursor.execute("DROP TABLE logger_import_rows")
            return 0, 0, None, None
        cursor.execute("SELECT count(*), min(taken_at), max(taken_at) FROM logger_import_rows")
        rows, first, last = cursor.fetchone()
        cursor.execute(
            "INSERT INTO products_temperaturereading"
            " (storage_unit_id, taken_at, temperature_c, source, batch_id)"
            " SELECT %s, taken_at, temperature_c, %s, %s FROM logger_import_rows"
            " ON CONFLICT (storage_unit_id, taken_at, source) DO NOTHING",
            [unit.pk, ReadingSource.LOGGER.value, batch.pk],
        )
        added = cursor.rowcount
        cursor.execute("DROP TABLE logger_import_rows")
    return rows, added, first, last


def _copy_clashes(cursor, unit: StorageUnit) -> list[LineNote]:
    """Lines whose time the file gives twice, or the unit already holds, with another
    temperature (see the SQLite path in ``_insert_samples``). Cheap questions first: most
    files repeat no time and overlap nothing the unit holds."""
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM logger_import_rows GROUP BY taken_at HAVING count(*) > 1),"
        " EXISTS (SELECT 1 FROM products_temperaturereading WHERE storage_unit_id = %s AND source = %s"
        " AND taken_at BETWEEN (SELECT min(taken_at) FROM logger_import_rows)"
        " AND (SELECT max(taken_at) FROM logger_import_rows))",
        [unit.pk, ReadingSource.LOGGER.value],
    )
    repeats, overlaps = cursor.fetchone()
    notes: list[LineNote] = []
    if repeats:
        cursor.execute(
            "SELECT line, taken_at, temperature_c, first_temp, first_line FROM ("
            " SELECT line, taken_at, temperature_c,"
            "  first_value(temperature_c) OVER w AS first_temp, first_value(line) OVER w AS first_line"
            " FROM logger_import_rows WINDOW w AS (PARTITION BY taken_at ORDER BY line)) AS x"
            " WHERE temperature_c <> first_temp ORDER BY line"
        )
        notes += [
            _clash(Sample(line, when, value), first_temp, first_line)
            for line, when, value, first_temp, first_line in cursor.fetchall()
        ]
    if overlaps:
        cursor.execute(
            "SELECT t.line, t.taken_at, t.temperature_c, r.temperature_c FROM logger_import_rows t"
            " JOIN products_temperaturereading r ON r.storage_unit_id = %s AND r.source = %s"
            " AND r.taken_at = t.taken_at WHERE r.temperature_c <> t.temperature_c ORDER BY t.line",
            [unit.pk, ReadingSource.LOGGER.value],
        )
        notes += [
            _clash(Sample(line, when, value), other, None) for line, when, value, other in cursor.fetchall()
        ]
    return sorted(notes, key=lambda n: n.line)
