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
        # Never raises: with the broker gone mid-sweep the rest wait for the next sweep.
        outbox.notification_enqueue(notification_id)
    return len(ids)


@shared_task
def worker_heartbeat(name: str = "celery") -> str:
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(name=name, defaults={"last_seen": now})
    return now.isoformat()


# --- Reminder and alert sweeps (beat schedule in settings.CELERY_BEAT_SCHEDULE) ---------------
# Each one is idempotent: rows carry deterministic dedupe keys, so a repeated or concurrent
# run writes nothing twice. Whatever a sweep wrote and is due is handed to the workers at
# once; the every-minute outbox sweep would find it anyway.

_SWEEP_OPTIONS = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 3}


def _then_send_due(written: int) -> int:
    if written:
        outbox_sweep()
    return written


@shared_task(**_SWEEP_OPTIONS)
def maintenance_reminders() -> int:
    from treatments.reminders import maintenance_reminders_sweep

    return _then_send_due(maintenance_reminders_sweep())


@shared_task(**_SWEEP_OPTIONS)
def appointment_reminders() -> int:
    from treatments.reminders import appointment_reminders_sweep

    return _then_send_due(appointment_reminders_sweep())


@shared_task(**_SWEEP_OPTIONS)
def product_expiry_alerts() -> int:
    from products.alerts import product_expiry_sweep

    return _then_send_due(product_expiry_sweep())


@shared_task(**_SWEEP_OPTIONS)
def excursion_alerts() -> int:
    from products.alerts import excursion_alerts_sweep

    return _then_send_due(excursion_alerts_sweep())


@shared_task(**_SWEEP_OPTIONS)
def missed_check_alerts() -> int:
    from products.alerts import missed_check_sweep

    return _then_send_due(missed_check_sweep())


@shared_task(**_SWEEP_OPTIONS)
def calibration_expiry_alerts() -> int:
    from products.alerts import calibration_expiry_sweep

    return _then_send_due(calibration_expiry_sweep())


@shared_task(**_SWEEP_OPTIONS)
def document_expiry_alerts() -> int:
    from products.alerts import regulatory_document_sweep

    return _then_send_due(regulatory_document_sweep())
