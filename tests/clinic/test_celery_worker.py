"""The outbox with the real thing: Redis as the broker and a running Celery worker."""

from __future__ import annotations

import pytest
from django.core import mail

from clinic.models import Notification, WorkerHeartbeat
from tests.conftest import wait_for as _wait_for

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_a_queued_notification_is_sent_by_the_worker(worker):
    from clinic.notifications import NotificationKind, notification_queue

    n = notification_queue(
        kind=NotificationKind.PRODUCT_EXPIRY_DIGEST,
        channel="email",
        subject="Lot expiring",
        body="Lot A1 expires in 7 days.",
        dedupe_key="w:1",
        to_address="manager@clinic.example",
    )
    assert _wait_for(lambda: Notification.objects.get(pk=n.pk).status == "sent")
    assert [m.subject for m in mail.outbox] == ["Lot expiring"]


def test_the_sweep_sends_rows_written_while_the_broker_was_down(worker):
    # Written directly, as if enqueueing had failed: only the sweep can find it.
    n = Notification.objects.create(
        kind="test.alert",
        channel="email",
        subject="Queued offline",
        body="b",
        dedupe_key="w:2",
        to_address="x@clinic.example",
    )
    from clinic.tasks import outbox_sweep

    outbox_sweep.delay()
    assert _wait_for(lambda: Notification.objects.get(pk=n.pk).status == "sent")


def test_the_heartbeat_task_records_the_worker(worker, client_for, manager):
    from clinic.tasks import worker_heartbeat

    worker_heartbeat.delay()
    assert _wait_for(lambda: WorkerHeartbeat.objects.exists())
    body = client_for(manager).get("/healthz").json()
    assert body["worker"]["last_heartbeat"] is not None
