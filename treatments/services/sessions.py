"""Booking and running sessions: double-booking guard, working hours, status changes.

Two desks booking the same slot at once must not both succeed. Each booking locks the
rows it depends on (patient, practitioner's staff profile, room — always in that order,
so two bookings can never wait on each other in a cycle) and only then runs the overlap
query. The second desk waits on the lock, then sees the first booking and is refused.
On SQLite, BEGIN IMMEDIATE serialises the writers instead.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format

from clinic.audit import AuditAction, audit_record, snapshot
from clinic.models import Location, StaffProfile
from treatments.intake import intake_request_queue
from treatments.models import (
    Patient,
    Room,
    Session,
    SessionChange,
    SessionStatus,
    TreatmentPlan,
    TreatmentRecord,
    WorkingHours,
)
from treatments.reminders import appointment_reminders_cancel, maintenance_reminders_cancel
from treatments.services.common import require_location

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SESSION_FIELDS = (
    "patient",
    "practitioner",
    "location",
    "room",
    "plan",
    "treatment_type",
    "starts_at",
    "duration_minutes",
    "status",
    "cancel_reason",
    "outside_hours",
)
# The patient's answer through their reminder link: about one time, so a move clears it.
RESPONSE_FIELDS = ("patient_response", "patient_response_at", "patient_note")
# A booking may start a little in the past (the patient is at the desk now).
PAST_TOLERANCE = dt.timedelta(minutes=30)


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


def _slot_text(start: dt.datetime, end: dt.datetime) -> str:
    s, e = timezone.localtime(start), timezone.localtime(end)
    return f"{s:%H:%M}–{e:%H:%M} on {date_format(s.date(), 'D j M Y')}"


def _lock(patient: Patient, practitioner, room: Room | None) -> None:
    """Row locks in a fixed order: patient, practitioner's staff profile, room."""
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    if StaffProfile.objects.select_for_update().filter(user=practitioner).first() is None:
        raise ValidationError({"practitioner": "This person has no staff profile and cannot be booked."})
    if room is not None:
        Room.objects.select_for_update().filter(pk=room.pk).first()


def _check_bookable(*, practitioner, location: Location, room: Room | None) -> None:
    if not practitioner.is_active or not practitioner.has_perm("treatments.perform_session"):
        raise ValidationError({"practitioner": f"{_name(practitioner)} does not take treatment bookings."})
    if not practitioner.staff_profile.locations.filter(pk=location.pk).exists():
        raise ValidationError({"practitioner": f"{_name(practitioner)} does not work at {location}."})
    if room is not None and (room.location_id != location.pk or not room.is_active):
        raise ValidationError({"room": f"{room} is not an open room at {location}."})


def require_bookable(*, practitioner, location: Location, room: Room | None = None) -> None:
    """Raise ``ValidationError`` unless ``practitioner`` (and ``room``) can be booked at
    ``location``: the check ``session_book`` makes, for callers that offer times first (the
    patient's booking page) so they never offer what the booking would refuse."""
    _check_bookable(practitioner=practitioner, location=location, room=room)


def _check_overlaps(
    *, patient: Patient, practitioner, room: Room | None, start: dt.datetime, end: dt.datetime, exclude=None
) -> None:
    qs = Session.objects.overlapping(start, end)
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    clash = qs.filter(practitioner=practitioner).first()
    if clash:
        raise ValidationError(
            f"{_name(practitioner)} is already booked {_slot_text(clash.starts_at, clash.ends_at)}.",
            code="practitioner_busy",
        )
    if room is not None:
        clash = qs.filter(room=room).first()
        if clash:
            raise ValidationError(
                f"{room} is already booked {_slot_text(clash.starts_at, clash.ends_at)}.", code="room_busy"
            )
    clash = qs.filter(patient=patient).first()
    if clash:
        raise ValidationError(
            f"{patient} already has a session {_slot_text(clash.starts_at, clash.ends_at)}.",
            code="patient_busy",
        )


def within_working_hours(*, practitioner, location: Location, start: dt.datetime, end: dt.datetime) -> bool:
    s, e = timezone.localtime(start), timezone.localtime(end)
    if s.date() != e.date() and e.time() != dt.time.min:
        return False
    end_time = e.time() if s.date() == e.date() else dt.time.max
    return WorkingHours.objects.filter(
        practitioner=practitioner,
        location=location,
        weekday=s.weekday(),
        start_time__lte=s.time(),
        end_time__gte=end_time,
    ).exists()


