"""Maintenance booking by the patient, from the link in their maintenance reminder.

The page offers the free slots of the patient's practitioner around the plan's due date; the
patient picks one and it is booked through ``session_book``, the front desk's service: the
same working hours, durations, double-booking guard and row locks. The slot list is only an
offer. ``session_book`` decides, under its locks, so two patients racing for one slot cannot
both have it: the second is told the time has just been taken.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import transaction
from django.db.models import Case, IntegerField, Q, Value, When
from django.utils import timezone
from django.utils.formats import date_format

from clinic.audit import AuditAction, audit_record
from clinic.clock import wall_instants
from clinic.mail import render_message
from clinic.models import Location, Notification
from clinic.notifications import NotificationKind, notification_queue
from clinic.phones import phone_national
from treatments.models import Session, SessionStatus, TreatmentPlan, WorkingHours
from treatments.models.sessions import OCCUPYING, UPCOMING
from treatments.reminders import regarding_patient
from treatments.services.sessions import require_bookable, session_book

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from treatments.links import BookLink

# Slots start on the quarter hour (the front desk's booking form books quarter hours too).
SLOT_STEP = dt.timedelta(minutes=15)
# Around the due date: a week early to two weeks late, and never fewer than this many days ahead.
DAYS_BEFORE_DUE = 7
DAYS_AFTER_DUE = 14
MIN_DAYS_AHEAD = 7
# A slot starts at least this long from now: the practitioner's day is planned.
MIN_NOTICE = dt.timedelta(hours=2)
# When the patient has no session to take it from.
DEFAULT_DURATION = 45

TAKEN = "That time has just been taken. Please pick another."
BUSY_CODES = {"practitioner_busy", "room_busy", "patient_busy"}


def call_the_clinic(location: Location) -> str:
    """What the patient is told when the page cannot book for them: never the desk's own
    refusal, which names staff and rules the patient cannot act on."""
    phone = phone_national(location.phone or "")
    return f"Please call the clinic on {phone} to book." if phone else "Please call the clinic to book."


@dataclass(frozen=True)
class SlotChoice:
    """One offered start as the page shows it: the instant (UTC), its local wall time, and
    the zone's name when that wall time happens twice (the night the clocks go back)."""

    starts_at: dt.datetime

    @property
    def local(self) -> dt.datetime:
        return timezone.localtime(self.starts_at)

    @property
    def value(self) -> str:
        """What the form posts: local time with its offset, so either 01:30 names one instant."""
        return self.local.isoformat()

    @property
    def key(self) -> int:
        return int(self.starts_at.timestamp())

    @property
    def label(self) -> str:
        return local_time_label(self.starts_at)


def local_time_label(instant: dt.datetime) -> str:
    """``HH:MM`` in clinic time, with the zone's name ("01:30 BST", "01:30 GMT") when the
    wall time is ambiguous."""
    local = timezone.localtime(instant)
    other = local.replace(fold=1 - local.fold)
    if other.utcoffset() != local.utcoffset():
        return f"{local:%H:%M} {local.tzname()}"
    return f"{local:%H:%M}"


@dataclass(frozen=True)
class BookingOffer:
    """What the booking page shows: who, where, how long, and the free start times."""

    plan: TreatmentPlan
    location: Location
    practitioner: User | None
    duration_minutes: int
    first_day: dt.date
    last_day: dt.date
    slots: list[dt.datetime] = field(default_factory=list)  # UTC instants, sorted

    @property
    def days(self) -> list[tuple[dt.date, list[SlotChoice]]]:
        grouped: dict[dt.date, list[SlotChoice]] = {}
        for slot in self.slots:
            grouped.setdefault(timezone.localtime(slot).date(), []).append(SlotChoice(slot))
        return list(grouped.items())


