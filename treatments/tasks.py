"""Celery tasks of the treatments app: the patients' reminder sweeps (beat schedule in
settings.CELERY_BEAT_SCHEDULE). Each calls one sweep of ``treatments.reminders``."""

from __future__ import annotations

from celery import shared_task

from clinic.tasks import SWEEP_TASK_OPTIONS, send_due_after
from treatments import reminders
from treatments.rights.erasure import erasures_due_run


@shared_task(**SWEEP_TASK_OPTIONS)
def maintenance_reminders() -> int:
    return send_due_after(reminders.maintenance_reminders_sweep())


@shared_task(**SWEEP_TASK_OPTIONS)
def appointment_reminders() -> int:
    return send_due_after(reminders.appointment_reminders_sweep())


@shared_task(**SWEEP_TASK_OPTIONS)
def erasures_due() -> int:
    """Erase the clinical records whose retention lapsed after an erasure request."""
    return erasures_due_run()
