"""Treatment plans, protocol templates and the due worklist's contact attempts."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinic.audit import AuditAction, audit_record, snapshot
from treatments.models import ContactAttempt, Patient, ProtocolTemplate, TreatmentPlan
from treatments.services.common import require_location

if TYPE_CHECKING:
    from django.contrib.auth.models import User

PLAN_FIELDS = (
    "template",
    "treatment_type",
    "induction_sessions",
    "induction_interval_days",
    "maintenance_min_days",
    "maintenance_max_days",
    "started_on",
    "status",
    "next_due_on",
)
TEMPLATE_FIELDS = (
    "name",
    "induction_sessions",
    "induction_sessions_max",
    "induction_interval_days",
    "maintenance_min_days",
    "maintenance_max_days",
    "description",
    "is_active",
    "chart_route",
    "chart_areas",
    "chart_vials",
    "chart_needle_gauge",
    "chart_depth_mm",
    "chart_volume_per_point_ml",
    "chart_spacing_cm",
)


@transaction.atomic
def plan_create(
    *,
    actor: User | None,
    patient: Patient,
    template: ProtocolTemplate,
    induction_sessions: int | None = None,
    started_on: dt.date | None = None,
) -> TreatmentPlan:
    """Start a course for a patient from a template; the first session is due on ``started_on``."""
    require_location(actor, patient.location)
    if not template.is_active:
        raise ValidationError({"template": "This protocol is no longer offered."})
    n = template.induction_sessions if induction_sessions is None else induction_sessions
    if not template.per_procedure and not (1 <= n <= max(template.induction_sessions_max, 1)):
        most = template.induction_sessions_max
        raise ValidationError({"induction_sessions": f"Choose between 1 and {most} induction sessions."})
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    if (
        TreatmentPlan.objects.active()
        .filter(patient=patient, treatment_type=template.treatment_type)
        .exists()
    ):
        raise ValidationError(
            f"{patient} already has an active plan for this treatment type "
            f"({template.get_treatment_type_display()}); "
            "stop it before starting another."
        )
    plan = TreatmentPlan(
        patient=patient,
        template=template,
        treatment_type=template.treatment_type,
        per_procedure=template.per_procedure,
        induction_sessions=0 if template.per_procedure else n,
        induction_interval_days=template.induction_interval_days,
        maintenance_min_days=template.maintenance_min_days,
        maintenance_max_days=template.maintenance_max_days,
        started_on=started_on or timezone.localdate(),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    plan.full_clean()
    plan.save()
    plan.refresh_progress()
    audit_record(
        actor=actor,
        action=AuditAction.PLAN_CREATE,
        obj=plan,
        location=patient.location,
        after=snapshot(plan, PLAN_FIELDS),
    )
    return plan


@transaction.atomic
def plan_stop(*, actor: User | None, plan: TreatmentPlan, reason: str = "") -> TreatmentPlan:
    plan = TreatmentPlan.objects.select_for_update().select_related("patient__location").get(pk=plan.pk)
    if plan.status != TreatmentPlan.Status.ACTIVE:
        raise ValidationError("This plan is already stopped.")
    plan.status = TreatmentPlan.Status.STOPPED
    plan.save(update_fields=["status"])
    audit_record(
        actor=actor,
        action=AuditAction.PLAN_STOP,
        obj=plan,
        location=plan.patient.location,
        before={"status": "active"},
        after={"status": "stopped", "reason": reason},
    )
    from treatments.reminders import maintenance_reminders_cancel

    maintenance_reminders_cancel(plan_id=plan.pk, actor=actor, reason="The plan was stopped.")
    return plan


@transaction.atomic
def protocol_template_update(
    *, actor: User | None, template: ProtocolTemplate, **changes
) -> ProtocolTemplate:
    """A manager tunes a protocol. Running plans keep the schedule they started with."""
    unknown = set(changes) - set(TEMPLATE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown template fields: {sorted(unknown)}")
    template = ProtocolTemplate.objects.select_for_update().get(pk=template.pk)
    before = snapshot(template, TEMPLATE_FIELDS)
    for name, value in changes.items():
        setattr(template, name, value)
    template.full_clean()
    if not template.per_procedure and template.induction_sessions < 1:
        raise ValidationError(
            {"induction_sessions": "A scheduled protocol needs at least one induction session."}
        )
    template.save()
    audit_record(
        actor=actor,
        action=AuditAction.PROTOCOL_UPDATE,
        obj=template,
        before=before,
        after=snapshot(template, TEMPLATE_FIELDS),
    )
    return template


@transaction.atomic
def contact_attempt_record(
    *, actor: User | None, plan: TreatmentPlan, outcome: str, note: str = ""
) -> ContactAttempt:
    """Log a call or message to a patient who is due."""
    require_location(actor, plan.patient.location)
    attempt = ContactAttempt(
        plan=plan,
        outcome=outcome,
        note=note.strip(),
        made_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    attempt.full_clean()
    attempt.save()
    audit_record(
        actor=actor,
        action=AuditAction.CONTACT_ATTEMPT_RECORD,
        obj=attempt,
        location=plan.patient.location,
        after={"plan": plan.pk, "outcome": outcome, "note": attempt.note},
    )
    return attempt
