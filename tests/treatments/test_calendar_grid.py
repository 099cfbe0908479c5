"""The calendar grid layout: rowspans, covered slots, working hours, overlapping imports."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from django.utils import timezone

from treatments.calendar import Column, build_grid

DAY = dt.date(2026, 3, 2)  # a Monday


def _at(h, m=0):
    return dt.datetime.combine(DAY, dt.time(h, m), tzinfo=timezone.get_current_timezone())


def _s(h, m, minutes, name="s"):
    return SimpleNamespace(starts_at=_at(h, m), ends_at=_at(h, m) + dt.timedelta(minutes=minutes), name=name)


def _column(sessions=(), hours=((dt.time(9), dt.time(17)),)):
    return Column(key=1, label="P", day=DAY, practitioner=None, hours=list(hours), sessions=list(sessions))


def _cells(rows, col=0):
    return [row.cells[col] for row in rows]


def test_the_day_runs_from_8_to_20_in_quarter_hours():
    rows = build_grid([_column()])
    assert len(rows) == 48 and rows[0].label == "08:00" and rows[-1].label == "19:45"


def test_slots_inside_working_hours_are_marked():
    cells = _cells(build_grid([_column()]))
    assert not cells[3].in_hours  # 08:45
    assert cells[4].in_hours  # 09:00
    assert cells[35].in_hours and not cells[36].in_hours  # 16:45 in, 17:00 out


def test_a_session_spans_its_quarter_hours_and_covers_them():
    cells = _cells(build_grid([_column([_s(10, 0, 45)])]))
    start = cells[8]  # 10:00
    assert start.kind == "sessions" and start.rowspan == 3
    assert [c.kind for c in cells[9:12]] == ["covered", "covered", "empty"]


def test_an_off_grid_start_lands_in_its_slot():
    cells = _cells(build_grid([_column([_s(10, 5, 20)])]))
    assert cells[8].kind == "sessions" and cells[8].rowspan == 2


def test_overlapping_sessions_share_one_cell():
    cells = _cells(build_grid([_column([_s(10, 0, 60, "a"), _s(10, 30, 60, "b")])]))
    assert [s.name for s in cells[8].sessions] == ["a", "b"]
    assert cells[8].rowspan == 6 and cells[13].kind == "covered" and cells[14].kind == "empty"


def test_an_early_session_widens_the_day():
    rows = build_grid([_column([_s(7, 15, 30)])])
    assert rows[0].label == "07:00" and rows[1].cells[0].kind == "sessions"


def test_each_column_gets_a_cell_in_every_row():
    rows = build_grid([_column([_s(9, 0, 30)]), _column()])
    assert all(len(r.cells) == 2 for r in rows)
