"""Booking rules: overlaps, working hours, status changes, history and audit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from clinic.models import AuditEvent
from clinic.roles import FRONT_DESK
from tests.factories import staff
from tests.treatments.factories import PatientFactory, PlanFactory, SessionFactory, at, next_weekday
from treatments import services
from treatments.models import SessionChange, SessionStatus, WorkingHours

pytestmark = pytest.mark.django_db


def book(actor, patient, practitioner, start, *, minutes=45, room=None, **kw):
    return services.session_book(
        actor=actor,
        patient=patient,
        practitioner=practitioner,
        location=patient.location,
        starts_at=start,
        duration_minutes=minutes,
        treatment_type="skin_quality",
        room=room,
        **kw,
    )


class TestOverlap:
    def test_a_practitioner_cannot_be_double_booked(
        self, front_desk, practitioner_all_hours, patient, tomorrow
    ):
        book(front_desk, patient, practitioner_all_hours, at(tomorrow, 10))
        other = PatientFactory(location=patient.location)
        with pytest.raises(ValidationError, match="already booked 10:00–10:45"):
            book(front_desk, other, practitioner_all_hours, at(tomorrow, 10, 30))

    def test_back_to_back_sessions_are_fine(self, front_desk, practitioner_all_hours, patient, tomorrow):
        book(front_desk, patient, practitioner_all_hours, at(tomorrow, 10))
        other = PatientFactory(location=patient.location)
        assert book(front_desk, other, practitioner_all_hours, at(tomorrow, 10, 45)).pk

    def test_a_room_cannot_be_double_booked(
        self, front_desk, practitioner_all_hours, nurse, patient, room, tomorrow
    ):
        book(front_desk, patient, practitioner_all_hours, at(tomorrow, 10), room=room)
        other = PatientFactory(location=patient.location)
        with pytest.raises(ValidationError, match="Room 1 is already booked"):
            book(front_desk, other, nurse, at(tomorrow, 10, 15), room=room)

    def test_a_patient_cannot_be_in_two_places(
        self, front_desk, practitioner_all_hours, nurse, patient, tomorrow
    ):
        book(front_desk, patient, practitioner_all_hours, at(tomorrow, 10))
        with pytest.raises(ValidationError, match="already has a session"):
            book(front_desk, patient, nurse, at(tomorrow, 10, 30))

    def test_a_cancelled_session_frees_the_slot(self, front_desk, practitioner_all_hours, patient, tomorrow):
        s = book(front_desk, patient, practitioner_all_hours, at(tomorrow, 10))
        services.session_cancel(actor=front_desk, session=s, reason="Patient asked")
        other = PatientFactory(location=patient.location)
        assert book(front_desk, other, practitioner_all_hours, at(tomorrow, 10)).pk


class TestWorkingHours:
    @pytest.fixture
    def monday_hours(self, practitioner, location):
        WorkingHours.objects.create(
            practitioner=practitioner,
            location=location,
            weekday=0,
            start_time=dt.time(9),
            end_time=dt.time(17),
        )
        return next_weekday(0)

    def test_booking_inside_hours_is_fine(self, front_desk, practitioner, patient, monday_hours):
        assert not book(front_desk, patient, practitioner, at(monday_hours, 16, 15)).outside_hours

    def test_front_desk_cannot_book_outside_hours(self, front_desk, practitioner, patient, monday_hours):
        with pytest.raises(ValidationError, match="Only a manager can book outside working hours"):
            book(front_desk, patient, practitioner, at(monday_hours, 16, 30))  # ends 17:15
        with pytest.raises(ValidationError, match="outside Priya Shah's working hours"):
            book(front_desk, patient, practitioner, at(next_weekday(1), 10), override_hours=True)

    def test_a_manager_books_outside_hours_after_confirming(
        self, manager, practitioner, patient, monday_hours
    ):
        with pytest.raises(ValidationError, match="Tick “Book outside working hours”"):
            book(manager, patient, practitioner, at(monday_hours, 18))
        session = book(manager, patient, practitioner, at(monday_hours, 18), override_hours=True)
        assert session.outside_hours


class TestBookingChecks:
    def test_it_refuses_a_time_in_the_past(self, front_desk, practitioner_all_hours, patient):
        with pytest.raises(ValidationError, match="has passed"):
            book(front_desk, patient, practitioner_all_hours, timezone.now() - dt.timedelta(hours=2))

    def test_staff_cannot_book_at_a_location_they_do_not_work_at(
        self, other_location, practitioner_all_hours, other_patient, tomorrow
    ):
        desk = staff(FRONT_DESK, practitioner_all_hours.staff_profile.locations.get())
        with pytest.raises(PermissionDenied):
            book(desk, other_patient, practitioner_all_hours, at(tomorrow, 10))

    def test_a_front_desk_user_is_not_bookable_as_practitioner(self, front_desk, patient, tomorrow):
        with pytest.raises(ValidationError, match="does not take treatment bookings"):
            book(front_desk, patient, front_desk, at(tomorrow, 10))

    def test_booking_writes_history_and_audit_and_links_the_active_plan(
        self, front_desk, practitioner_all_hours, patient, tomorrow
    ):
        plan = PlanFactory(patient=patient)
        session = book(front_desk, patient, practitioner_all_hours, at(tomorrow, 10))
        assert session.plan == plan
        assert session.changes.get().kind == SessionChange.Kind.BOOKED
        event = AuditEvent.objects.get(action="session.book")
        assert event.object_id == str(session.pk) and event.location == patient.location


class TestReschedule:
    def test_rescheduling_keeps_the_old_slot_in_history(
        self, front_desk, practitioner_all_hours, patient, tomorrow
    ):
        session = book(front_desk, patient, practitioner_all_hours, at(tomorrow, 10))
        services.session_reschedule(
            actor=front_desk, session=session, starts_at=at(tomorrow, 14), reason="Asked"
        )
        session.refresh_from_db()
        assert timezone.localtime(session.starts_at).hour == 14
        change = session.changes.get(kind=SessionChange.Kind.RESCHEDULED)
        assert timezone.localtime(change.from_starts_at).hour == 10 and change.reason == "Asked"
        assert AuditEvent.objects.filter(action="session.reschedule").exists()

    def test_a_session_can_be_moved_within_its_own_slot(
        self, front_desk, practitioner_all_hours, patient, tomorrow
    ):
        session = book(front_desk, patient, practitioner_all_hours, at(tomorrow, 10))
        services.session_reschedule(actor=front_desk, session=session, starts_at=at(tomorrow, 10, 15))

    def test_it_refuses_to_move_onto_another_booking(
        self, front_desk, practitioner_all_hours, patient, tomorrow
    ):
        session = book(front_desk, patient, practitioner_all_hours, at(tomorrow, 10))
        book(front_desk, PatientFactory(location=patient.location), practitioner_all_hours, at(tomorrow, 14))
        with pytest.raises(ValidationError, match="already booked"):
            services.session_reschedule(actor=front_desk, session=session, starts_at=at(tomorrow, 14, 30))


class TestStatusChanges:
    def test_the_happy_path_books_checks_in_starts_and_completes(
        self, front_desk, practitioner_all_hours, patient, time_machine
    ):
        # A session about to start is checked in today: at a fixed morning, not whenever the
        # suite runs (at 23:30 the session would run past midnight, into another day).
        time_machine.move_to(at(dt.date(2026, 3, 10), 10), tick=False)
        start = timezone.now() + dt.timedelta(minutes=1)
        plan = PlanFactory(patient=patient)
        session = book(front_desk, patient, practitioner_all_hours, start)
        services.session_check_in(actor=front_desk, session=session)
        services.session_start(actor=practitioner_all_hours, session=session)
        session = services.session_complete(actor=practitioner_all_hours, session=session)
        assert session.status == SessionStatus.COMPLETED and session.completed_at
        plan.refresh_from_db()
        assert plan.completed_sessions == 1 and plan.progress.label == "Induction 2 of 3"
        assert [c.to_status for c in session.changes.order_by("pk")] == [
            "booked",
            "arrived",
            "in_treatment",
            "completed",
        ]

    def test_only_todays_sessions_can_be_checked_in(
        self, front_desk, practitioner_all_hours, patient, tomorrow
    ):
        session = book(front_desk, patient, practitioner_all_hours, at(tomorrow, 10))
        with pytest.raises(ValidationError, match="Only today's"):
            services.session_check_in(actor=front_desk, session=session)

    def test_a_cancelled_session_cannot_be_checked_in(self, front_desk, patient):
        session = SessionFactory(patient=patient, status=SessionStatus.CANCELLED)
        with pytest.raises(ValidationError, match="cancelled; it cannot be marked arrived"):
            services.session_check_in(actor=front_desk, session=session)

    def test_cancelling_needs_a_reason(self, front_desk, patient):
        session = SessionFactory(patient=patient, starts_at=timezone.now() + dt.timedelta(days=1))
        with pytest.raises(ValidationError, match="Say why"):
            services.session_cancel(actor=front_desk, session=session, reason=" ")
        services.session_cancel(actor=front_desk, session=session, reason="Unwell")
        session.refresh_from_db()
        assert session.status == SessionStatus.CANCELLED and session.cancel_reason == "Unwell"

    def test_a_no_show_only_after_the_start_time(self, front_desk, patient):
        future = SessionFactory(patient=patient, starts_at=timezone.now() + dt.timedelta(hours=1))
        with pytest.raises(ValidationError, match="after its start time"):
            services.session_no_show(actor=front_desk, session=future)
        past = SessionFactory(patient=patient, starts_at=timezone.now() - dt.timedelta(hours=3))
        assert services.session_no_show(actor=front_desk, session=past).status == SessionStatus.NO_SHOW
        assert AuditEvent.objects.filter(action="session.no_show", object_id=str(past.pk)).exists()
