"""Celery tasks: each takes ids, loads rows and calls one service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from clinic import outbox
from clinic.models import WorkerHeartbeat

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def send_notification(self, notification_id: int) -> str:
    return outbox.notification_send(notification_id=notification_id)


@shared_task
def outbox_sweep() -> int:
    """Enqueue every pending notification that is due (runs every minute from beat)."""
    ids = outbox.outbox_due_ids()
    for notification_id in ids:
        send_notification.delay(notification_id)
    return len(ids)


@shared_task
def worker_heartbeat(name: str = "celery") -> str:
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(name=name, defaults={"last_seen": now})
    return now.isoformat()
