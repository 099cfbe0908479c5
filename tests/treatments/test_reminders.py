"""Patient reminders: maintenance sessions coming due and booked appointments (time travel)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import override_settings

from clinic import channels
from clinic.models import Notification
from clinic.notifications import NotificationKind, outbox
from tests.clinic.test_channels import FakeSms
from tests.treatments.factories import PatientFactory, PlanFactory, SessionFactory, at
from treatments.models import SessionStatus, TreatmentPlan
from treatments.reminders import (
    appointment_key,
    appointment_reminders_sweep,
    maintenance_reminders_sweep,
    patient_reminders,
    stale_reminders_cancel,
)

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 10)  # a Tuesday
NOW = at(TODAY, 10)


def day(offset: int) -> dt.date:
    return TODAY + dt.timedelta(days=offset)


def patient_at(location, **kw):
    data = {"reminder_opt_in": True, "reminder_channel": "email"}
    data.update(kw)
    return PatientFactory(location=location, **data)


def plan_due_on(patient, due: dt.date) -> TreatmentPlan:
    """A plan with no completed session: its next session is due on its start date."""
    plan = PlanFactory(patient=patient, started_on=due)
    assert plan.next_due_on == due
    return plan


def maintenance_rows():
    return list(
        Notification.objects.filter(kind=NotificationKind.REMINDER_MAINTENANCE).order_by("dedupe_key")
    )


def delivered(row: Notification) -> str:
    """What the patient receives for ``row``: subject, text and HTML of the email, or the SMS
    as the provider is handed it (links built at send time)."""
    if row.channel == "email":
        message = channels.email_message(row)
        return "\n".join([message.subject, message.body, *(content for content, _ in message.alternatives)])
    FakeSms.sent = []
    with override_settings(SMS_BACKEND="tests.clinic.test_channels.FakeSms"):
        channels.deliver(row)
    [sms] = FakeSms.sent
    return sms["body"]


def appointment_rows(**filters):
    return list(
        Notification.objects.filter(kind=NotificationKind.REMINDER_APPOINTMENT, **filters).order_by(
            "created_at", "id"
        )
    )


# --- Maintenance reminders -------------------------------------------------------------------


class TestMaintenanceReminders:
    def test_a_reminder_goes_n_days_before_the_due_date(self, location):
        plan = plan_due_on(patient_at(location), day(7))
        maintenance_reminders_sweep(now=NOW)
        [row] = maintenance_rows()
        assert row.dedupe_key == f"reminder:plan:{plan.pk}:{day(7).isoformat()}:before"
        assert row.channel == "email" and row.to_address == plan.patient.email
        assert row.quiet_hours and row.due_at == NOW and row.status == "pending"
        assert row.regarding == f"treatments.patient:{plan.patient_id}"
        assert "is due from" in row.body and day(7).strftime("%-d %B") in row.body

    def test_nothing_earlier_than_n_days_before(self, location, settings):
        settings.MAINTENANCE_REMINDER_DAYS_BEFORE = 7
        plan_due_on(patient_at(location), day(8))
        maintenance_reminders_sweep(now=NOW)
        assert maintenance_rows() == []

    def test_the_number_of_days_is_a_setting(self, location, settings):
        settings.MAINTENANCE_REMINDER_DAYS_BEFORE = 14
        plan_due_on(patient_at(location), day(14))
        maintenance_reminders_sweep(now=NOW)
        assert len(maintenance_rows()) == 1

    def test_a_second_reminder_on_the_due_date_if_still_not_booked(self, location):
        plan = plan_due_on(patient_at(location), day(7))
        maintenance_reminders_sweep(now=NOW)
        for offset in range(1, 7):  # the days in between: nothing new
            maintenance_reminders_sweep(now=at(day(offset), 10))
        assert len(maintenance_rows()) == 1
        maintenance_reminders_sweep(now=at(day(7), 9, 30))
        before, due = maintenance_rows()
        assert before.dedupe_key.endswith(":before")
        assert due.dedupe_key == f"reminder:plan:{plan.pk}:{day(7).isoformat()}:due"
        assert "time to book your next appointment" in due.body

    def test_running_the_sweep_twice_writes_each_reminder_once(self, location):
        plan_due_on(patient_at(location), day(7))
        plan_due_on(patient_at(location), TODAY)
        maintenance_reminders_sweep(now=NOW)
        maintenance_reminders_sweep(now=NOW)
        assert len(maintenance_rows()) == 2

    def test_none_when_a_session_is_already_booked(self, location):
        plan = plan_due_on(patient_at(location), day(7))
        SessionFactory(patient=plan.patient, plan=plan, starts_at=at(day(6), 11))
        maintenance_reminders_sweep(now=NOW)
        maintenance_reminders_sweep(now=at(day(7), 10))
        assert maintenance_rows() == []

    def test_a_cancelled_booking_does_not_count_as_booked(self, location):
        plan = plan_due_on(patient_at(location), day(7))
        SessionFactory(
            patient=plan.patient, plan=plan, starts_at=at(day(6), 11), status=SessionStatus.CANCELLED
        )
        maintenance_reminders_sweep(now=NOW)
        assert len(maintenance_rows()) == 1

    def test_none_when_the_patient_has_not_agreed_to_reminders(self, location):
        plan_due_on(patient_at(location, reminder_opt_in=False), day(7))
        maintenance_reminders_sweep(now=NOW)
        assert maintenance_rows() == []

    def test_none_when_the_plan_is_stopped(self, location):
        plan = plan_due_on(patient_at(location), day(7))
        TreatmentPlan.objects.filter(pk=plan.pk).update(status=TreatmentPlan.Status.STOPPED)
        maintenance_reminders_sweep(now=NOW)
        assert maintenance_rows() == []

    def test_none_without_an_address_for_the_chosen_channel(self, location):
        plan_due_on(patient_at(location, reminder_channel="sms", phone=""), day(7))
        maintenance_reminders_sweep(now=NOW)
        assert maintenance_rows() == []

    def test_a_missed_day_is_caught_up_on_the_next_run(self, location):
        plan_due_on(patient_at(location), day(-2))
        maintenance_reminders_sweep(now=NOW)
        [row] = maintenance_rows()
        assert row.dedupe_key.endswith(":due")

    def test_sms_patients_get_a_short_text_with_the_opt_out_link(self, location):
        patient = patient_at(location, reminder_channel="sms", phone="+441134960123")
        plan_due_on(patient, day(7))
        maintenance_reminders_sweep(now=NOW)
        [row] = maintenance_rows()
        assert row.channel == "sms" and row.to_address == "+441134960123" and row.html_body == ""
        # The link is built when the text is sent (the stored row holds a placeholder).
        text = delivered(row)
        assert "/clinic/reminders/stop/" in text and len(text) < 320

    def test_a_sweep_run_in_quiet_hours_holds_the_messages_until_morning(self, location):
        plan_due_on(patient_at(location), day(7))
        maintenance_reminders_sweep(now=at(TODAY - dt.timedelta(days=0), 21, 30))
        [row] = maintenance_rows()
        assert row.due_at == at(day(1), 8)

    def test_the_query_count_does_not_grow_with_the_number_of_patients(
        self, location, django_assert_num_queries
    ):
        def run(n: int, offset: int) -> int:
            for _ in range(n):
                plan_due_on(patient_at(location), day(offset))
            with django_assert_num_queries(2, info=f"{n} more plans due"):
                return maintenance_reminders_sweep(now=NOW)

        small_written = run(2, 7)
        Notification.objects.all().delete()
        large_written = run(40, 6)
        assert (small_written, large_written) == (2, 42)


# --- Appointment reminders --------------------------------------------------------------------


class TestAppointmentReminders:
    def test_a_reminder_is_due_24_hours_before_a_booked_session(self, location):
        session = SessionFactory(
            patient=patient_at(location), starts_at=NOW + dt.timedelta(hours=24, minutes=30)
        )
        appointment_reminders_sweep(now=NOW)
        [row] = appointment_rows()
        assert row.dedupe_key == appointment_key(session.pk, session.starts_at)
        assert row.due_at == NOW + dt.timedelta(minutes=30)
        assert row.location_id == location.pk and row.quiet_hours
        assert "Wednesday 11 March 2026 at 10:30" in row.body

    def test_a_session_further_ahead_waits_for_a_later_sweep(self, location):
        SessionFactory(patient=patient_at(location), starts_at=NOW + dt.timedelta(hours=30))
        appointment_reminders_sweep(now=NOW)
        assert appointment_rows() == []
        appointment_reminders_sweep(now=NOW + dt.timedelta(hours=6))
        assert len(appointment_rows()) == 1

    def test_the_lead_time_is_a_setting(self, location, settings):
        settings.APPOINTMENT_REMINDER_HOURS = 48
        SessionFactory(patient=patient_at(location), starts_at=NOW + dt.timedelta(hours=47))
        appointment_reminders_sweep(now=NOW)
        [row] = appointment_rows()
        assert row.due_at == NOW

    def test_a_late_booking_is_reminded_at_once(self, location):
        SessionFactory(patient=patient_at(location), starts_at=NOW + dt.timedelta(hours=5))
        appointment_reminders_sweep(now=NOW)
        [row] = appointment_rows()
        assert row.due_at == NOW

    def test_none_for_a_session_about_to_start_or_not_booked_or_opted_out(self, location):
        SessionFactory(patient=patient_at(location), starts_at=NOW + dt.timedelta(minutes=40))
        SessionFactory(
            patient=patient_at(location),
            starts_at=NOW + dt.timedelta(hours=5),
            status=SessionStatus.CANCELLED,
        )
        SessionFactory(
            patient=patient_at(location, reminder_opt_in=False), starts_at=NOW + dt.timedelta(hours=5)
        )
        appointment_reminders_sweep(now=NOW)
        assert appointment_rows() == []

    def test_quiet_hours_are_respected(self, location):
        # Booked at 21:00 for 09:30 the next morning: the reminder waits until 08:00.
        SessionFactory(patient=patient_at(location), starts_at=at(day(1), 9, 30))
        appointment_reminders_sweep(now=at(TODAY, 21))
        [row] = appointment_rows()
        assert row.due_at == at(day(1), 8)

    def test_a_moved_session_gets_a_new_reminder_and_the_old_one_is_cancelled(self, location):
        session = SessionFactory(patient=patient_at(location), starts_at=NOW + dt.timedelta(hours=25))
        appointment_reminders_sweep(now=NOW)
        [old] = appointment_rows()
        session.starts_at = NOW + dt.timedelta(hours=24, minutes=45)
        session.save()
        appointment_reminders_sweep(now=NOW + dt.timedelta(minutes=15))
        old.refresh_from_db()
        assert old.status == "cancelled"
        [new] = appointment_rows(status="pending")
        assert new.dedupe_key == appointment_key(session.pk, session.starts_at)
        assert "10:45" in new.body

    def test_a_start_time_with_microseconds_is_not_mistaken_for_a_move(self, location):
        SessionFactory(patient=patient_at(location), starts_at=NOW + dt.timedelta(hours=5, microseconds=1234))
        appointment_reminders_sweep(now=NOW)
        assert stale_reminders_cancel() == 0
        assert len(appointment_rows(status="pending")) == 1

    def test_a_cancelled_session_has_its_pending_reminder_cancelled_by_the_sweep(self, location):
        session = SessionFactory(patient=patient_at(location), starts_at=NOW + dt.timedelta(hours=25))
        appointment_reminders_sweep(now=NOW)
        session.status, session.cancel_reason = SessionStatus.CANCELLED, "Patient unwell"
        session.save()
        assert stale_reminders_cancel() == 1
        [row] = appointment_rows()
        assert row.status == "cancelled"

    def test_a_reminder_whose_session_was_cancelled_is_not_sent_even_before_the_sweep(self, location):
        session = SessionFactory(patient=patient_at(location), starts_at=NOW + dt.timedelta(hours=5))
        appointment_reminders_sweep(now=NOW)
        [row] = appointment_rows()
        session.status, session.cancel_reason = SessionStatus.CANCELLED, "Patient unwell"
        session.save()
        with time_machine.travel(NOW + dt.timedelta(minutes=1), tick=False):
            assert outbox.notification_send(notification_id=row.pk) == "cancelled"
        assert mail.outbox == []

    def test_a_booked_plan_cancels_a_pending_maintenance_reminder(self, location):
        plan = plan_due_on(patient_at(location), day(7))
        maintenance_reminders_sweep(now=at(TODAY, 21))  # held until the morning
        SessionFactory(patient=plan.patient, plan=plan, starts_at=at(day(7), 11))
        assert stale_reminders_cancel() == 1

    def test_services_can_cancel_a_sessions_or_plans_reminders_at_once(self, location):
        from treatments.reminders import appointment_reminders_cancel, maintenance_reminders_cancel

        session = SessionFactory(patient=patient_at(location), starts_at=NOW + dt.timedelta(hours=5))
        other = SessionFactory(patient=patient_at(location), starts_at=NOW + dt.timedelta(hours=6))
        plan = plan_due_on(patient_at(location), day(7))
        appointment_reminders_sweep(now=NOW)
        maintenance_reminders_sweep(now=NOW)
        assert appointment_reminders_cancel(session_id=session.pk, reason="Patient unwell") == 1
        assert maintenance_reminders_cancel(plan_id=plan.pk) == 1
        pending = Notification.objects.filter(status="pending").values_list("dedupe_key", flat=True)
        assert list(pending) == [appointment_key(other.pk, other.starts_at)]

    def test_the_reminder_is_delivered_once(self, location):
        SessionFactory(patient=patient_at(location), starts_at=NOW + dt.timedelta(hours=5))
        appointment_reminders_sweep(now=NOW)
        appointment_reminders_sweep(now=NOW)
        [row] = appointment_rows()
        with time_machine.travel(NOW + dt.timedelta(minutes=1), tick=False):
            assert outbox.notification_send(notification_id=row.pk) == "sent"
            assert outbox.notification_send(notification_id=row.pk) == "not-claimed"
        assert len(mail.outbox) == 1
        assert patient_reminders(row_patient(row)).get() == Notification.objects.get(pk=row.pk)

    def test_the_query_count_does_not_grow_with_the_number_of_sessions(
        self, location, django_assert_num_queries
    ):
        def run(n: int) -> None:
            for i in range(n):
                SessionFactory(patient=patient_at(location), starts_at=NOW + dt.timedelta(hours=3, minutes=i))
            with django_assert_num_queries(4, info=f"{n} more sessions"):
                appointment_reminders_sweep(now=NOW)

        run(2)
        run(30)
        assert len(appointment_rows()) == 32


def row_patient(row: Notification):
    from treatments.models import Patient

    return Patient.objects.get(pk=int(row.regarding.split(":")[1]))


# --- What a patient message may say -------------------------------------------------------------


class TestNoClinicalDetail:
    CLINICAL = ("skin", "hair", "exosome", "induction", "maintenance", "injection", "treatment", "Paula")

    def test_patient_messages_carry_time_place_and_contact_only(self, location, settings):
        settings.CLINIC_NAME = "Harley Street Clinic"  # the default name says "Exosome"
        location.address = "12 Harley Street, London W1G 9PF"
        location.phone = "020 7946 0000"
        location.save()
        patient = patient_at(location, first_name="Jane", last_name="Doe")
        plan_due_on(patient, day(7))
        SessionFactory(patient=patient_at(location), starts_at=NOW + dt.timedelta(hours=5))
        sms_patient = patient_at(location, reminder_channel="sms", phone="+442079460999")
        plan_due_on(sms_patient, TODAY)
        maintenance_reminders_sweep(now=NOW)
        appointment_reminders_sweep(now=NOW)
        rows = list(Notification.objects.filter(regarding__startswith="treatments.patient:"))
        assert len(rows) == 3
        for row in rows:
            text = f"{row.subject}\n{row.body}\n{row.html_body}"
            for word in self.CLINICAL:
                assert word.lower() not in text.lower(), (word, row.kind, row.channel)
            assert "Doe" not in text
            assert location.name in text and "020 7946 0000" in text
            # The stop link is in what the patient receives (built at send time for some kinds).
            assert "/clinic/reminders/stop/" in delivered(row)


# --- Two sweeps and two senders at once -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="real concurrency needs PostgreSQL")
def test_two_sweeps_and_two_senders_at_once_send_one_message(location):
    from django.db import connections

    SessionFactory(patient=patient_at(location), starts_at=NOW + dt.timedelta(hours=5))
    barrier = threading.Barrier(2)
    results: list = []

    def work():
        try:
            barrier.wait()
            appointment_reminders_sweep(now=NOW)
            ids = list(
                Notification.objects.filter(kind=NotificationKind.REMINDER_APPOINTMENT).values_list(
                    "id", flat=True
                )
            )
            barrier.wait()
            results.extend(outbox.notification_send(notification_id=i) for i in ids)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(2)]
    # Inside the clinic's day, not quiet hours; time-machine moves the clock for every thread.
    with time_machine.travel(NOW + dt.timedelta(minutes=1), tick=False):
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert Notification.objects.filter(kind=NotificationKind.REMINDER_APPOINTMENT).count() == 1
    assert sorted(results) == ["not-claimed", "sent"]
    assert len(mail.outbox) == 1
