"""A maintenance plan coming due, with the practitioner who treated the patient last
(for the patient-booking tests, unit and browser)."""

from __future__ import annotations

import datetime as dt

from tests.treatments.factories import PatientFactory, PlanFactory, SessionFactory, at
from treatments import links
from treatments.models import SessionStatus, TreatmentPlan, WorkingHours

NINE, FIVE = dt.time(9, 0), dt.time(17, 0)


def weekday_hours(practitioner, location, start=NINE, end=FIVE) -> None:
    for day in range(5):
        WorkingHours.objects.get_or_create(
            practitioner=practitioner, location=location, weekday=day, start_time=start, end_time=end
        )


def due_plan(location, practitioner, due_on: dt.date, **patient) -> TreatmentPlan:
    """A plan due on ``due_on`` whose patient last saw ``practitioner`` (60 minutes)."""
    patient_row = PatientFactory(location=location, reminder_opt_in=True, reminder_channel="email", **patient)
    plan = PlanFactory(patient=patient_row, started_on=due_on - dt.timedelta(days=200))
    SessionFactory(
        patient=patient_row,
        practitioner=practitioner,
        plan=plan,
        status=SessionStatus.COMPLETED,
        starts_at=at(due_on - dt.timedelta(days=90), 10),
        duration_minutes=60,
    )
    TreatmentPlan.objects.filter(pk=plan.pk).update(next_due_on=due_on)
    plan.refresh_from_db()
    return plan


def book_path(plan: TreatmentPlan) -> str:
    token = links.book_token(plan_id=plan.pk, patient_id=plan.patient_id, due_on=plan.next_due_on)
    return f"/treatments/b/{token}/"
