"""Celery tasks of the products app: the stock and cold-chain alert sweeps (beat schedule in
settings.CELERY_BEAT_SCHEDULE). Each calls one sweep of ``products.sweeps``."""

from __future__ import annotations

from celery import shared_task

from clinic.tasks import SWEEP_TASK_OPTIONS, send_due_after
from products import sweeps


@shared_task(**SWEEP_TASK_OPTIONS)
def product_expiry_alerts() -> int:
    return send_due_after(sweeps.product_expiry_sweep())


@shared_task(**SWEEP_TASK_OPTIONS)
def excursion_alerts() -> int:
    return send_due_after(sweeps.excursion_alerts_sweep())


@shared_task(**SWEEP_TASK_OPTIONS)
def missed_check_alerts() -> int:
    return send_due_after(sweeps.missed_check_sweep())


@shared_task(**SWEEP_TASK_OPTIONS)
def logger_gap_alerts() -> int:
    return send_due_after(sweeps.logger_gap_sweep())


@shared_task(**SWEEP_TASK_OPTIONS)
def calibration_expiry_alerts() -> int:
    return send_due_after(sweeps.calibration_expiry_sweep())


@shared_task(**SWEEP_TASK_OPTIONS)
def document_expiry_alerts() -> int:
    return send_due_after(sweeps.regulatory_document_sweep())


@shared_task(**SWEEP_TASK_OPTIONS)
def low_stock_alerts() -> int:
    return send_due_after(sweeps.low_stock_sweep())
