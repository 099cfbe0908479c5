"""Protocol templates, treatment plans (phase, next due), contact attempts, calendar feeds."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from clinic.scoping import LocationScopedQuerySet
from treatments.models.common import TreatmentType
from treatments.models.patients import Patient
from treatments.models.records import Area, Route
from treatments.models.sessions import UPCOMING, Session, SessionStatus

# --- Protocols and plans -----------------------------------------------------------------


class ProtocolTemplate(models.Model):
    """A treatment protocol managers can tune: induction sessions, then maintenance.

    ``per_procedure`` protocols (post-procedure topical) have no schedule of their own:
    one application goes with each procedure session.
    """

    key = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    treatment_type = models.CharField(max_length=20, choices=TreatmentType.choices)
    per_procedure = models.BooleanField(default=False, help_text="One application with each procedure.")
    induction_sessions = models.PositiveSmallIntegerField(default=3)
    induction_sessions_max = models.PositiveSmallIntegerField(
        default=3, help_text="Plans may ask for up to this many induction sessions."
    )
    induction_interval_days = models.PositiveSmallIntegerField(default=28)
    maintenance_min_days = models.PositiveSmallIntegerField(
        default=90, verbose_name="maintenance every (from)"
    )
    maintenance_max_days = models.PositiveSmallIntegerField(
        default=120, verbose_name="maintenance every (to)"
    )
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    # What charting a session of this protocol starts from (the practitioner changes any of it
    # at the chair): read when the form opens, so a manager's tuning applies from the next record.
    chart_route = models.CharField("route", max_length=20, choices=Route.choices, blank=True)
    chart_areas = models.JSONField("areas", default=list, blank=True)
    chart_vials = models.PositiveSmallIntegerField(
        "sealed vials per session", null=True, blank=True, help_text="Usual number of vials drawn."
    )
    chart_needle_gauge = models.PositiveSmallIntegerField("needle gauge (G)", null=True, blank=True)
    chart_depth_mm = models.DecimalField("depth (mm)", max_digits=4, decimal_places=2, null=True, blank=True)
    chart_volume_per_point_ml = models.DecimalField(
        "volume per point (mL)", max_digits=5, decimal_places=3, null=True, blank=True
    )
    chart_spacing_cm = models.DecimalField(
        "spacing (cm)", max_digits=4, decimal_places=1, null=True, blank=True
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(maintenance_max_days__gte=F("maintenance_min_days")),
                name="protocol_maintenance_range",
            ),
            models.CheckConstraint(
                condition=Q(induction_sessions_max__gte=F("induction_sessions")),
                name="protocol_induction_range",
            ),
            models.CheckConstraint(
                condition=Q(per_procedure=True)
                | Q(induction_interval_days__gte=1, maintenance_min_days__gte=1),
                name="protocol_intervals_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        unknown = [a for a in self.chart_areas or [] if a not in Area.values]
        if not isinstance(self.chart_areas, list) or unknown:
            raise ValidationError({"chart_areas": "Choose the areas from the list."})

    @property
    def chart_defaults(self) -> dict:
        """The product-line values a new record starts from (empty ones left out)."""
        values = {
            "route": self.chart_route,
            "areas": list(self.chart_areas or []),
            "vials": self.chart_vials,
            "needle_gauge": self.chart_needle_gauge,
            "depth_mm": self.chart_depth_mm,
            "volume_per_point_ml": self.chart_volume_per_point_ml,
            "spacing_cm": self.chart_spacing_cm,
        }
        return {k: v for k, v in values.items() if v not in (None, "", [])}


class PlanPhase(models.TextChoices):
    INDUCTION = "induction", "Induction"
    MAINTENANCE = "maintenance", "Maintenance"
    PER_PROCEDURE = "per_procedure", "With each procedure"


@dataclass(frozen=True)
class PlanProgress:
    """Where a plan stands, computed from its completed session dates."""

    phase: str
    induction_done: int
    induction_total: int
    next_due_on: dt.date | None
    due_by: dt.date | None

    @property
    def label(self) -> str:
        if self.phase == PlanPhase.INDUCTION:
            return f"Induction {self.induction_done + 1} of {self.induction_total}"
        if self.phase == PlanPhase.MAINTENANCE:
            return "Maintenance"
        return "With each procedure"


# Induction sessions may slip this long past their date before the plan counts as overdue.
INDUCTION_GRACE_DAYS = 7


class TreatmentPlanQuerySet(LocationScopedQuerySet):
    location_lookup = "patient__location"

    def active(self) -> TreatmentPlanQuerySet:
        return self.filter(status=TreatmentPlan.Status.ACTIVE)

    def with_upcoming_booking(self) -> TreatmentPlanQuerySet:
        upcoming = Session.objects.filter(plan=OuterRef("pk"), status__in=UPCOMING)
        return self.annotate(has_booking=Exists(upcoming))

    def due(self, today: dt.date) -> TreatmentPlanQuerySet:
        """Active scheduled plans whose next session is due by ``today`` and not yet booked."""
        booked = Session.objects.filter(plan=OuterRef("pk"), status__in=UPCOMING)
        return self.active().filter(next_due_on__lte=today).filter(~Exists(booked))


class TreatmentPlan(models.Model):
    """A patient's course of treatment from a protocol template.

    The schedule is copied from the template when the plan starts, so a manager editing
    a template later does not silently move dates of courses already running. Progress
    (completed count, last completed date, next due) is stored so the due worklist is an
    indexed query; ``refresh_progress`` recomputes it from completed sessions.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        STOPPED = "stopped", "Stopped"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="plans")
    template = models.ForeignKey(ProtocolTemplate, on_delete=models.PROTECT, related_name="plans")
    treatment_type = models.CharField(max_length=20, choices=TreatmentType.choices)
    per_procedure = models.BooleanField(default=False)
    induction_sessions = models.PositiveSmallIntegerField()
    induction_interval_days = models.PositiveSmallIntegerField()
    maintenance_min_days = models.PositiveSmallIntegerField()
    maintenance_max_days = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    started_on = models.DateField(default=timezone.localdate)
    completed_sessions = models.PositiveSmallIntegerField(default=0, editable=False)
    last_completed_on = models.DateField(null=True, blank=True, editable=False)
    next_due_on = models.DateField(null=True, blank=True, editable=False)
    due_by = models.DateField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TreatmentPlanQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(maintenance_max_days__gte=F("maintenance_min_days")),
                name="plan_maintenance_range",
            ),
            # One running course per treatment type: the due list and booking link to it.
            models.UniqueConstraint(
                fields=["patient", "treatment_type"],
                condition=Q(status="active"),
                name="one_active_plan_per_type",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_due_on"], name="plan_status_due_idx"),
            models.Index(fields=["patient", "status"], name="plan_patient_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.patient} · {self.template}"

    def progress_for(self, completed: list[dt.date]) -> PlanProgress:
        """The phase and next due date given the dates of completed sessions (any order)."""
        done = sorted(completed)
        n = self.induction_sessions
        if self.per_procedure:
            return PlanProgress(PlanPhase.PER_PROCEDURE, 0, 0, None, None)
        if not done:
            return PlanProgress(
                PlanPhase.INDUCTION if n else PlanPhase.MAINTENANCE,
                0,
                n,
                self.started_on,
                self.started_on + dt.timedelta(days=INDUCTION_GRACE_DAYS),
            )
        last = done[-1]
        if len(done) < n:
            due = last + dt.timedelta(days=self.induction_interval_days)
            return PlanProgress(
                PlanPhase.INDUCTION, len(done), n, due, due + dt.timedelta(days=INDUCTION_GRACE_DAYS)
            )
        return PlanProgress(
            PlanPhase.MAINTENANCE,
            min(len(done), n),
            n,
            last + dt.timedelta(days=self.maintenance_min_days),
            last + dt.timedelta(days=self.maintenance_max_days),
        )

    @property
    def progress(self) -> PlanProgress:
        """From the stored progress fields (no query)."""
        dates = [self.last_completed_on] * self.completed_sessions if self.last_completed_on else []
        return self.progress_for(dates)

    @property
    def phase(self) -> str:
        return self.progress.phase

    def due_state(self, today: dt.date) -> str:
        """ "not_due", "due" or "overdue" on ``today`` (pass it in: time travel in tests)."""
        if self.status != self.Status.ACTIVE or self.next_due_on is None or today < self.next_due_on:
            return "not_due"
        if self.due_by is not None and today > self.due_by:
            return "overdue"
        return "due"

    def refresh_progress(self) -> None:
        """Recompute the stored progress from this plan's completed sessions and save it."""
        starts = self.sessions.filter(status=SessionStatus.COMPLETED).values_list("starts_at", flat=True)
        dates = [timezone.localtime(s).date() for s in starts]
        progress = self.progress_for(dates)
        self.completed_sessions = len(dates)
        self.last_completed_on = max(dates) if dates else None
        self.next_due_on = progress.next_due_on
        self.due_by = progress.due_by
        self.save(update_fields=["completed_sessions", "last_completed_on", "next_due_on", "due_by"])


class ContactAttemptQuerySet(LocationScopedQuerySet):
    location_lookup = "plan__patient__location"


class ContactAttempt(models.Model):
    """The desk tried to reach a patient who is due: who, when and what came of it."""

    class Outcome(models.TextChoices):
        CALLED = "called", "Called, spoke to patient"
        LEFT_MESSAGE = "left_message", "Left a message"
        BOOKED = "booked", "Booked"
        DECLINED = "declined", "Declined"

    plan = models.ForeignKey(TreatmentPlan, on_delete=models.CASCADE, related_name="contact_attempts")
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    note = models.CharField(max_length=300, blank=True, help_text="Nothing clinical.")
    made_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    made_at = models.DateTimeField(default=timezone.now)

    objects = ContactAttemptQuerySet.as_manager()

    class Meta:
        ordering = ["-made_at", "-pk"]
        indexes = [models.Index(fields=["plan", "-made_at"], name="contact_plan_made_idx")]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} {self.made_at:%Y-%m-%d %H:%M}"


class CalendarFeed(models.Model):
    """A private iCalendar URL for one practitioner's schedule; revocable.

    The URL carries the row id and a random secret; only a SHA-256 of the secret is
    stored, and it is compared in constant time.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=Q(revoked_at__isnull=True), name="one_live_feed_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"Calendar feed of {self.user}"