def free_slots(
    *,
    hours: Iterable[tuple[int, dt.time, dt.time]],
    busy: Iterable[tuple[dt.datetime, dt.datetime]],
    first_day: dt.date,
    last_day: dt.date,
    duration: dt.timedelta,
    earliest: dt.datetime,
    step: dt.timedelta = SLOT_STEP,
) -> list[dt.datetime]:
    """Start times from ``first_day`` to ``last_day`` inside a working interval (the rule of
    ``within_working_hours``: start and local end on one day, inside one interval), from
    ``earliest`` on, that overlap no ``busy`` (start, end) range. UTC instants, sorted, no
    duplicates; the ends are ``start + duration`` in real time, across a clock change too."""
    by_day: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for weekday, start, end in hours:
        by_day.setdefault(weekday, []).append((start, end))
    taken = sorted(busy)
    found: set[dt.datetime] = set()
    day = first_day
    while day <= last_day:
        for start, end in by_day.get(day.weekday(), []):
            wall, last_wall = dt.datetime.combine(day, start), dt.datetime.combine(day, end)
            while wall <= last_wall:
                begins = wall_instants(day, wall.time())
                wall += step
                for begin in begins:
                    if begin < earliest:
                        continue
                    finish = begin + duration
                    local_end = timezone.localtime(finish)
                    if local_end.date() != day or local_end.time() > end:
                        continue
                    if any(s < finish and e > begin for s, e in taken):
                        continue
                    found.add(begin)
        day += dt.timedelta(days=1)
    return sorted(found)


def booking_window(due_on: dt.date, today: dt.date) -> tuple[dt.date, dt.date]:
    first = max(due_on - dt.timedelta(days=DAYS_BEFORE_DUE), today)
    last = max(due_on + dt.timedelta(days=DAYS_AFTER_DUE), today + dt.timedelta(days=MIN_DAYS_AHEAD))
    return first, last


