"""The calendar grid: rows of quarter hours, a column per practitioner (day) or per day (week).

Pure layout from data already loaded (no queries), so the views keep a fixed query count.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import dateformat, timezone

from clinic.models import Location

SLOT = dt.timedelta(minutes=15)
DEFAULT_START = dt.time(8, 0)
DEFAULT_END = dt.time(20, 0)


def bookable_practitioners(location: Location | None = None) -> QuerySet:
    """Active staff holding ``treatments.perform_session`` (through a role), optionally at a location."""
    perm = Permission.objects.filter(codename="perform_session", content_type__app_label="treatments")
    qs = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(groups__permissions__in=perm) | Q(user_permissions__in=perm))
    )
    if location is not None:
        qs = qs.filter(staff_profile__locations=location)
    return qs.distinct().order_by("last_name", "first_name", "pk")


@dataclass
class Column:
    key: object
    label: str
    day: dt.date
    practitioner: object
    hours: list[tuple[dt.time, dt.time]] = field(default_factory=list)
    sessions: list = field(default_factory=list)


@dataclass
class Cell:
    kind: str  # "sessions", "covered" or "empty"
    column: Column
    start: dt.datetime
    sessions: list = field(default_factory=list)
    rowspan: int = 1
    in_hours: bool = False
    # An empty slot the user may book: the booking link, its accessible name and the key the
    # browser tests click (filled by ``slot_links``; empty strings print no link).
    book_url: str = ""
    book_label: str = ""
    slot_key: str = ""


@dataclass
class Row:
    start: dt.datetime
    cells: list[Cell]

    @property
    def label(self) -> str:
        return f"{self.start:%H:%M}"

    @property
    def on_the_hour(self) -> bool:
        return self.start.minute == 0


def _combine(day: dt.date, t: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, t, tzinfo=timezone.get_current_timezone())


def day_bounds(columns: list[Column]) -> tuple[dt.time, dt.time]:
    """08:00–20:00, widened to whole hours covering every working interval and session."""
    start, end = DEFAULT_START, DEFAULT_END
    for col in columns:
        for s, e in col.hours:
            start, end = min(start, s), max(end, e)
        for session in col.sessions:
            s = timezone.localtime(session.starts_at)
            e = timezone.localtime(session.ends_at)
            if s.date() == col.day:
                start = min(start, s.time())
            end = max(end, e.time() if e.date() == col.day else dt.time(23, 45))
    start = dt.time(start.hour)
    if end.minute or end.second:
        end = dt.time(min(end.hour + 1, 23), 45 if end.hour >= 23 else 0)
    return start, end


def _blocks(sessions: list, day_start: dt.datetime, n_slots: int) -> dict[int, Cell]:
    """Group sessions into cells by slot; overlapping sessions (imported data) share a cell."""
    blocks: dict[int, Cell] = {}
    current: Cell | None = None
    current_index = current_end = 0
    for s in sorted(sessions, key=lambda x: x.starts_at):
        index = max(0, math.floor((s.starts_at - day_start) / SLOT))
        end = min(n_slots, max(index + 1, math.ceil((s.ends_at - day_start) / SLOT)))
        if index >= n_slots:
            break
        if current is not None and index < current_end:
            current.sessions.append(s)
            current_end = max(current_end, end)
            current.rowspan = current_end - current_index
            continue
        current = Cell("sessions", None, day_start + index * SLOT, [s], rowspan=end - index)
        current_index, current_end = index, end
        blocks[index] = current
    return blocks


def build_grid(columns: list[Column]) -> list[Row]:
    """Rows of quarter hours; each row has one cell per column (covered cells are skipped in HTML)."""
    if not columns:
        return []
    first, last = day_bounds(columns)
    span = dt.datetime.combine(dt.date.min, last) - dt.datetime.combine(dt.date.min, first)
    n_slots = max(1, int(span / SLOT))
    rows = [Row(_combine(columns[0].day, first) + k * SLOT, []) for k in range(n_slots)]
    for col in columns:
        day_start = _combine(col.day, first)
        blocks = _blocks(col.sessions, day_start, n_slots)
        covered = {k for start, c in blocks.items() for k in range(start + 1, start + c.rowspan)}
        for k in range(n_slots):
            start = day_start + k * SLOT
            if k in blocks:
                blocks[k].column = col
                rows[k].cells.append(blocks[k])
            elif k in covered:
                rows[k].cells.append(Cell("covered", col, start))
            else:
                t0 = start.time()
                t1 = (start + SLOT).time()
                in_hours = any(s <= t0 and (t1 <= e or t1 == dt.time(0)) for s, e in col.hours)
                rows[k].cells.append(Cell("empty", col, start, in_hours=in_hours))
    return rows


def slot_links(rows: list[Row], *, location_id: int, can_book: bool, can_book_outside: bool) -> None:
    """Give each bookable empty cell its booking link, label and slot key, and each session its
    detail link and times, so the template only prints them.

    The grid has a few hundred cells (a column per practitioner, a row per quarter hour): done
    in the template, every bookable cell ran ``{% url %}``, the practitioner's full name and
    four date filters. The strings are the ones those tags printed: local times, Django's own
    date format for the day (computed once per day and per practitioner).
    """
    if not rows:
        return
    book = reverse("treatments:session_book")
    names: dict[int, str] = {}
    days: dict[dt.date, str] = {}
    for row in rows:
        for cell in row.cells:
            if cell.kind == "sessions":
                for s in cell.sessions:
                    s.cal_url = reverse("treatments:session_detail", args=[s.pk])
                    s.cal_times = (
                        f"{timezone.localtime(s.starts_at):%H:%M}–{timezone.localtime(s.ends_at):%H:%M}"
                    )
                continue
            if cell.kind != "empty" or not ((can_book and cell.in_hours) or can_book_outside):
                continue
            practitioner = cell.column.practitioner
            name = names.get(practitioner.pk)
            if name is None:
                name = names[practitioner.pk] = practitioner.get_full_name()
            local = timezone.localtime(cell.start)
            day = days.get(local.date())
            if day is None:
                day = days[local.date()] = dateformat.format(local, "D j M")
            stamp = f"{local:%Y-%m-%dT%H:%M}"
            cell.book_url = f"{book}?practitioner={practitioner.pk}&location={location_id}&start={stamp}"
            cell.book_label = f"Book {name}, {day} at {local:%H:%M}" + (
                "" if cell.in_hours else " (outside working hours)"
            )
            cell.slot_key = f"{practitioner.username} {stamp}"
