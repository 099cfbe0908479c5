"""Celery tasks: each takes ids, loads rows and calls one service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from clinic import notifications
from clinic.models import WorkerHeartbeat

logger = logging.getLogger(__name__)


@shared_task(
    name=notifications.SEND_NOTIFICATION_TASK,
    bind=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def send_notification(self, notification_id: int) -> str:
    return notifications.notification_send(notification_id=notification_id)


@shared_task
def outbox_sweep() -> int:
    """Enqueue every pending notification that is due (runs every minute from beat)."""
    ids = notifications.outbox_due_ids()
    for notification_id in ids:
        # Never raises: with the broker gone mid-sweep the rest wait for the next sweep.
        notifications.notification_enqueue(notification_id)
    return len(ids)


@shared_task
def worker_heartbeat(name: str = "celery") -> str:
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(name=name, defaults={"last_seen": now})
    return now.isoformat()


# --- Shared by the apps' periodic sweeps (products/tasks.py, treatments/tasks.py) -------------
# Each sweep is idempotent: rows carry deterministic dedupe keys, so a repeated or concurrent
# run writes nothing twice. Whatever a sweep wrote and is due is handed to the workers at
# once; the every-minute outbox sweep would find it anyway. The beat schedule
# (settings.CELERY_BEAT_SCHEDULE) names each task once.

SWEEP_TASK_OPTIONS = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 3}


def send_due_after(written: int) -> int:
    """After a sweep: hand what it wrote to the workers now rather than at the next minute."""
    if written:
        outbox_sweep()
    return written