def _usual_session(plan: TreatmentPlan) -> Session | None:
    """The patient's latest session of this plan (else of this treatment, else any): its
    practitioner and duration are the ones to book again."""
    return (
        Session.objects.filter(patient_id=plan.patient_id, status__in=OCCUPYING)
        .select_related("practitioner__staff_profile")
        .order_by(
            Case(
                When(plan_id=plan.pk, then=Value(0)),
                When(treatment_type=plan.treatment_type, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            ),
            "-starts_at",
        )
        .first()
    )


def _bookable(practitioner: User, location: Location) -> bool:
    """Whether the desk's booking would take this practitioner here (``require_bookable``:
    active, may perform sessions, works at the location)."""
    try:
        require_bookable(practitioner=practitioner, location=location)
    except (ValidationError, ObjectDoesNotExist):  # no staff profile: not bookable either
        return False
    return True


def maintenance_offer(
    *, plan: TreatmentPlan, due_on: dt.date, now: dt.datetime | None = None
) -> BookingOffer:
    """The free slots of the patient's practitioner at the patient's location around ``due_on``.

    A practitioner the desk's booking would refuse (left the location, no longer performs
    sessions) is no practitioner: the page says to call rather than offer times that fail.
    Six queries however many sessions and slots: the usual session, the bookability check
    (two for permissions, one for the location), the working hours, the sessions in the way
    (the practitioner's and the patient's own)."""
    now = now or timezone.now()
    location = plan.patient.location
    first_day, last_day = booking_window(due_on, timezone.localdate(now))
    usual = _usual_session(plan)
    practitioner = (
        usual.practitioner if usual is not None and _bookable(usual.practitioner, location) else None
    )
    duration = usual.duration_minutes if usual is not None else DEFAULT_DURATION
    offer = BookingOffer(plan, location, practitioner, duration, first_day, last_day)
    if practitioner is None:
        return offer
    hours = list(
        WorkingHours.objects.filter(practitioner=practitioner, location=location).values_list(
            "weekday", "start_time", "end_time"
        )
    )
    if not hours:
        return offer
    # Midnight exists and is unambiguous in the clinic's zone (the UK changes at 01:00/02:00).
    window_start = min(wall_instants(first_day, dt.time.min), default=now)
    window_end = max(wall_instants(last_day + dt.timedelta(days=1), dt.time.min), default=now)
    busy = list(
        Session.objects.overlapping(window_start, window_end)
        .filter(Q(practitioner=practitioner) | Q(patient_id=plan.patient_id))
        .values_list("starts_at", "ends_at")
    )
    offer.slots.extend(
        free_slots(
            hours=hours,
            busy=busy,
            first_day=first_day,
            last_day=last_day,
            duration=dt.timedelta(minutes=duration),
            earliest=now + MIN_NOTICE,
        )
    )
    return offer


def upcoming_booking(plan: TreatmentPlan) -> Session | None:
    """The plan's next booked session, if any (a used booking link shows it)."""
    return (
        Session.objects.filter(plan=plan, status__in=UPCOMING)
        .select_related("location", "practitioner")
        .order_by("starts_at")
        .first()
    )


def _confirmation(session: Session) -> None:
    patient = session.patient
    channel = patient.reminder_channel
    address = (patient.email if channel == Notification.Channel.EMAIL else patient.phone or "").strip()
    if not address or patient.restricted_at is not None:
        return
    local = timezone.localtime(session.starts_at)
    location = session.location
    phone = phone_national(location.phone or "")
    if channel == Notification.Channel.EMAIL:
        message = render_message(
            "booking_confirmation",
            {
                "first_name": patient.first_name,
                "starts_at": local,
                "starts_time": local_time_label(local),
                "location": location,
                "location_phone": phone,
                "practitioner_first_name": session.practitioner.first_name,
            },
        )
        subject, body, html = message.subject, message.text, message.html
    else:
        subject, html = "Booking confirmed", ""
        body = (
            f"{settings.CLINIC_NAME}: you are booked at {location.name} on "
            f"{date_format(local.date(), 'D j M')} at {local_time_label(local)}."
            + (f" To change it call {phone}." if phone else "")
        )
    notification_queue(
        kind=NotificationKind.BOOKING_CONFIRMATION,
        channel=channel,
        subject=subject,
        body=body,
        html_body=html,
        dedupe_key=f"booking:confirm:{session.pk}",
        to_address=address,
        location=location,
        quiet_hours=True,
        regarding=regarding_patient(patient.pk),
    )


@transaction.atomic
def plan_patient_book(
    *, link: BookLink, starts_at: dt.datetime, by: str = "patient via link", now: dt.datetime | None = None
) -> Session:
    """Book the slot the patient picked from their maintenance reminder (no login: actor None).

    Refuses a link whose plan was booked, stopped or moved to another due date, and a time
    not offered; books through ``session_book`` (locks, working hours, overlaps) and turns its
    "already booked" refusal into "that time has just been taken"; writes the confirmation."""
    now = now or timezone.now()
    # The offer's slots are UTC instants; a posted "01:30+01:00" (or a zone-aware value with
    # fold=1) compares equal to its slot only once both are in one zone.
    starts_at = starts_at.astimezone(dt.UTC)
    plan = (
        TreatmentPlan.objects.select_for_update(of=("self",))
        .select_related("patient__location")
        .filter(pk=link.plan_id, patient_id=link.patient_id)
        .first()
    )
    if plan is None or plan.status != TreatmentPlan.Status.ACTIVE or plan.next_due_on != link.due_on:
        raise ValidationError("This booking link is no longer valid. Please contact the clinic.", code="gone")
    if Session.objects.filter(plan=plan, status__in=UPCOMING).exists():
        raise ValidationError("Your next appointment is already booked.", code="used")
    offer = maintenance_offer(plan=plan, due_on=link.due_on, now=now)
    if offer.practitioner is None:
        raise ValidationError(call_the_clinic(offer.location), code="not_offered")
    if starts_at not in offer.slots:
        unbusy = free_slots(
            hours=WorkingHours.objects.filter(
                practitioner=offer.practitioner, location=offer.location
            ).values_list("weekday", "start_time", "end_time"),
            busy=[],
            first_day=offer.first_day,
            last_day=offer.last_day,
            duration=dt.timedelta(minutes=offer.duration_minutes),
            earliest=now + MIN_NOTICE,
        )
        if starts_at in unbusy:
            raise ValidationError(TAKEN, code="slot_taken")
        raise ValidationError("Please choose one of the times offered.", code="not_offered")
    try:
        session = session_book(
            actor=None,
            patient=plan.patient,
            practitioner=offer.practitioner,
            location=offer.location,
            starts_at=starts_at,
            duration_minutes=offer.duration_minutes,
            treatment_type=plan.treatment_type,
            plan=plan,
            booking_notes="Booked by the patient online.",
        )
    except ValidationError as exc:
        if getattr(exc, "code", None) in BUSY_CODES:
            raise ValidationError(TAKEN, code="slot_taken") from None
        # Any other refusal is the desk's wording (staff names, rules): not for the patient.
        raise ValidationError(call_the_clinic(offer.location), code="call_clinic") from None
    Session.objects.filter(pk=session.pk).update(booked_by_patient=True)
    session.booked_by_patient = True
    audit_record(
        actor=None,
        action=AuditAction.SESSION_PATIENT_BOOK,
        obj=session,
        location=session.location,
        after={
            "plan": plan.pk,
            "due_on": link.due_on.isoformat(),
            "starts_at": session.starts_at.isoformat(),
            "status": SessionStatus.BOOKED,
            "by": by,
        },
    )
    _confirmation(session)
    return session
