"""Plan phases and next due dates, computed from completed sessions (time travel)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from tests.treatments.factories import PlanFactory, SessionFactory, at, template
from treatments.models import PlanPhase, SessionStatus, TreatmentPlan

pytestmark = pytest.mark.django_db

D = dt.date


def skin_plan(**kw) -> TreatmentPlan:
    return PlanFactory.build(template=template("skin-quality"), started_on=D(2026, 1, 5), **kw)


class TestProgressFor:
    def test_a_new_plan_is_in_induction_1_of_3_and_due_on_its_start(self):
        p = skin_plan().progress_for([])
        assert (p.phase, p.label, p.next_due_on) == (PlanPhase.INDUCTION, "Induction 1 of 3", D(2026, 1, 5))

    def test_each_induction_session_is_due_4_weeks_after_the_last(self):
        p = skin_plan().progress_for([D(2026, 1, 5)])
        assert p.label == "Induction 2 of 3"
        assert p.next_due_on == D(2026, 2, 2)
        p = skin_plan().progress_for([D(2026, 1, 5), D(2026, 2, 4)])
        assert p.label == "Induction 3 of 3" and p.next_due_on == D(2026, 3, 4)

    def test_after_the_third_session_it_moves_to_maintenance_every_3_to_4_months(self):
        p = skin_plan().progress_for([D(2026, 3, 4), D(2026, 1, 5), D(2026, 2, 4)])  # any order
        assert p.phase == PlanPhase.MAINTENANCE and p.label == "Maintenance"
        assert p.next_due_on == D(2026, 3, 4) + dt.timedelta(days=90)
        assert p.due_by == D(2026, 3, 4) + dt.timedelta(days=120)

    def test_maintenance_sessions_keep_moving_the_due_date(self):
        done = [D(2026, 1, 5), D(2026, 2, 2), D(2026, 3, 2), D(2026, 6, 15)]
        p = skin_plan().progress_for(done)
        assert p.phase == PlanPhase.MAINTENANCE and p.next_due_on == D(2026, 9, 13)

    def test_hair_has_monthly_induction_sessions_then_2_to_3_monthly_maintenance(self):
        plan = PlanFactory.build(template=template("hair"), started_on=D(2026, 1, 1), induction_sessions=5)
        months = [D(2026, m, 1) for m in range(1, 5)]
        assert plan.progress_for(months).label == "Induction 5 of 5"
        p = plan.progress_for([*months, D(2026, 5, 1)])
        assert p.phase == PlanPhase.MAINTENANCE
        assert (p.next_due_on, p.due_by) == (D(2026, 6, 30), D(2026, 7, 30))

    def test_post_procedure_has_no_schedule_of_its_own(self):
        plan = PlanFactory.build(template=template("post-procedure"))
        p = plan.progress_for([D(2026, 1, 1)])
        assert p.phase == PlanPhase.PER_PROCEDURE and p.next_due_on is None


class TestDueState:
    def test_not_due_then_due_then_overdue_as_days_pass(self):
        plan = skin_plan()
        plan.next_due_on, plan.due_by = D(2026, 2, 2), D(2026, 2, 9)
        assert plan.due_state(D(2026, 2, 1)) == "not_due"
        assert plan.due_state(D(2026, 2, 2)) == "due"
        assert plan.due_state(D(2026, 2, 9)) == "due"
        assert plan.due_state(D(2026, 2, 10)) == "overdue"

    def test_a_stopped_plan_is_never_due(self):
        plan = skin_plan(status=TreatmentPlan.Status.STOPPED)
        plan.next_due_on = D(2026, 1, 1)
        assert plan.due_state(D(2026, 6, 1)) == "not_due"


class TestRefreshProgressFromSessions:
    def test_only_completed_sessions_count(self, location):
        with time_machine.travel(at(D(2026, 1, 5), 9), tick=False):
            plan = PlanFactory(patient__location=location)
        for day, status in [
            (D(2026, 1, 5), SessionStatus.COMPLETED),
            (D(2026, 2, 2), SessionStatus.CANCELLED),
            (D(2026, 2, 3), SessionStatus.NO_SHOW),
            (D(2026, 2, 4), SessionStatus.COMPLETED),
        ]:
            SessionFactory(patient=plan.patient, plan=plan, starts_at=at(day, 11), status=status)
        plan.refresh_progress()
        assert plan.completed_sessions == 2
        assert plan.progress.label == "Induction 3 of 3"
        assert plan.next_due_on == D(2026, 3, 4)

    def test_the_plan_moves_to_maintenance_by_itself_and_appears_on_the_due_list(self, location):
        with time_machine.travel(at(D(2026, 1, 5), 9), tick=False):
            plan = PlanFactory(patient__location=location)
        for day in (D(2026, 1, 5), D(2026, 2, 2), D(2026, 3, 2)):
            SessionFactory(
                patient=plan.patient, plan=plan, starts_at=at(day, 11), status=SessionStatus.COMPLETED
            )
        plan.refresh_progress()
        assert plan.phase == PlanPhase.MAINTENANCE
        assert not TreatmentPlan.objects.due(D(2026, 5, 30)).exists()
        assert list(TreatmentPlan.objects.due(D(2026, 5, 31))) == [plan]
        plan.refresh_from_db()
        assert plan.due_state(D(2026, 6, 29)) == "due"
        assert plan.due_state(D(2026, 7, 1)) == "overdue"

    def test_a_booked_session_takes_the_plan_off_the_due_list(self, location):
        with time_machine.travel(at(D(2026, 1, 5), 9), tick=False):
            plan = PlanFactory(patient__location=location)
        assert list(TreatmentPlan.objects.due(D(2026, 1, 5))) == [plan]
        SessionFactory(patient=plan.patient, plan=plan, starts_at=at(D(2026, 1, 7), 10))
        assert not TreatmentPlan.objects.due(D(2026, 1, 5)).exists()
