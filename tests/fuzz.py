"""Hostile GET parameters for every page: no value of any date, number or text parameter answers 500.

Each app's access table (``tests/<app>/test_access.py``) already lists every URL with a role allowed to
use it and the objects its world fixture builds, so the fuzz reuses it: ``test_fuzz = fuzz_tests(ROWS)``
under ``test_access`` generates one test per GET row. Each test signs in as the row's first allowed
role and:

1. *discovers* the parameters the view reads: it requests the page once with a marker parameter (so
   ``Form(request.GET or None)`` binds) while every ``request.GET`` read is recorded, and adds the
   parameters of the row's own URL;
2. sends every hostile value of ``HOSTILE`` to all those parameters and the ``COMMON`` ones at once;
3. sends each ``PROBES`` value to each discovered parameter alone (the others keep the row's values),
   so a view that gives up on the first bad parameter cannot hide a second one;
4. repeats every parameter (``?page=1&page=2``), and swaps each number in the path for an id that
   does not exist and one past any integer column.

Every answer must be one of ``ACCEPTED`` (never 500) and carry no traceback; the test lists every
failing request at once. Each request runs in a savepoint, so a database error (PostgreSQL refuses
an out-of-range integer or a NUL byte) is reported for that request and does not poison the rest.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.db import transaction
from django.http import QueryDict
from django.urls import resolve, reverse

from tests.access import Row, World, user_for_role

# Values that have broken pages somewhere: empty, zero, negative, past any integer column, past any
# float, not-a-number, the first and last days Python knows, a day that does not exist, words, markup,
# a NUL byte, a 10 000-character string, right-to-left text with an emoji, ids that do not exist.
LONG = "9" * 10_000
HOSTILE: tuple[str, ...] = (
    "",
    "0",
    "-1",
    "1.5",
    "99999999999999999999",
    "-99999999999999999999",
    "2147483648",
    "1e309",
    "nan",
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "2026-13",
    "abc",
    "'\"<script>alert(1)</script>",
    "\x00",
    LONG,
    "\u202e\u05e9\u05dc\u05d5\u05dd \U0001f489\U0001f9ea",
    "987654",
)
# The values each parameter gets alone: the ones most likely to reach a parser past a form.
PROBES: tuple[str, ...] = ("99999999999999999999", "9999-12-31", "abc", LONG)
# What a page that reads no parameter is sent: enough to show it ignores them.
QUIET: tuple[str, ...] = ("99999999999999999999", "abc")
# Parameters list pages commonly read, sent with the all-at-once requests even when not discovered.
COMMON: tuple[str, ...] = (
    "page",
    "sort",
    "q",
    "date",
    "day",
    "week",
    "month",
    "year",
    "date_from",
    "date_to",
    "start",
    "end",
    "location",
    "unit",
    "product",
    "lot",
    "patient",
    "practitioner",
    "session",
    "status",
    "kind",
    "action",
    "actor",
    "next",
    "code",
    "format",
)
# Path numbers swapped in: an id that does not exist, and one past any integer column.
PATH_IDS: tuple[str, ...] = ("987654321", "99999999999999999999")
ACCEPTED = frozenset({200, 301, 302, 303, 400, 404})
MARKER = "fuzz-marker"

Query = list[tuple[str, str]]


# --- Discovering the parameters a view reads ----------------------------------------------------


class RecordingQueryDict(QueryDict):
    """A ``request.GET`` that notes every key looked up (``get``, ``[]``, ``getlist``, ``in``)."""

    reads: set[str] | None = None  # set while discovering; None otherwise

    @classmethod
    def _note(cls, key) -> None:
        if cls.reads is not None and isinstance(key, str):
            cls.reads.add(key)

    def __getitem__(self, key):
        self._note(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self._note(key)
        return super().__contains__(key)

    def getlist(self, key, default=None):
        self._note(key)
        return super().getlist(key, default)


@contextlib.contextmanager
def recording_get(monkeypatch) -> Iterator[set[str]]:
    """Within the block, every ``request.GET`` key read is added to the yielded set."""
    reads: set[str] = set()
    monkeypatch.setattr("django.core.handlers.wsgi.QueryDict", RecordingQueryDict)
    monkeypatch.setattr(RecordingQueryDict, "reads", reads)
    try:
        yield reads
    finally:
        monkeypatch.setattr(RecordingQueryDict, "reads", None)


# --- Building the hostile requests ----------------------------------------------------------------


def with_value(base: Query, names: Iterable[str], value: str) -> Query:
    """``base`` with each of ``names`` set to ``value`` (replacing what base gave it)."""
    names = list(dict.fromkeys(names))
    return [(k, v) for k, v in base if k not in names] + [(name, value) for name in names]


def repeated(base: Query, names: Iterable[str]) -> Query:
    """Every parameter twice, with two different values: ``?page=1&page=2``."""
    names = list(dict.fromkeys(names))
    return [(k, v) for k, v in base if k not in names] + [(n, v) for n in names for v in ("1", "2")]


def queries(base: Query, discovered: Sequence[str]) -> list[Query]:
    """Every query string one row is sent (see the module docstring).

    A page that reads no parameter gets ``QUIET`` only; one that reads a single parameter needs no
    one-at-a-time requests (all at once is that parameter alone, as far as the page is concerned).
    """
    everything = list(dict.fromkeys([*discovered, *COMMON]))
    if not discovered:
        return [*(with_value(base, everything, v) for v in QUIET), repeated(base, everything)]
    # The 10 000-character values go to the parameters the view reads only: 26 of them at once is
    # a 260 000-character address that tests nothing more and makes every request slow.
    found = [with_value(base, discovered if len(v) > 100 else everything, v) for v in HOSTILE]
    if len(discovered) > 1:
        found += [with_value(base, [name], value) for name in discovered for value in PROBES]
    found.append(repeated(base, everything))
    return found


def path_variants(row: Row, side) -> list[str]:
    """The row's path with each number argument swapped for ``PATH_IDS`` (rows built from ``args``)."""
    if row.args is None:
        return []
    args = list(row.args(side))
    found = []
    for i, arg in enumerate(args):
        if not isinstance(arg, int):
            continue
        for fake in PATH_IDS:
            found.append(reverse(row.name, args=[*args[:i], fake, *args[i + 1 :]]))
    return found


