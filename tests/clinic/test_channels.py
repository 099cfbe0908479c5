"""Delivery channels: every copy of one row is the same message (Message-ID, SMS idempotency key)."""

from __future__ import annotations

import re

import pytest
from django.core import checks, mail

from clinic import channels
from clinic.checks import sms_backend_interface
from clinic.models import Notification
from clinic.notifications import NotificationKind, notification_queue, notification_send

FAKE = "tests.clinic.test_channels.FakeSms"


class FakeSms:
    """An SMS provider that records what it was asked to send."""

    sent: list[dict] = []

    def send(self, *, to: str, body: str, idempotency_key: str) -> None:
        FakeSms.sent.append({"to": to, "body": body, "idempotency_key": idempotency_key})


class OldSms:
    """A backend written before idempotency keys."""

    def send(self, *, to: str, body: str) -> None:  # pragma: no cover - never called
        raise AssertionError


@pytest.fixture
def fake_sms(settings):
    settings.SMS_BACKEND = FAKE
    FakeSms.sent = []
    return FakeSms.sent


def _queue(channel: str = "email", key: str = "test:1", to: str = "jane.doe@example.com"):
    return notification_queue(
        kind=NotificationKind.DOCUMENT_EXPIRY,
        channel=channel,
        subject="Your appointment",
        body="See you on Tuesday.",
        dedupe_key=key,
        to_address=to,
    )


def _again(notification: Notification) -> None:
    """Make a sent row sendable again, as a released stale claim would be."""
    Notification.objects.filter(pk=notification.pk).update(status="pending")


@pytest.mark.django_db
def test_every_send_of_one_row_carries_the_same_message_id():
    n = _queue()
    assert notification_send(notification_id=n.pk) == "sent"
    _again(n)
    assert notification_send(notification_id=n.pk) == "sent"
    first, second = mail.outbox
    assert first.message()["Message-ID"] == second.message()["Message-ID"] == channels.message_id(n)


@pytest.mark.django_db
def test_two_rows_have_different_message_ids():
    a, b = _queue(key="a"), _queue(key="b")
    assert channels.message_id(a) != channels.message_id(b)
    assert channels.delivery_token(a) != channels.delivery_token(b)


@pytest.mark.django_db
def test_another_install_gives_the_same_row_another_token(settings):
    n = _queue()
    before = channels.delivery_token(n)
    settings.SECRET_KEY = "another-install-" + "y" * 40
    assert channels.delivery_token(n) != before
    assert channels.delivery_token(n).startswith(f"notification-{n.pk}.")


@pytest.mark.django_db
def test_the_message_id_says_nothing_about_the_patient_or_the_message(settings):
    settings.DEFAULT_FROM_EMAIL = "Marylebone Clinic <hello@clinic.example>"
    n = _queue(key="reminder:appt:42:jane", to="jane.doe@example.com")
    value = channels.message_id(n)
    match = re.fullmatch(rf"<notification-{n.pk}\.([0-9a-f]{{24}})@clinic\.example>", value)
    assert match
    # The digest is a keyed hash, so any hex pair may turn up in it by chance
    # ("42" did, on CI's key): look for the patient only outside the digest.
    readable = value.replace(match.group(1), "")
    for private in ("jane", "doe", "42", "appt", "tuesday"):
        assert private not in readable.lower()
    # and the digest is not the key itself, hex-encoded
    assert match.group(1) not in n.dedupe_key.encode().hex()


@pytest.mark.django_db
def test_the_domain_falls_back_to_the_site_when_the_sender_has_none(settings):
    settings.DEFAULT_FROM_EMAIL = "clinic"
    settings.SITE_URL = "https://clinic.example:8443"
    assert channels.message_id(_queue()).endswith("@clinic.example>")


@pytest.mark.django_db
def test_an_email_is_marked_as_sent_by_a_program():
    n = _queue()
    notification_send(notification_id=n.pk)
    [message] = mail.outbox
    headers = message.message()
    assert headers["Auto-Submitted"] == "auto-generated"
    assert headers["X-Auto-Response-Suppress"] == "All"
    assert headers["Date"]  # Django's


@pytest.mark.django_db
def test_the_sms_backend_gets_the_same_key_on_every_attempt(fake_sms):
    n = _queue(channel="sms", to="+441134960123")
    other = _queue(channel="sms", key="test:2", to="+441134960123")
    assert notification_send(notification_id=n.pk) == "sent"
    _again(n)
    assert notification_send(notification_id=n.pk) == "sent"
    assert notification_send(notification_id=other.pk) == "sent"
    first, second, third = fake_sms
    assert (
        first
        == second
        == {
            "to": "+441134960123",
            "body": "See you on Tuesday.",
            "idempotency_key": channels.delivery_token(n),
        }
    )
    assert third["idempotency_key"] == channels.delivery_token(other) != first["idempotency_key"]


def test_the_default_backend_logs_the_key(caplog):
    with caplog.at_level("INFO", logger="clinic.sms"):
        channels.LoggingSmsBackend().send(to="+441134960123", body="Hi", idempotency_key="notification-1.ab")
    assert "notification-1.ab" in caplog.text


def test_a_backend_without_the_key_stops_start_up(settings):
    settings.SMS_BACKEND = "tests.clinic.test_channels.OldSms"
    [error] = sms_backend_interface(None)
    assert error.level == checks.ERROR and error.id == "clinic.E002" and "idempotency_key" in error.msg
    settings.SMS_BACKEND = "tests.clinic.nowhere.Sms"
    [error] = sms_backend_interface(None)
    assert error.id == "clinic.E001"
    settings.SMS_BACKEND = FAKE
    assert sms_backend_interface(None) == []
    settings.SMS_BACKEND = "clinic.channels.LoggingSmsBackend"
    assert sms_backend_interface(None) == []


def test_an_unsaved_row_has_no_token():
    with pytest.raises(ValueError, match="saved"):
        channels.delivery_token(Notification(kind="x", channel="sms", subject="s", body="b", dedupe_key="k"))
