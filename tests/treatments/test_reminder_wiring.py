"""Services cancel a cause's pending reminders at once; the patient page lists reminders."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from clinic.models import AuditEvent, Notification
from clinic.notifications import NotificationKind, notification_queue
from tests.treatments.factories import PatientFactory, PlanFactory, SessionFactory, all_week_hours, at
from treatments import services
from treatments.reminders import appointment_key, maintenance_key

pytestmark = pytest.mark.django_db


def _pending(key: str, kind: NotificationKind = NotificationKind.REMINDER_APPOINTMENT) -> Notification:
    return notification_queue(
        kind=kind,
        channel="email",
        subject="Your appointment",
        body="b",
        dedupe_key=key,
        to_address="p@example.com",
        due_at=timezone.now() + dt.timedelta(hours=2),
    )


def test_cancelling_a_session_cancels_its_reminder_at_once(front_desk, location):
    session = SessionFactory(
        patient=PatientFactory(location=location), starts_at=timezone.now() + dt.timedelta(days=1)
    )
    reminder = _pending(appointment_key(session.pk, session.starts_at))
    services.session_cancel(actor=front_desk, session=session, reason="Patient unwell")
    reminder.refresh_from_db()
    assert reminder.status == "cancelled"


def test_moving_a_session_cancels_the_reminder_for_the_old_time(front_desk, location):
    # Tomorrow at 10:00, not "now + 1 day": a session booked at 23:30 would end after midnight,
    # outside any day's working hours, and the move would be refused.
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    session = SessionFactory(patient=PatientFactory(location=location), starts_at=at(tomorrow, 10))
    all_week_hours(session.practitioner, location)
    reminder = _pending(appointment_key(session.pk, session.starts_at))
    services.session_reschedule(
        actor=front_desk, session=session, starts_at=session.starts_at + dt.timedelta(days=1)
    )
    reminder.refresh_from_db()
    assert reminder.status == "cancelled"


def test_stopping_a_plan_cancels_its_maintenance_reminders(practitioner, location):
    plan = PlanFactory(patient=PatientFactory(location=location))
    reminder = _pending(
        maintenance_key(plan.pk, timezone.localdate(), "before"), NotificationKind.REMINDER_MAINTENANCE
    )
    services.plan_stop(actor=practitioner, plan=plan, reason="Patient moved away")
    reminder.refresh_from_db()
    assert reminder.status == "cancelled"


def test_the_patient_page_lists_reminders_and_records_the_read(client_for, front_desk, location):
    patient = PatientFactory(location=location)
    notification_queue(
        kind="reminder.appointment",
        channel="email",
        subject="Appointment reminder",
        body="b",
        dedupe_key="r1",
        to_address="p@example.com",
        regarding=f"treatments.patient:{patient.pk}",
    )
    response = client_for(front_desk).get(f"/treatments/patients/{patient.pk}/")
    assert response.status_code == 200
    assert "Appointment reminder" in response.text
    assert AuditEvent.objects.filter(
        action="patient.view", object_id=str(patient.pk), actor=front_desk
    ).exists()
