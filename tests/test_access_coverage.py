"""Every URL of the project is in an access table (``tests/<app>/test_access.py``) or exempted here.

A new view fails ``test_every_url_is_in_an_access_table_or_exempted`` until it has a row saying who
may use it (see ``tests/access.py``), or a one-line reason below. Public views are listed, with
their reasons, in ``PUBLIC`` (``tests/clinic/test_url_inventory.py``), which is not repeated here.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from tests.clinic.test_url_inventory import PUBLIC, all_routes

# Parts of the site left out as a whole, by the start of their route.
EXEMPT_ROUTES = {
    "admin/": "Django admin: Django's own staff checks guard it; the read-only admins have their own tests",
    "accounts/": "Django's sign-in, sign-out and password views: tests/clinic/test_auth.py",
}

# Single URL names left out, each with its reason (none so far).
EXEMPT: dict[str, str] = {}


def _tables() -> dict[str, list]:
    """The ROWS of every tests/<app>/test_access.py, by app folder."""
    root = Path(__file__).parent
    return {
        path.parent.name: importlib.import_module(f"tests.{path.parent.name}.test_access").ROWS
        for path in sorted(root.glob("*/test_access.py"))
    }


def _in_tables() -> set[str]:
    return {row.name for rows in _tables().values() for row in rows}


def _exempt(name: str, route: str) -> bool:
    return name in PUBLIC or name in EXEMPT or route.startswith(tuple(EXEMPT_ROUTES))


def test_every_app_has_its_table():
    assert {"clinic", "products", "treatments"} <= set(_tables())


def test_every_url_is_in_an_access_table_or_exempted():
    tabled = _in_tables()
    missing = sorted(
        f"{name} ({route})"
        for name, route, _ in all_routes()
        if name not in tabled and not _exempt(name, route)
    )
    assert not missing, "URLs in no access table (add rows in tests/<app>/test_access.py): " + ", ".join(
        missing
    )


def test_the_tables_and_exemptions_name_only_urls_that_exist():
    names = {name for name, _, _ in all_routes()}
    assert _in_tables() - names == set()
    assert set(EXEMPT) - names == set()
    assert PUBLIC - names == set()


def test_nothing_is_both_in_a_table_and_exempted():
    tabled = _in_tables()
    both = {name for name, route, _ in all_routes() if name in tabled and _exempt(name, route)}
    assert both == set()
