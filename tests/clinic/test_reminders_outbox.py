"""Reminders and alerts on the outbox screen and in staff's own alerts."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.utils import timezone

from clinic.models import AuditEvent, Notification
from products.sweeps import product_expiry_sweep
from tests.products.factories import StorageUnitFactory, make_lot
from tests.treatments.factories import PatientFactory, SessionFactory
from treatments.reminders import appointment_reminders_sweep

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_quiet_hours(settings):
    # Sessions here start five hours from the real now, whatever time the suite runs.
    settings.QUIET_HOURS_END, settings.QUIET_HOURS_START = 0, 24


@pytest.fixture
def reminder(location):
    patient = PatientFactory(location=location, reminder_opt_in=True, reminder_channel="sms")
    SessionFactory(patient=patient, starts_at=timezone.now() + dt.timedelta(hours=5))
    appointment_reminders_sweep()
    return Notification.objects.get(kind="reminder.appointment")


@pytest.fixture
def digest(location, manager):
    unit = StorageUnitFactory(location=location)
    make_lot(unit=unit, expiry=timezone.localdate() + dt.timedelta(days=5), lot_number="D5", actor=manager)
    product_expiry_sweep()
    return Notification.objects.get(kind="product.expiry_digest", channel="email")


def test_managers_filter_the_outbox_by_reminder_and_alert_kinds(client_for, manager, reminder, digest):
    c = client_for(manager)
    response = c.get("/clinic/outbox/")
    assert {"reminder.appointment", "product.expiry_digest"} <= set(response.context["kinds"])
    listed = c.get("/clinic/outbox/", {"kind": "reminder.appointment"}).context["page"].object_list
    assert [n.pk for n in listed] == [reminder.pk]
    listed = c.get("/clinic/outbox/", {"kind": "product.expiry_digest", "status": "pending"}).context["page"]
    assert digest.pk in [n.pk for n in listed.object_list]


def test_a_failed_reminder_can_be_retried_and_a_pending_digest_cancelled(
    client_for, manager, reminder, digest, django_capture_on_commit_callbacks
):
    Notification.objects.filter(pk=reminder.pk).update(status="failed", attempts=5)
    c = client_for(manager)
    with (
        mock.patch("clinic.notifications.outbox.notification_enqueue"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert c.post(f"/clinic/outbox/{reminder.pk}/retry/").status_code == 302
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == ("pending", 0)
    assert c.post(f"/clinic/outbox/{digest.pk}/cancel/").status_code == 302
    digest.refresh_from_db()
    assert digest.status == "cancelled"
    assert AuditEvent.objects.filter(action__in=["notification.retry", "notification.cancel"]).count() == 2


def test_the_outbox_query_count_does_not_grow_with_reminders(
    client_for, manager, location, django_assert_num_queries
):
    c = client_for(manager)

    def add(n: int) -> None:
        for _ in range(n):
            patient = PatientFactory(location=location, reminder_opt_in=True, reminder_channel="email")
            SessionFactory(patient=patient, starts_at=timezone.now() + dt.timedelta(hours=5))
        appointment_reminders_sweep()

    add(2)
    c.get("/clinic/outbox/")
    with django_assert_num_queries(9, info="two reminders"):
        c.get("/clinic/outbox/")
    add(20)
    with django_assert_num_queries(9, info="22 reminders"):
        c.get("/clinic/outbox/")


def test_a_manager_sees_the_digest_among_their_own_alerts(client_for, manager, front_desk, digest):
    response = client_for(manager).get("/clinic/alerts/")
    assert "lot D5" in response.text and "/products/lots/" in response.text
    assert "lot D5" not in client_for(front_desk).get("/clinic/alerts/").text