def _check_hours(*, actor: User | None, practitioner, location, start, end, override_hours: bool) -> bool:
    """True when the booking is outside working hours and a manager allowed it."""
    if within_working_hours(practitioner=practitioner, location=location, start=start, end=end):
        return False
    base = f"{_slot_text(start, end)} is outside {_name(practitioner)}'s working hours at {location}."
    if actor is not None and not actor.has_perm("treatments.book_outside_hours"):
        raise ValidationError(f"{base} Only a manager can book outside working hours.", code="outside_hours")
    if not override_hours:
        raise ValidationError(
            f"{base} Tick “Book outside working hours” to book it anyway.", code="outside_hours_confirm"
        )
    return True


def _plan_for(patient: Patient, treatment_type: str, plan: TreatmentPlan | None) -> TreatmentPlan | None:
    if plan is not None:
        if plan.patient_id != patient.pk:
            raise ValidationError({"plan": "This plan belongs to another patient."})
        return plan
    return TreatmentPlan.objects.active().filter(patient=patient, treatment_type=treatment_type).first()


def _history(session: Session, *, actor: User | None, kind: str, **fields) -> None:
    SessionChange.objects.create(
        session=session,
        kind=kind,
        changed_by=actor if getattr(actor, "is_authenticated", False) else None,
        **fields,
    )