def as_url(path: str, query: Query) -> str:
    return f"{path}?{urlencode(query)}" if query else path


# --- Sending them ------------------------------------------------------------------------------


def _shorten(url: str) -> str:
    return url if len(url) <= 160 else f"{url[:150]}…({len(url)} chars)"


def _body(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def _own_frame(exc: BaseException) -> traceback.FrameSummary:
    """The deepest frame of the project's own code (the view or form to fix), else the deepest."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if "site-packages" not in f.filename and "/tests/" not in f.filename]
    return (own or frames)[-1]


def problem(client, url: str) -> str | None:
    """What is wrong with the answer to ``GET url``, or None when it is acceptable."""
    try:
        with transaction.atomic():
            response = client.get(url)
            body = _body(response)
    except Exception as exc:  # the test client re-raises what the view raised: a 500
        frame = _own_frame(exc)
        return f"{_shorten(url)}: {type(exc).__name__}: {str(exc)[:200]} ({frame.filename}:{frame.lineno})"
    if response.status_code not in ACCEPTED:
        return f"{_shorten(url)}: status {response.status_code}"
    if b"Traceback" in body:
        return f"{_shorten(url)}: a traceback in the page"
    return None


def check_fuzz(request, client, monkeypatch, row: Row) -> int:
    """Fuzz one GET row; returns how many requests it made (fails listing every bad answer)."""
    world = request.getfixturevalue(row.world)
    assert isinstance(world, World), f"fixture {row.world} must return a tests.access.World"
    client.force_login(user_for_role(request, next(iter(row.allowed))))
    url = row.path(world.own)
    assert resolve(urlsplit(url).path).view_name == row.name
    path, query = urlsplit(url).path, urlsplit(url).query
    base: Query = parse_qsl(query, keep_blank_values=True)

    with recording_get(monkeypatch) as reads:
        first = problem(client, as_url(path, [*base, (MARKER, "1")]))
    discovered = sorted((reads | {k for k, _ in base}) - {MARKER})

    urls = [as_url(path, q) for q in queries(base, discovered)]
    urls += [as_url(p, base) for p in path_variants(row, world.own)]
    failures = [p for p in (first, *(problem(client, u) for u in urls)) if p]
    assert not failures, f"{row.id} (reads {discovered}):\n" + "\n".join(failures)
    request.node.user_properties.append(("fuzz_reads", ",".join(discovered)))
    return len(urls) + 1


def fuzz_tests(rows: Sequence[Row]):
    """The parametrized fuzz of a table's GET rows: assign it to ``test_fuzz`` in the table's module."""
    cases = [pytest.param(row, id=f"{row.id}-fuzz") for row in rows if row.method == "get"]

    @pytest.mark.django_db
    @pytest.mark.parametrize("row", cases)
    def test_fuzz(request, client, monkeypatch, row):
        sent = check_fuzz(request, client, monkeypatch, row)
        request.node.user_properties.append(("fuzz_requests", sent))

    return test_fuzz
