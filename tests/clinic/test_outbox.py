"""The outbox service: dedupe, claim-once, backoff, failure, sweep and cancellation."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django.utils import timezone

from clinic.models import Notification
from clinic.notifications import NotificationKind, outbox


def _queue(**overrides):
    data = {
        "kind": NotificationKind.DOCUMENT_EXPIRY,
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
def test_a_kind_outside_the_vocabulary_is_refused():
    with pytest.raises(ValueError, match=r"Unknown kind 'lot\.expiry'"):
        _queue(kind="lot.expiry")
    row = Notification(kind="lot.expiry", channel="in_app", subject="s", body="b", dedupe_key="k")
    with pytest.raises(ValueError, match="Unknown kind"):
        outbox.notifications_bulk_queue([row])
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_the_stored_kind_is_the_plain_value():
    n = _queue(kind=NotificationKind.EXCURSION_OPENED)
    assert Notification.objects.filter(kind="excursion.opened").get() == n


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
    from clinic.celery import app

    with mock.patch.object(app, "send_task", side_effect=ConnectionRefusedError("redis down")):
        assert outbox.notification_enqueue(123) is False


def test_enqueue_sends_the_task_the_worker_registers():
    from clinic.celery import app
    from clinic.tasks import send_notification

    with mock.patch.object(app, "send_task") as send_task:
        assert outbox.notification_enqueue(123) is True
    send_task.assert_called_once_with(send_notification.name, args=[123])
    assert send_notification.name in app.tasks


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
    with mock.patch("clinic.notifications.outbox.deliver", side_effect=OSError("SMTP timeout")):
        assert outbox.notification_send(notification_id=n.pk) == "retry"
    n.refresh_from_db()
    assert n.status == "pending"
    assert "SMTP timeout" in n.last_error
    assert timezone.now() + timedelta(seconds=25) < n.due_at < timezone.now() + timedelta(seconds=65)


@pytest.mark.django_db
def test_after_the_last_attempt_it_is_failed_and_visible(settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    n = _queue()
    with mock.patch("clinic.notifications.outbox.deliver", side_effect=OSError("refused")):
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
    assert outbox.notifications_cancel(dedupe_prefix="session:5:", actor=None, reason="cancelled") == 1
    pending.refresh_from_db()
    assert pending.status == "cancelled"


@pytest.mark.django_db
def test_retry_and_cancel_are_audited(manager):
    from clinic.models import AuditEvent

    n = _queue()
    outbox.notifications_cancel(notification=n, actor=manager)
    n.refresh_from_db()
    outbox.notification_retry(notification=n, actor=manager)
    assert AuditEvent.objects.filter(action="notification.cancel", actor=manager).exists()
    assert AuditEvent.objects.filter(action="notification.retry", actor=manager).exists()


class TestCancel:
    """One function cancels by row, by cause (dedupe prefix) or by ids; each call is audited once."""

    def _events(self, action: str):
        from clinic.models import AuditEvent

        return list(AuditEvent.objects.filter(action=action))

    @pytest.mark.django_db
    def test_one_row_is_cancelled_and_audited_on_the_row(self, manager):
        n = _queue()
        assert outbox.notifications_cancel(notification=n, actor=manager, reason="Wrong patient") == 1
        n.refresh_from_db()
        assert n.status == "cancelled" and n.last_error == "Wrong patient"
        [event] = self._events("notification.cancel")
        assert event.actor == manager and event.object_id == str(n.pk)
        assert event.before == {"status": "pending"}
        assert event.after == {"status": "cancelled", "reason": "Wrong patient"}

    @pytest.mark.django_db
    def test_a_failed_row_can_be_cancelled_but_a_sent_one_cannot(self, manager):
        failed, sent = _queue(dedupe_key="a"), _queue(dedupe_key="b")
        Notification.objects.filter(pk=failed.pk).update(status="failed")
        Notification.objects.filter(pk=sent.pk).update(status="sent")
        failed.refresh_from_db()
        sent.refresh_from_db()
        assert outbox.notifications_cancel(notification=failed, actor=manager) == 1
        with pytest.raises(ValueError, match="held, pending or failed"):
            outbox.notifications_cancel(notification=sent, actor=manager)
        assert len(self._events("notification.cancel")) == 1

    @pytest.mark.django_db
    def test_by_prefix_cancels_pending_and_held_rows_with_one_audit_row(self, manager):
        pending = _queue(dedupe_key="recall:1:patient:1")
        held = outbox.notification_queue(
            kind=NotificationKind.RECALL_PATIENT,
            channel="in_app",
            subject="s",
            body="b",
            dedupe_key="recall:1:patient:2",
            held=True,
        )
        failed = _queue(dedupe_key="recall:1:patient:3")
        Notification.objects.filter(pk=failed.pk).update(status="failed")
        other = _queue(dedupe_key="recall:2:patient:1")
        assert outbox.notifications_cancel(dedupe_prefix="recall:1:", actor=manager, reason="Lot found") == 2
        statuses = dict(Notification.objects.values_list("pk", "status"))
        assert statuses == {
            pending.pk: "cancelled",
            held.pk: "cancelled",
            failed.pk: "failed",
            other.pk: "pending",
        }
        [event] = self._events("notification.cancel_bulk")
        assert event.actor == manager and event.object_repr == "recall:1:"
        assert sorted(event.after["ids"]) == sorted([pending.pk, held.pk])
        assert event.after["reason"] == "Lot found"

    @pytest.mark.django_db
    def test_by_ids_cancels_what_is_still_unsent_as_stale(self):
        stale, sent = _queue(dedupe_key="a"), _queue(dedupe_key="b")
        Notification.objects.filter(pk=sent.pk).update(status="sent")
        assert outbox.notifications_cancel(ids=[stale.pk, sent.pk], actor=None, reason="Gone") == 1
        [event] = self._events("notification.cancel_stale")
        assert event.actor is None and event.actor_name == "system"
        assert event.object_repr == "Gone" and event.after == {"ids": [stale.pk], "reason": "Gone"}

    @pytest.mark.django_db
    def test_nothing_to_cancel_in_bulk_writes_no_audit_row(self, django_assert_num_queries):
        from clinic.models import AuditEvent

        with django_assert_num_queries(0):
            assert outbox.notifications_cancel(ids=[], actor=None, reason="none") == 0
        assert outbox.notifications_cancel(dedupe_prefix="nothing:", actor=None) == 0
        assert not AuditEvent.objects.exists()

    @pytest.mark.django_db
    def test_exactly_one_selector_is_required(self, manager):
        n = _queue()
        for selectors in ({}, {"notification": n, "ids": [n.pk]}, {"ids": [n.pk], "dedupe_prefix": "test:"}):
            with pytest.raises(TypeError, match="exactly one"):
                outbox.notifications_cancel(actor=manager, **selectors)
        n.refresh_from_db()
        assert n.status == "pending"


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


@pytest.mark.django_db
def test_a_claim_is_stale_after_the_configured_minutes(settings):
    settings.OUTBOX_STALE_CLAIM_MINUTES = 30
    claimed = _queue()
    Notification.objects.filter(pk=claimed.pk).update(
        status="sending", claimed_at=timezone.now() - timedelta(minutes=20)
    )
    assert outbox.outbox_due_ids() == []  # 20 minutes: its worker may still be sending
    settings.OUTBOX_STALE_CLAIM_MINUTES = 15
    assert outbox.outbox_due_ids() == [claimed.pk]
