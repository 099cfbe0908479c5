"""Walks every URL pattern: no view but login, health and static answers an anonymous user."""

from __future__ import annotations

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

# Views that must answer without a login (each with the reason).
PUBLIC = {
    "login",  # the sign-in page itself
    "password_reset",  # asking for a reset link: the same answer whether the address exists
    "password_reset_done",  # "check your email"
    "password_reset_confirm",  # the emailed one-time link
    "password_reset_complete",  # "your new password is set"
    "mfa_verify",  # the code step of sign-in: only after a right password in this session
    "mfa_enrol",  # first-time set-up of the second factor, also only after a right password
    "healthz",  # load balancer probe; reveals nothing private
    "healthz_live",  # liveness probe: "ok" from a live process, nothing else
    "healthz_ready",  # readiness probe: up or down to anonymous callers, details to managers/token
    "metrics",  # Prometheus scraper's bearer token (METRICS_TOKEN) or a manager's session; else 404
    "favicon.ico",  # redirect to a static file
    "admin:login",  # Django admin's sign-in: redirected to the site's own (two-step) sign-in
    "admin:logout",  # POST-only; does nothing for an anonymous user
    "treatments:ical_feed",  # private token URL for calendar apps (no login possible)
    "clinic:reminder_opt_out",  # signed link in patient reminders; patients have no login
    "treatments:sms_inbound",  # the SMS provider's webhook: signed with SMS_INBOUND_SECRET, else 404
    "treatments:session_respond",  # signed link in appointment reminders: confirm, cancel, reschedule
    "treatments:session_intake",  # signed link after booking: the patient answers screening, signs consent
    "treatments:plan_book",  # signed link in maintenance reminders: the patient books a free slot
    "products:feed_readings",  # networked loggers push with a bearer token (no login possible)
}

SAMPLE = {"int": "1", "str": "x", "slug": "x", "uuid": str(uuid.uuid4()), "path": "x"}


def _walk(patterns, prefix="", namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else str(entry.pattern)
            yield name, prefix + str(entry.pattern), entry.pattern


def _sample_url(route: str, pattern) -> str | None:
    regex = getattr(pattern, "regex", None)
    converters = getattr(pattern, "converters", {})
    url = route
    if hasattr(pattern, "_route"):
        import re

        def repl(m):
            conv = m.group(1) or "str"
            return SAMPLE.get(conv, "1")

        url = re.sub(r"<(?:(\w+):)?\w+>", repl, route)
    elif regex is not None:
        # Admin regex routes: use a plain sample for the common shapes.
        url = (
            route.replace("^", "")
            .replace("$", "")
            .replace("\\Z", "")
            .replace("(?P<app_label>auth|clinic|products|treatments|photos|axes)", "clinic")
            .replace("(?P<object_id>.+)", "1")
            .replace("(?P<url>.*)", "x")
        )
        if "(" in url:
            return None
    del converters
    return "/" + url.lstrip("/")


def all_routes():
    return list(_walk(get_resolver().url_patterns))


def test_the_inventory_finds_routes_of_every_app():
    names = {name for name, _, _ in all_routes()}
    assert "dashboard" in names
    assert "clinic:audit_list" in names
    assert len(names) > 20


@pytest.mark.django_db
def test_every_non_public_view_refuses_anonymous_users(client):
    checked = 0
    for name, route, pattern in all_routes():
        if name in PUBLIC:
            continue
        url = _sample_url(route, pattern)
        if url is None or url.startswith("/static/"):
            continue
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            location = response.headers.get("Location", "")
            redirected_to_login = response.status_code == 302 and (
                "/accounts/login/" in location or "/admin/login/" in location
            )
            assert redirected_to_login or response.status_code in (404, 405), (
                f"{name} ({method.upper()} {url}) answered an anonymous user with {response.status_code}"
            )
            assert response.status_code != 200, f"{name} ({url}) served content to an anonymous user"
        checked += 1
    assert checked > 10


@pytest.mark.django_db
def test_public_views_are_only_the_allowed_ones(client):
    """A deliberately public view must be listed above; new public views fail this test."""
    public_found = set()
    for name, route, pattern in all_routes():
        url = _sample_url(route, pattern)
        if url is None:
            continue
        response = client.get(url)
        if response.status_code == 200:
            public_found.add(name)
    assert public_found <= PUBLIC, f"Unexpected public views: {public_found - PUBLIC}"
