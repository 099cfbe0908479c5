"""Reminders and alerts end to end: the sweep tasks on a real Celery worker over Redis."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from clinic.models import Notification, WorkerHeartbeat
from tests.conftest import wait_for
from tests.treatments.factories import PatientFactory, SessionFactory

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _no_quiet_hours(settings):
    # The suite may run at night; these tests are about delivery, not about quiet hours.
    settings.QUIET_HOURS_END, settings.QUIET_HOURS_START = 0, 24


def drain() -> None:
    """Wait until the (solo, first-in first-out) worker has run everything queued so far."""
    from clinic.tasks import worker_heartbeat

    WorkerHeartbeat.objects.all().delete()
    worker_heartbeat.delay("drain")
    assert wait_for(lambda: WorkerHeartbeat.objects.filter(name="drain").exists())


def test_an_appointment_reminder_is_delivered_once_however_often_the_sweep_and_sends_run(worker, location):
    from clinic.tasks import outbox_sweep, send_notification
    from treatments.tasks import appointment_reminders

    patient = PatientFactory(location=location, reminder_opt_in=True, reminder_channel="email")
    session = SessionFactory(patient=patient, starts_at=timezone.now() + dt.timedelta(hours=3))
    appointment_reminders.delay()
    appointment_reminders.delay()
    assert wait_for(lambda: Notification.objects.filter(kind="reminder.appointment").exists())
    reminder = Notification.objects.get(kind="reminder.appointment")
    # Two more sends of the same row racing the sweep's own, and another outbox sweep.
    send_notification.delay(reminder.pk)
    send_notification.delay(reminder.pk)
    outbox_sweep.delay()
    assert wait_for(lambda: Notification.objects.get(pk=reminder.pk).status == "sent")
    drain()
    assert Notification.objects.filter(kind="reminder.appointment").count() == 1
    [message] = mail.outbox
    assert message.to == [patient.email]
    local = timezone.localtime(session.starts_at)
    assert f"{local:%H:%M}" in message.body and location.name in message.body
    assert "/clinic/reminders/stop/" in message.body
    assert message.alternatives and "Stop reminders" in message.alternatives[0][0]


def test_the_expiry_digest_reaches_the_manager_through_the_worker(worker, location, manager):
    from products.tasks import product_expiry_alerts
    from tests.products.factories import StorageUnitFactory, make_lot

    unit = StorageUnitFactory(location=location, name="Main fridge")
    make_lot(unit=unit, expiry=timezone.localdate() + dt.timedelta(days=6), lot_number="W7", actor=manager)
    product_expiry_alerts.delay()
    product_expiry_alerts.delay()
    assert wait_for(lambda: len(mail.outbox) >= 1)
    drain()
    [message] = mail.outbox
    assert message.to == [manager.email] and "lot W7" in message.body
    assert (
        Notification.objects.filter(
            kind="product.expiry_digest", channel="in_app", recipient_user=manager
        ).count()
        == 1
    )


def test_reminders_written_while_the_broker_is_down_go_out_once_when_it_is_back(worker, location):
    from kombu.exceptions import OperationalError

    from clinic.celery import app
    from clinic.tasks import outbox_sweep
    from treatments.tasks import appointment_reminders

    patient = PatientFactory(location=location, reminder_opt_in=True, reminder_channel="email")
    SessionFactory(patient=patient, starts_at=timezone.now() + dt.timedelta(hours=3))
    with mock.patch.object(app, "send_task", side_effect=OperationalError("Redis is down")):
        # The sweep itself runs (here, in-process) and writes the reminder; handing it to
        # the worker fails quietly and leaves it pending in the outbox.
        assert appointment_reminders() == 1
    reminder = Notification.objects.get(kind="reminder.appointment")
    assert reminder.status == "pending" and mail.outbox == []
    outbox_sweep.delay()  # the broker is back: the every-minute sweep finds it
    outbox_sweep.delay()
    assert wait_for(lambda: Notification.objects.get(pk=reminder.pk).status == "sent")
    drain()
    assert len(mail.outbox) == 1
