"""The GET fuzz's own pieces (tests/fuzz.py): what it sends and how it finds the parameters."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.access import Row
from tests.fuzz import (
    COMMON,
    HOSTILE,
    PATH_IDS,
    PROBES,
    QUIET,
    as_url,
    path_variants,
    problem,
    queries,
    recording_get,
)

pytestmark = pytest.mark.django_db


def test_a_value_replaces_the_rows_own_and_keeps_the_others():
    base = [("unit", "3"), ("month", "2026-12")]
    sent = queries(base, ["month", "unit"])
    everything_abc = next(q for q in sent if dict(q).get("q") == "abc")
    assert dict(everything_abc)["unit"] == dict(everything_abc)["month"] == "abc"
    alone = [q for q in sent if ("unit", "abc") in q and ("month", "2026-12") in q]
    assert len(alone) == 1 and len(alone[0]) == 2


def test_every_hostile_value_is_sent_and_each_probe_alone():
    sent = queries([], ["date", "page"])
    assert len(sent) == len(HOSTILE) + 2 * len(PROBES) + 1
    assert [p for p in sent[-1] if p[0] == "page"] == [("page", "1"), ("page", "2")]
    assert {k for k, _ in sent[0]} == {"date", "page", *COMMON}


def test_long_values_go_to_the_parameters_read_only():
    sent = queries([], ["q"])
    long_ones = [q for q in sent if any(len(v) > 100 for _, v in q)]
    assert long_ones and all([k for k, _ in q] == ["q"] for q in long_ones)


def test_a_page_that_reads_nothing_gets_a_few_requests():
    assert len(queries([], [])) == len(QUIET) + 1


def test_a_nul_and_unicode_survive_the_address():
    url = as_url("/x/", [("q", "a\x00b"), ("r", "\u202e💉")])
    assert dict(parse_qsl(urlsplit(url).query)) == {"q": "a\x00b", "r": "\u202e💉"}


def test_path_numbers_are_swapped_for_ids_that_do_not_exist():
    row = Row("treatments:patient_detail", {"front_desk": 200}, args=lambda o: [o["pk"]])
    assert path_variants(row, {"pk": 5}) == [f"/treatments/patients/{fake}/" for fake in PATH_IDS]
    assert path_variants(Row("treatments:patient_list", {"front_desk": 200}), {}) == []


def test_the_parameters_a_view_reads_are_recorded(client_for, front_desk, monkeypatch):
    client = client_for(front_desk)
    with recording_get(monkeypatch) as reads:
        client.get("/treatments/patients/?fuzz-marker=1")
    assert {"q", "page", "sort"} <= reads
    client.get("/treatments/calendar/?fuzz-marker=1")
    assert "date" not in reads  # recording stops with the block


def test_a_500_is_reported_with_the_projects_frame(client_for, front_desk, monkeypatch):
    def explode(self, number):
        raise OverflowError("Python int too large")

    monkeypatch.setattr("django.core.paginator.Paginator.get_page", explode)
    found = problem(client_for(front_desk), "/treatments/patients/?page=99999999999999999999")
    assert found is not None and "OverflowError" in found and "clinic/tables.py" in found


def test_an_acceptable_answer_is_no_problem(client_for, front_desk):
    assert problem(client_for(front_desk), "/treatments/patients/?page=abc") is None
