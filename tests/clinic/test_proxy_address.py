"""The client's address behind the TLS proxy (``BEHIND_TLS_PROXY``, X-Real-IP).

gunicorn behind nginx listens on a unix socket, where ``REMOTE_ADDR`` arrives empty: without the
proxy's X-Real-IP every per-address limit would share one key. These requests come as gunicorn
passes them on from the socket (``REMOTE_ADDR=""``)."""

from __future__ import annotations

import pytest

from clinic.models import AuditEvent
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

SOCKET = {"REMOTE_ADDR": ""}


def fail_sign_in(client, settings, **headers) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "mgr", "password": "wrong"}, **SOCKET, **headers)


def sign_in(client, **meta):
    return client.post("/accounts/login/", {"username": "mgr", "password": PASSWORD}, **meta)


class TestBehindTheProxy:
    @pytest.fixture(autouse=True)
    def _proxy(self, settings):
        settings.BEHIND_TLS_PROXY = True

    def test_failures_from_one_address_lock_that_address_out(self, client, manager, settings):
        fail_sign_in(client, settings, HTTP_X_REAL_IP="203.0.113.7")
        assert sign_in(client, **SOCKET, HTTP_X_REAL_IP="203.0.113.7").status_code == 429

    def test_another_address_is_not_locked_out_by_them(self, client, manager, settings):
        fail_sign_in(client, settings, HTTP_X_REAL_IP="203.0.113.7")
        assert sign_in(client, **SOCKET, HTTP_X_REAL_IP="198.51.100.20").status_code == 302

    def test_the_audit_trail_keeps_the_clients_address(self, client, manager):
        sign_in(client, **SOCKET, HTTP_X_REAL_IP="2001:db8::5")
        event = AuditEvent.objects.get(action="auth.login")
        assert event.ip_address == "2001:db8::5"

    def test_a_value_that_is_not_an_address_is_not_used(self, client, manager):
        sign_in(client, REMOTE_ADDR="10.0.0.9", HTTP_X_REAL_IP="<script>")
        assert AuditEvent.objects.get(action="auth.login").ip_address == "10.0.0.9"

    def test_patient_links_of_one_address_do_not_use_up_anothers(self, client, settings):
        for _ in range(31):
            client.get("/treatments/r/not-a-token/", **SOCKET, HTTP_X_REAL_IP="203.0.113.7")
        other = client.get("/treatments/r/not-a-token/", **SOCKET, HTTP_X_REAL_IP="198.51.100.20")
        assert other.status_code == 400  # refused as a bad link, not as too many attempts


def test_without_the_proxy_setting_the_header_is_ignored(client, manager, settings):
    settings.BEHIND_TLS_PROXY = False
    sign_in(client, REMOTE_ADDR="10.0.0.9", HTTP_X_REAL_IP="203.0.113.7")
    assert AuditEvent.objects.get(action="auth.login").ip_address == "10.0.0.9"