@transaction.atomic
def session_book(
    *,
    actor: User | None,
    patient: Patient,
    practitioner,
    location: Location,
    starts_at: dt.datetime,
    duration_minutes: int,
    treatment_type: str,
    room: Room | None = None,
    plan: TreatmentPlan | None = None,
    booking_notes: str = "",
    override_hours: bool = False,
) -> Session:
    """Book a session, refusing a double-booked practitioner, room or patient."""
    require_location(actor, location)
    if timezone.is_naive(starts_at):
        raise ValueError("starts_at must be timezone-aware.")
    if starts_at < timezone.now() - PAST_TOLERANCE:
        raise ValidationError({"starts_at": "This time has passed; choose a time from now on."})
    _check_bookable(practitioner=practitioner, location=location, room=room)
    session = Session(
        patient=patient,
        practitioner=practitioner,
        location=location,
        room=room,
        plan=_plan_for(patient, treatment_type, plan),
        treatment_type=treatment_type,
        starts_at=starts_at,
        duration_minutes=duration_minutes,
        booking_notes=booking_notes,
        booked_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    session.ends_at = session.compute_end()
    session.full_clean(exclude=["ends_at"])
    _lock(patient, practitioner, room)
    session.outside_hours = _check_hours(
        actor=actor,
        practitioner=practitioner,
        location=location,
        start=session.starts_at,
        end=session.ends_at,
        override_hours=override_hours,
    )
    _check_overlaps(
        patient=patient, practitioner=practitioner, room=room, start=session.starts_at, end=session.ends_at
    )
    session.save()
    _history(
        session,
        actor=actor,
        kind=SessionChange.Kind.BOOKED,
        to_starts_at=session.starts_at,
        to_practitioner=practitioner,
        to_room=room,
        to_status=session.status,
    )
    audit_record(
        actor=actor, action=AuditAction.SESSION_BOOK, obj=session, after=snapshot(session, SESSION_FIELDS)
    )
    if session.plan_id:
        # Booked now: the "your next session is due" reminders have done their job.
        maintenance_reminders_cancel(plan_id=session.plan_id, actor=actor, reason="A session was booked.")
    # The screening questions and consent, to fill in on the phone before the visit.
    intake_request_queue(session=session)
    return session


@transaction.atomic
def session_reschedule(
    *,
    actor: User | None,
    session: Session,
    starts_at: dt.datetime,
    duration_minutes: int | None = None,
    practitioner=None,
    room: Room | Literal[False] | None = False,
    reason: str = "",
    override_hours: bool = False,
) -> Session:
    """Move a booked session (time, practitioner, room). The old slot stays in its history.

    ``room=False`` keeps the current room; ``room=None`` clears it.
    """
    session = Session.objects.select_for_update().select_related("patient", "location").get(pk=session.pk)
    if session.status != SessionStatus.BOOKED:
        raise ValidationError(f"A session that is {session.get_status_display().lower()} cannot be moved.")
    if starts_at < timezone.now() - PAST_TOLERANCE:
        raise ValidationError({"starts_at": "This time has passed; choose a time from now on."})
    before = snapshot(session, SESSION_FIELDS + RESPONSE_FIELDS)
    old = (session.starts_at, session.practitioner, session.room)
    practitioner = practitioner or session.practitioner
    new_room = session.room if room is False else room
    _check_bookable(practitioner=practitioner, location=session.location, room=new_room)
    session.starts_at = starts_at
    session.duration_minutes = duration_minutes or session.duration_minutes
    session.practitioner = practitioner
    session.room = new_room
    session.ends_at = session.compute_end()
    if (session.starts_at, session.practitioner) != old[:2]:
        # The patient answered about another time (or practitioner): that answer must not
        # show as theirs for this one. The room is not on their page, so it keeps it.
        session.patient_response, session.patient_response_at, session.patient_note = "", None, ""
    session.full_clean(exclude=["ends_at"])
    _lock(session.patient, practitioner, new_room)
    session.outside_hours = _check_hours(
        actor=actor,
        practitioner=practitioner,
        location=session.location,
        start=session.starts_at,
        end=session.ends_at,
        override_hours=override_hours,
    )
    _check_overlaps(
        patient=session.patient,
        practitioner=practitioner,
        room=new_room,
        start=session.starts_at,
        end=session.ends_at,
        exclude=session,
    )
    session.save()
    _history(
        session,
        actor=actor,
        kind=SessionChange.Kind.RESCHEDULED,
        from_starts_at=old[0],
        to_starts_at=session.starts_at,
        from_practitioner=old[1],
        to_practitioner=practitioner,
        from_room=old[2],
        to_room=new_room,
        reason=reason[:200],
    )
    audit_record(
        actor=actor,
        action=AuditAction.SESSION_RESCHEDULE,
        obj=session,
        before=before,
        after=snapshot(session, SESSION_FIELDS + RESPONSE_FIELDS) | {"reason": reason},
    )
    # The reminder for the old time goes at once; the sweep writes one for the new time.
    appointment_reminders_cancel(session_id=session.pk, actor=actor, reason="The session moved.")
    return session


def _transition(
    *,
    actor: User | None,
    session: Session,
    allowed: tuple[str, ...],
    to: str,
    action: AuditAction,
    stamp: str | None,
    reason: str = "",
) -> Session:
    session = Session.objects.select_for_update().get(pk=session.pk)
    if session.status not in allowed:
        raise ValidationError(
            f"This session is {session.get_status_display().lower()}; it cannot be marked "
            f"{SessionStatus(to).label.lower()}."
        )
    before = snapshot(session, ("status", "cancel_reason"))
    previous = session.status
    session.status = to
    if stamp:
        setattr(session, stamp, timezone.now())
    if reason:
        session.cancel_reason = reason[:200]
    session.save()
    _history(
        session,
        actor=actor,
        kind=SessionChange.Kind.STATUS,
        from_status=previous,
        to_status=to,
        reason=reason[:200],
    )
    audit_record(
        actor=actor,
        action=action,
        obj=session,
        before=before,
        after=snapshot(session, ("status", "cancel_reason")),
    )
    return session


@transaction.atomic
def session_check_in(*, actor: User | None, session: Session) -> Session:
    """The patient has arrived (one click at the desk). Only on the day of the session."""
    if timezone.localtime(session.starts_at).date() != timezone.localdate():
        raise ValidationError("Only today's sessions can be checked in.")
    return _transition(
        actor=actor,
        session=session,
        allowed=(SessionStatus.BOOKED,),
        to=SessionStatus.ARRIVED,
        action=AuditAction.SESSION_CHECK_IN,
        stamp="arrived_at",
    )


@transaction.atomic
def session_start(*, actor: User | None, session: Session) -> Session:
    return _transition(
        actor=actor,
        session=session,
        allowed=(SessionStatus.BOOKED, SessionStatus.ARRIVED),
        to=SessionStatus.IN_TREATMENT,
        action=AuditAction.SESSION_START,
        stamp="started_at",
    )


@transaction.atomic
def session_complete(*, actor: User | None, session: Session) -> Session:
    """Finish the session and move its treatment plan on (next due date, phase)."""
    record = TreatmentRecord.objects.filter(session=session).only("signed_at").first()
    if record is not None and not record.is_signed:
        raise ValidationError("Sign the treatment record before completing the session.")
    session = _transition(
        actor=actor,
        session=session,
        allowed=(SessionStatus.ARRIVED, SessionStatus.IN_TREATMENT),
        to=SessionStatus.COMPLETED,
        action=AuditAction.SESSION_COMPLETE,
        stamp="completed_at",
    )
    if session.plan_id is None:
        plan = _plan_for(session.patient, session.treatment_type, None)
        if plan is not None:
            session.plan = plan
            session.save(update_fields=["plan"])
    if session.plan_id is not None:
        plan = TreatmentPlan.objects.select_for_update().get(pk=session.plan_id)
        before = snapshot(plan, ("completed_sessions", "next_due_on", "due_by"))
        plan.refresh_progress()
        audit_record(
            actor=actor,
            action=AuditAction.PLAN_PROGRESS,
            obj=plan,
            location=session.location,
            before=before,
            after=snapshot(plan, ("completed_sessions", "next_due_on", "due_by")) | {"phase": plan.phase},
        )
    return session


@transaction.atomic
def session_cancel(*, actor: User | None, session: Session, reason: str) -> Session:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the session is cancelled."})
    session = _transition(
        actor=actor,
        session=session,
        allowed=(SessionStatus.BOOKED, SessionStatus.ARRIVED),
        to=SessionStatus.CANCELLED,
        action=AuditAction.SESSION_CANCEL,
        stamp="cancelled_at",
        reason=reason,
    )
    appointment_reminders_cancel(session_id=session.pk, actor=actor, reason="The session was cancelled.")
    return session


@transaction.atomic
def session_no_show(*, actor: User | None, session: Session) -> Session:
    if session.starts_at > timezone.now():
        raise ValidationError("A session can be marked a no-show only after its start time.")
    session = _transition(
        actor=actor,
        session=session,
        allowed=(SessionStatus.BOOKED,),
        to=SessionStatus.NO_SHOW,
        action=AuditAction.SESSION_NO_SHOW,
        stamp=None,
    )
    appointment_reminders_cancel(session_id=session.pk, actor=actor, reason="The patient did not attend.")
    return session


PATIENT_ACTIONS = {
    "confirmed": AuditAction.SESSION_PATIENT_CONFIRM,
    "cancelled": AuditAction.SESSION_PATIENT_CANCEL,
    "reschedule": AuditAction.SESSION_PATIENT_RESCHEDULE,
}


@transaction.atomic
def session_patient_respond(
    *, session: Session, answer: str, note: str = "", by: str = "patient via link"
) -> Session:
    """The patient's answer through their reminder link (no login: actor None). Answering the
    same again changes nothing; cancelling goes through ``session_cancel``."""
    from treatments.links import within_cancellation_window

    if answer not in PATIENT_ACTIONS:
        raise ValidationError("Unknown answer.")
    session = Session.objects.select_for_update().get(pk=session.pk)
    if session.patient_response == answer:
        return session
    if session.status != SessionStatus.BOOKED:
        raise ValidationError("This appointment can no longer be changed online.")
    if answer == "cancelled":
        if within_cancellation_window(session.starts_at):
            raise ValidationError("Too close to the appointment to cancel online.")
        session = session_cancel(actor=None, session=session, reason="cancelled by patient")
    before = snapshot(session, ("patient_response", "patient_note"))
    session.patient_response = answer
    session.patient_response_at = timezone.now()
    session.patient_note = (note or "").strip()[:200] if answer == "reschedule" else ""
    session.save(update_fields=["patient_response", "patient_response_at", "patient_note"])
    label = session.get_patient_response_display()
    _history(
        session,
        actor=None,
        kind=SessionChange.Kind.PATIENT,
        reason=(f"{label}: {session.patient_note}" if session.patient_note else label)[:200],
    )
    audit_record(
        actor=None,
        action=PATIENT_ACTIONS[answer],
        obj=session,
        location=session.location,
        before=before,
        after=snapshot(session, ("patient_response", "patient_note")) | {"by": by},
    )
    return session
