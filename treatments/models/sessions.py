"""Rooms, working hours, sessions (the bookings) and their history."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from clinic.clock import after
from clinic.models import Location
from clinic.scoping import LocationScopedQuerySet
from treatments.models.common import TreatmentType
from treatments.models.patients import Patient

# --- Rooms and working hours --------------------------------------------------------------


class RoomQuerySet(LocationScopedQuerySet):
    location_lookup = "location"


class Room(models.Model):
    """A treatment room at a location; a room holds one session at a time."""

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="rooms")
    name = models.CharField(max_length=60)
    is_active = models.BooleanField(default=True)

    objects = RoomQuerySet.as_manager()

    class Meta:
        ordering = ["location", "name"]
        constraints = [models.UniqueConstraint(fields=["location", "name"], name="room_name_per_location")]

    def __str__(self) -> str:
        return self.name


class WorkingHoursQuerySet(LocationScopedQuerySet):
    location_lookup = "location"


class WorkingHours(models.Model):
    """One weekly interval a practitioner works at a location (several per day allowed)."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="working_hours"
    )
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="working_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start_time = models.TimeField()
    end_time = models.TimeField()

    objects = WorkingHoursQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "working hours"
        ordering = ["practitioner", "location", "weekday", "start_time"]
        constraints = [
            models.CheckConstraint(condition=Q(end_time__gt=F("start_time")), name="hours_end_after_start"),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="hours_weekday_valid"),
            models.UniqueConstraint(
                fields=["practitioner", "location", "weekday", "start_time"], name="hours_unique_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start_time:%H:%M}–{self.end_time:%H:%M}"

    def covers(self, start: dt.time, end: dt.time) -> bool:
        return self.start_time <= start and end <= self.end_time


# --- Sessions ------------------------------------------------------------------------------


class SessionStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    ARRIVED = "arrived", "Arrived"
    IN_TREATMENT = "in_treatment", "In treatment"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "No-show"


# Statuses that hold the practitioner's and the room's time.
OCCUPYING = (
    SessionStatus.BOOKED,
    SessionStatus.ARRIVED,
    SessionStatus.IN_TREATMENT,
    SessionStatus.COMPLETED,
)
UPCOMING = (SessionStatus.BOOKED, SessionStatus.ARRIVED, SessionStatus.IN_TREATMENT)


class SessionQuerySet(LocationScopedQuerySet):
    location_lookup = "location"

    def occupying(self) -> SessionQuerySet:
        return self.filter(status__in=OCCUPYING)

    def overlapping(self, start: dt.datetime, end: dt.datetime) -> SessionQuerySet:
        return self.occupying().filter(starts_at__lt=end, ends_at__gt=start)

    def on_day(self, day: dt.date) -> SessionQuerySet:
        start = local_midnight(day)
        return self.filter(starts_at__gte=start, starts_at__lt=local_midnight(day + dt.timedelta(days=1)))

    def between_days(self, first: dt.date, last: dt.date) -> SessionQuerySet:
        return self.filter(
            starts_at__gte=local_midnight(first), starts_at__lt=local_midnight(last + dt.timedelta(days=1))
        )


def local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


class Session(models.Model):
    """One booked visit: a patient with a practitioner in a room at a location.

    The treatment record, consent, screening and photos of later issues hang off it.
    ``ends_at`` is stored (kept by save()) so the overlap check is an indexed range query.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="sessions")
    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="treatment_sessions"
    )
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="sessions")
    room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.PROTECT, related_name="sessions")
    plan = models.ForeignKey(
        "TreatmentPlan", null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions"
    )
    treatment_type = models.CharField(max_length=20, choices=TreatmentType.choices)
    starts_at = models.DateTimeField()
    duration_minutes = models.PositiveSmallIntegerField(default=45)
    ends_at = models.DateTimeField(editable=False)
    status = models.CharField(max_length=20, choices=SessionStatus.choices, default=SessionStatus.BOOKED)
    booking_notes = models.CharField(max_length=300, blank=True, help_text="For the desk; nothing clinical.")
    cancel_reason = models.CharField(max_length=200, blank=True)
    outside_hours = models.BooleanField(
        default=False, help_text="Booked outside the practitioner's working hours by a manager."
    )
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Booked by the patient through the link in a maintenance reminder (treatments/views/book.py);
    # the desk sees a "Booked by patient" badge.
    booked_by_patient = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    arrived_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # The patient's answer through the link in their reminder (treatments/links.py).
    patient_response = models.CharField(
        max_length=20,
        blank=True,
        choices=[
            ("confirmed", "Confirmed"),
            ("cancelled", "Cancelled by patient"),
            ("reschedule", "Wants another time"),
        ],
    )
    patient_response_at = models.DateTimeField(null=True, blank=True)
    patient_note = models.CharField(max_length=200, blank=True)

    objects = SessionQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at", "pk"]
        permissions = [
            ("perform_session", "Can be booked for sessions and start and complete them"),
            ("book_outside_hours", "Can book outside a practitioner's working hours"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="session_ends_after_start"),
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=5, duration_minutes__lte=480), name="session_duration_range"
            ),
            models.CheckConstraint(
                condition=~Q(status=SessionStatus.CANCELLED) | ~Q(cancel_reason=""),
                name="session_cancel_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["practitioner", "starts_at"], name="session_prac_start_idx"),
            models.Index(fields=["room", "starts_at"], name="session_room_start_idx"),
            models.Index(fields=["location", "starts_at"], name="session_loc_start_idx"),
            models.Index(fields=["patient", "starts_at"], name="session_patient_start_idx"),
            models.Index(fields=["plan", "status"], name="session_plan_status_idx"),
        ]

    def __str__(self) -> str:
        local = timezone.localtime(self.starts_at)
        return f"{self.patient} {local:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        self.ends_at = self.compute_end()
        super().save(*args, **kwargs)

    def compute_end(self) -> dt.datetime:
        # Real minutes, not wall-clock ones: a 60-minute session at 01:30 BST on the night the
        # clocks go back ends at 01:30 GMT (clinic.clock).
        return after(self.starts_at, dt.timedelta(minutes=self.duration_minutes or 0))

    @property
    def is_upcoming(self) -> bool:
        return self.status in UPCOMING

    @property
    def status_tone(self) -> str:
        return STATUS_TONES.get(self.status, "secondary")

    @property
    def response_tone(self) -> str:
        """The badge of the patient's answer through their reminder link."""
        return {"confirmed": "success", "cancelled": "dark", "reschedule": "warning"}.get(
            self.patient_response, "secondary"
        )


STATUS_TONES = {
    SessionStatus.BOOKED: "primary",
    SessionStatus.ARRIVED: "info",
    SessionStatus.IN_TREATMENT: "warning",
    SessionStatus.COMPLETED: "success",
    SessionStatus.CANCELLED: "dark",
    SessionStatus.NO_SHOW: "danger",
}


def _status_label(value: str) -> str:
    """The label of a stored session status; an unknown value is shown as it is rather than lost."""
    try:
        return SessionStatus(value).label
    except ValueError:
        return value


class SessionChange(models.Model):
    """History of a session: booked, rescheduled and every status change, with who and why."""

    class Kind(models.TextChoices):
        BOOKED = "booked", "Booked"
        RESCHEDULED = "rescheduled", "Rescheduled"
        STATUS = "status", "Status changed"
        PATIENT = "patient", "Patient answered the reminder"

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_starts_at = models.DateTimeField(null=True, blank=True)
    to_starts_at = models.DateTimeField(null=True, blank=True)
    from_practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    to_room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["changed_at", "pk"]

    def __str__(self) -> str:
        return f"{self.session_id} {self.kind} {self.changed_at:%Y-%m-%d %H:%M}"

    # The status fields have no ``choices`` (a status change row keeps whatever was stored),
    # so these give the label staff read ("In treatment", not "in_treatment").
    @property
    def from_status_label(self) -> str:
        return _status_label(self.from_status)

    @property
    def to_status_label(self) -> str:
        return _status_label(self.to_status)
