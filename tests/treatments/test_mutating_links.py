"""Mutating URLs answer POST only (GET: 405), so no page may reach them with a link or a GET form."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import get_resolver, reverse

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIRS = [ROOT / "treatments" / "templates", ROOT / "treatments" / "photos" / "templates"]
NAMESPACES = ("treatments", "photos")
URL_TAG = re.compile(r"\{%\s*url\s+['\"](?P<name>(?:" + "|".join(NAMESPACES) + r"):[\w-]+)['\"]")


def _url_names() -> list[tuple[str, tuple[str, ...]]]:
    """(namespaced name, argument names) of every URL of the two apps."""
    names = set()
    for namespace in NAMESPACES:
        _, resolver = get_resolver().namespace_dict[namespace]
        for name, entries in resolver.reverse_dict.lists():
            if isinstance(name, str):
                possibilities = entries[0][0]
                names.add((f"{namespace}:{name}", tuple(possibilities[0][1])))
    return sorted(names)


@pytest.fixture
def post_only(client, django_user_model) -> set[str]:
    """URLs that refuse a GET with 405, found by asking each (as a superuser, so no 403 first)."""
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "x-Very-long-pw-1")
    client.force_login(admin)
    client.raise_request_exception = False
    found = set()
    for name, params in _url_names():
        kwargs = {p: ("x" if p == "secret" else 999_999) for p in params}
        if params and "rendition" in params:
            kwargs["rendition"] = "thumb"
        response = client.get(reverse(name, kwargs=kwargs))
        if response.status_code == 405:
            found.add(name)
    return found


def _templates():
    for directory in TEMPLATE_DIRS:
        yield from sorted(directory.rglob("*.html"))


def test_the_session_cancel_url_is_post_only(post_only):
    # The one the review met; the check below relies on finding such URLs at all.
    assert {"treatments:session_cancel", "treatments:session_check_in", "photos:photo_retire"} <= post_only


def test_no_link_or_get_form_points_at_a_post_only_url(post_only):
    problems = []
    links = 0
    for path in _templates():
        text = path.read_text()
        # Links.
        for match in re.finditer(r"<a\b[^>]*>", text, flags=re.S):
            for url in URL_TAG.finditer(match.group(0)):
                links += 1
                if url["name"] in post_only:
                    problems.append(f"{path.relative_to(ROOT)}: link to {url['name']}")
        # Forms: a POST-only action needs method="post".
        for match in re.finditer(r"<form\b[^>]*>", text, flags=re.S):
            tag = match.group(0)
            for url in URL_TAG.finditer(tag):
                if url["name"] in post_only and not re.search(r"method=\"post\"", tag, flags=re.I):
                    problems.append(f"{path.relative_to(ROOT)}: GET form to {url['name']}")
        # Buttons or inputs overriding the form's target.
        for match in re.finditer(r"formaction=\"[^\"]*\"", text):
            for url in URL_TAG.finditer(match.group(0)):
                if url["name"] in post_only:
                    problems.append(f"{path.relative_to(ROOT)}: formaction to {url['name']}")
    assert links > 50  # the scan does see the apps' links
    assert problems == []
