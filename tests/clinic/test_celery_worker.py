"""The outbox with the real thing: Redis as the broker and a running Celery worker."""

from __future__ import annotations

import time

import pytest
import redis
from django.conf import settings
from django.core import mail

from clinic.celery import app
from clinic.models import Notification, WorkerHeartbeat
from tests.conftest import require_service

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def _redis_up() -> bool:
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:
        return False
    return True


@pytest.fixture
def worker():
    require_service("Redis", _redis_up())
    from celery.contrib.testing.worker import start_worker

    # A queue of our own so parallel runs on the same Redis do not take each other's tasks.
    queue = f"test-{time.time_ns()}"
    app.conf.task_default_queue = queue
    try:
        with start_worker(
            app,
            pool="solo",
            perform_ping_check=False,
            queues=[queue],
            loglevel="WARNING",
            shutdown_timeout=10,
        ):
            yield
    finally:
        app.conf.task_default_queue = "celery"


def _wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_queued_notification_is_sent_by_the_worker(worker):
    from clinic.outbox import notification_queue

    n = notification_queue(
        kind="test.alert",
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


def test_the_heartbeat_task_records_the_worker(worker, client):
    from clinic.tasks import worker_heartbeat

    worker_heartbeat.delay()
    assert _wait_for(lambda: WorkerHeartbeat.objects.exists())
    body = client.get("/healthz").json()
    assert body["worker"]["last_heartbeat"] is not None
