"""One access matrix for every view: a table says who may use each URL, this module writes the checks.

A table is a list of ``Row`` in ``tests/<app>/test_access.py`` as ``ROWS``, with
``test_access = access_tests(ROWS)`` under it. For every row that generates:

- ``anonymous``: the request is redirected to the sign-in page (``LoginRequiredMiddleware``);
- ``allowed-<role>``: each allowed role gets the expected status (one test per role, each on a fresh
  world, because an allowed request may change the data the next one would see);
- ``wrong_role``: every role too weak for the view gets 403;
- ``other_location``: for a location-owned object, each allowed role (who works at ``location``
  only) gets 404 for the other location's object;
- ``wrong_method``: each allowed role gets 405 for the method the view refuses.

A refused request (403, 404, 405) writes nothing: the test also checks that no audit row appears.

Objects come from a world fixture (``Row.world``, default ``world``) returning a ``World``: the objects
at ``location`` (``own``, where the role fixtures work) and those at ``other_location`` (``other``).
Rows build their URL from one side: ``args`` for ``reverse(name, args=...)`` or ``url`` for the whole
URL (a query string); either way the URL must resolve to the row's name. Roles are fixture names
(``front_desk``, ``practitioner``, ``manager``) or ``NO_ROLE``: a staff member at ``location`` who holds
no role. ``tests/test_access_coverage.py`` checks every URL name is in a table or exempted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.urls import resolve, reverse

LOGIN_PREFIX = "/accounts/login/"
NO_ROLE = "no_role"
METHODS = ("get", "post", "put", "delete")

Side = Mapping[str, Any]


@dataclass(frozen=True)
class World:
    """The objects of one test: those at ``location`` and, for scoped rows, those at ``other_location``."""

    own: Side
    other: Side | None = None


@dataclass(frozen=True)
class Row:
    """Who may use one URL, and how it answers everyone else."""

    name: str  # the URL name, with its namespace: "treatments:record_sign"
    allowed: Mapping[str, int]  # role → the status it gets (200 for a page, 302 after a POST, ...)
    denied: Sequence[str] = ()  # roles too weak for the view: 403
    method: str = "get"
    args: Callable[[Side], Sequence] | None = None  # reverse(name, args=args(side))
    url: Callable[[Side], str] | None = None  # or the whole URL, e.g. with a query string
    data: Mapping | Callable[[Side], Mapping] | None = None  # the request's data (POST body)
    scoped: bool = False  # a location-owned object: the other location's answers 404
    wrong_method: str = ""  # the method refused with 405; default POST for a GET row, GET for a POST
    world: str = "world"  # the fixture that builds the objects
    label: str = ""  # tells apart rows of one URL name (the actions of products:lot_action)

    def __post_init__(self):
        if self.method not in ("get", "post"):
            raise ValueError(f"{self.id}: method must be get or post, not {self.method!r}")
        if self.refused_method not in METHODS or self.refused_method == self.method:
            raise ValueError(f"{self.id}: {self.refused_method!r} is no wrong method for a {self.method} row")
        if not self.allowed:
            raise ValueError(f"{self.id}: no role is allowed")
        if set(self.allowed) & set(self.denied):
            raise ValueError(f"{self.id}: {set(self.allowed) & set(self.denied)} both allowed and denied")
        if self.args is not None and self.url is not None:
            raise ValueError(f"{self.id}: give args or url, not both")

    @property
    def refused_method(self) -> str:
        return self.wrong_method or ("post" if self.method == "get" else "get")

    @property
    def id(self) -> str:
        return f"{self.name}/{self.label}" if self.label else self.name

    def path(self, side: Side) -> str:
        if self.url is not None:
            return self.url(side)
        return reverse(self.name, args=self.args(side) if self.args else ())

    def payload(self, side: Side) -> dict:
        data = self.data(side) if callable(self.data) else self.data
        return dict(data or {})

    def checks(self) -> list[tuple[str, str | None]]:
        found: list[tuple[str, str | None]] = [("anonymous", None)]
        found += [("allowed", role) for role in self.allowed]
        if self.denied:
            found.append(("wrong_role", None))
        if self.scoped:
            found.append(("other_location", None))
        found.append(("wrong_method", None))
        return found


def user_for_role(request, role: str):
    if role == NO_ROLE:
        from clinic.roles import PRACTITIONER
        from tests.factories import staff

        user = staff(PRACTITIONER, request.getfixturevalue("location"), username="norole")
        user.groups.clear()
        return user
    return request.getfixturevalue(role)


def _send(client, method: str, url: str, data: dict):
    if method in ("get", "post"):
        return getattr(client, method)(url, data)
    return getattr(client, method)(url)


def _refused(client, method: str, url: str, data: dict, status: int, who: str) -> None:
    """The request answers ``status`` and changes nothing an audit row would record."""
    from clinic.models import AuditEvent

    # A refusal on patient data is itself audited (access.refused); nothing else may be written.
    others = AuditEvent.objects.exclude(action="access.refused")
    before = others.count()
    response = _send(client, method, url, data)
    assert response.status_code == status, (who, method.upper(), url, response.status_code)
    assert others.count() == before, f"{who}: a refused {method.upper()} {url} wrote an audit row"


def check_access(request, client, row: Row, check: str, role: str | None) -> None:
    """One generated check of one row (see the module docstring)."""
    world = request.getfixturevalue(row.world)
    assert isinstance(world, World), f"fixture {row.world} must return a tests.access.World"
    url, data = row.path(world.own), row.payload(world.own)
    resolved = resolve(urlsplit(url).path).view_name
    assert resolved == row.name, f"row {row.id} builds {url}, which is {resolved}"

    if check == "anonymous":
        response = _send(client, row.method, url, data)
        assert response.status_code == 302, response.status_code
        assert response["Location"].startswith(LOGIN_PREFIX), response["Location"]
    elif check == "allowed":
        client.force_login(user_for_role(request, role))
        response = _send(client, row.method, url, data)
        assert response.status_code == row.allowed[role], (role, response.status_code, response.content[:500])
    elif check == "wrong_role":
        for weak in row.denied:
            client.force_login(user_for_role(request, weak))
            _refused(client, row.method, url, data, 403, weak)
    elif check == "other_location":
        assert world.other is not None, f"fixture {row.world} has no other side for the scoped row {row.id}"
        other_url, other_data = row.path(world.other), row.payload(world.other)
        assert resolve(urlsplit(other_url).path).view_name == row.name
        for allowed in row.allowed:
            client.force_login(user_for_role(request, allowed))
            _refused(client, row.method, other_url, other_data, 404, allowed)
    elif check == "wrong_method":
        for allowed in row.allowed:
            client.force_login(user_for_role(request, allowed))
            _refused(client, row.refused_method, url, data, 405, allowed)
    else:  # pragma: no cover - checks() lists only the five above
        raise AssertionError(check)


def access_tests(rows: Sequence[Row]):
    """The parametrized test of a table: assign it to ``test_access`` in the table's module."""
    ids = [row.id for row in rows]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ValueError(f"rows listed twice: {repeated} (give them a label)")
    cases = [
        pytest.param(row, check, role, id="-".join(filter(None, (row.id, check, role))))
        for row in rows
        for check, role in row.checks()
    ]

    @pytest.mark.django_db
    @pytest.mark.parametrize(("row", "check", "role"), cases)
    def test_access(request, client, row, check, role):
        check_access(request, client, row, check, role)

    return test_access
