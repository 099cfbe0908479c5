"""Sign-in, lock-out, idle and absolute session limits, and the security headers."""

from __future__ import annotations

import time

import pytest

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_a_user_signs_in_with_the_login_form(client, manager):
    response = client.post("/accounts/login/", {"username": "mgr", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"


def test_repeated_failures_lock_the_account_out(client, manager, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "mgr", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "mgr", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.text


def test_an_idle_session_is_signed_out(client, manager, settings):
    client.force_login(manager)
    session = client.session
    session["last_activity"] = time.time() - settings.SESSION_IDLE_TIMEOUT_MINUTES * 60 - 5
    session.save()
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.get("/").status_code == 302


def test_a_session_past_its_absolute_lifetime_is_signed_out(client, manager, settings):
    client.force_login(manager)
    session = client.session
    session["login_at"] = time.time() - settings.SESSION_ABSOLUTE_HOURS * 3600 - 5
    session["last_activity"] = time.time()
    session.save()
    assert client.get("/").status_code == 302


def test_an_active_session_stays_signed_in(client, manager):
    client.force_login(manager)
    assert client.get("/").status_code == 200
    assert client.get("/").status_code == 200


def test_logout_is_post_only(client, manager):
    client.force_login(manager)
    assert client.get("/accounts/logout/").status_code == 405


def test_security_headers_are_set(client, manager):
    client.force_login(manager)
    response = client.get("/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_pages_carry_no_inline_script(client, manager):
    import re

    client.force_login(manager)
    html = client.get("/").text
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag, f"inline script: {tag}"


# --- Password reset ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_reset_limits():
    """The limits count per client address, which every test client shares."""
    from django.core.cache import caches

    caches["ratelimit"].clear()


def _reset_link(message) -> str:
    import re

    return re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", message.body).group(1)


def test_the_sign_in_page_offers_a_password_reset(client):
    assert 'href="/accounts/password/reset/"' in client.get("/accounts/login/").text


def test_a_reset_link_is_sent_and_sets_a_new_password_once(client, manager, mailoutbox):
    manager.email = "mgr@clinic.example"
    manager.save(update_fields=["email"])
    response = client.post("/accounts/password/reset/", {"email": "MGR@clinic.example"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password/reset/sent/"
    (message,) = mailoutbox
    assert message.to == ["mgr@clinic.example"] and manager.username in message.body
    link = _reset_link(message)
    page = client.get(link, follow=True)
    assert "Choose a new password" in page.text
    new = "a-much-longer-pass-2026"
    done = client.post(page.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert done.status_code == 302
    manager.refresh_from_db()
    assert manager.check_password(new)
    # The link works once.
    assert "no longer works" in client.get(link, follow=True).text


def test_an_unknown_address_gets_the_same_answer_and_no_email(client, mailoutbox):
    response = client.post("/accounts/password/reset/", {"email": "nobody@clinic.example"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password/reset/sent/"
    assert mailoutbox == []


def test_reset_requests_are_limited_per_address_and_client(client, manager, mailoutbox, time_machine):
    import datetime as dt

    from clinic.account_views import PasswordResetView

    # The limit counts per clock hour: frozen mid-hour, the requests cannot straddle two.
    time_machine.move_to(dt.datetime(2026, 12, 2, 10, 30, tzinfo=dt.UTC), tick=False)
    manager.email = "mgr@clinic.example"
    manager.save(update_fields=["email"])
    for _ in range(PasswordResetView.RESET_LIMIT + 3):
        response = client.post("/accounts/password/reset/", {"email": "mgr@clinic.example"})
        assert response.status_code == 302 and response["Location"] == "/accounts/password/reset/sent/"
    assert len(mailoutbox) == PasswordResetView.RESET_LIMIT
