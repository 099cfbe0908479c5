"""The outbox service: dedupe, claim-once, backoff, failure, sweep and cancellation."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django.utils import timezone

from clinic import outbox
from clinic.models import Notification


def _queue(**overrides):
    data = {
        "kind": "test.alert",
        "channel": "email",
        "subject": "Hello",
        "body": "Body",
        "dedupe_key": "test:1",
        "to_address": "someone@example.com",
    }
    data.update(overrides)
    return outbox.notification_queue(**data)


@pytest.mark.django_db
def test_the_same_dedupe_key_is_written_once():
    assert _queue() is not None
    assert _queue() is None
    assert Notification.objects.count() == 1


@pytest.mark.django_db
def test_an_email_needs_an_address():
    with pytest.raises(ValueError, match="address"):
        _queue(to_address="")


@pytest.mark.django_db(transaction=True)
def test_it_is_enqueued_only_after_commit():
    with mock.patch.object(outbox, "notification_enqueue") as enqueue:
        with transaction.atomic():
            n = _queue()
            assert not enqueue.called
        enqueue.assert_called_once_with(n.pk)


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_sends_nothing():
    with (
        mock.patch.object(outbox, "notification_enqueue") as enqueue,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        _queue()
        raise RuntimeError("the cause failed")
    assert not enqueue.called
    assert Notification.objects.count() == 0


@pytest.mark.django_db
def test_a_future_notification_is_not_enqueued_now(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        _queue(due_at=timezone.now() + timedelta(days=1))
    assert callbacks == []


@pytest.mark.django_db
def test_enqueue_never_raises_when_the_broker_is_down():
    from clinic.tasks import send_notification

    with mock.patch.object(send_notification, "delay", side_effect=ConnectionRefusedError("redis down")):
        assert outbox.notification_enqueue(123) is False


@pytest.mark.django_db
def test_send_delivers_once_and_a_second_claim_does_nothing():
    n = _queue()
    assert outbox.notification_send(notification_id=n.pk) == "sent"
    assert outbox.notification_send(notification_id=n.pk) == "not-claimed"
    assert len(mail.outbox) == 1
    n.refresh_from_db()
    assert n.status == "sent" and n.sent_at is not None and n.attempts == 1


@pytest.mark.django_db
def test_a_transient_error_schedules_a_retry_with_backoff():
    n = _queue()
    with mock.patch("clinic.outbox.deliver", side_effect=OSError("SMTP timeout")):
        assert outbox.notification_send(notification_id=n.pk) == "retry"
    n.refresh_from_db()
    assert n.status == "pending"
    assert "SMTP timeout" in n.last_error
    assert timezone.now() + timedelta(seconds=25) < n.due_at < timezone.now() + timedelta(seconds=65)


@pytest.mark.django_db
def test_after_the_last_attempt_it_is_failed_and_visible(settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    n = _queue()
    with mock.patch("clinic.outbox.deliver", side_effect=OSError("refused")):
        outbox.notification_send(notification_id=n.pk)
        Notification.objects.filter(pk=n.pk).update(due_at=timezone.now())
        assert outbox.notification_send(notification_id=n.pk) == "failed"
    n.refresh_from_db()
    assert n.status == "failed" and n.attempts == 2


@pytest.mark.django_db
def test_the_sweep_lists_due_pending_rows_and_releases_stale_claims():
    due = _queue(dedupe_key="a")
    _queue(dedupe_key="b", due_at=timezone.now() + timedelta(hours=1))
    stale = _queue(dedupe_key="c")
    Notification.objects.filter(pk=stale.pk).update(
        status="sending", claimed_at=timezone.now() - timedelta(hours=1)
    )
    assert set(outbox.outbox_due_ids()) == {due.pk, stale.pk}


@pytest.mark.django_db
def test_cancelling_by_cause_stops_pending_reminders_only():
    pending = _queue(dedupe_key="session:5:reminder")
    sent = _queue(dedupe_key="session:5:confirmation")
    Notification.objects.filter(pk=sent.pk).update(status="sent")
    assert outbox.notifications_cancel_by_prefix(dedupe_prefix="session:5:", reason="cancelled") == 1
    pending.refresh_from_db()
    assert pending.status == "cancelled"


@pytest.mark.django_db
def test_retry_and_cancel_are_audited(manager):
    from clinic.models import AuditEvent

    n = _queue()
    outbox.notification_cancel(notification=n, actor=manager)
    n.refresh_from_db()
    outbox.notification_retry(notification=n, actor=manager)
    assert AuditEvent.objects.filter(action="notification.cancel", actor=manager).exists()
    assert AuditEvent.objects.filter(action="notification.retry", actor=manager).exists()


class TestQuietHours:
    """Patient messages never go out between 20:00 and 08:00 clinic time (Europe/London)."""

    def _at(self, hour: int, minute: int = 0, day: int = 24):
        import datetime as dt

        return timezone.make_aware(dt.datetime(2026, 11, day, hour, minute))

    def test_a_message_due_before_opening_moves_to_eight(self):
        assert outbox.outside_quiet_hours(self._at(6, 30)) == self._at(8)

    def test_a_message_due_in_the_evening_moves_to_the_next_morning(self):
        assert outbox.outside_quiet_hours(self._at(21, 15)) == self._at(8, day=25)

    def test_a_message_due_in_the_day_is_unchanged(self):
        assert outbox.outside_quiet_hours(self._at(13, 5)) == self._at(13, 5)

    @pytest.mark.django_db
    def test_queueing_a_patient_message_at_night_schedules_it_for_the_morning(self):
        n = _queue(due_at=self._at(23), quiet_hours=True)
        assert n.due_at == self._at(8, day=25)

    @pytest.mark.django_db
    def test_a_patient_message_reached_at_night_is_deferred_not_sent(self):
        n = _queue(due_at=self._at(12), quiet_hours=True)
        with time_machine.travel(self._at(22), tick=False):
            assert outbox.notification_send(notification_id=n.pk) == "deferred"
        n.refresh_from_db()
        assert n.status == "pending" and n.attempts == 0 and n.due_at == self._at(8, day=25)
        assert mail.outbox == []
