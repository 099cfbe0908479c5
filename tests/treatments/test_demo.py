"""The demo clinic: every plan phase, a busy week, idempotent; the scale seeder."""

from __future__ import annotations

import io

import pytest
from django.utils import timezone

from clinic import demo as clinic_demo
from treatments import demo
from treatments.models import (
    Patient,
    PlanPhase,
    Session,
    SessionChange,
    SessionStatus,
    TreatmentPlan,
    WorkingHours,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinic(time_machine):
    # The demo is laid out around "today": runs compared with each other must see the same
    # day (a session started at 23:59 on 31 December otherwise seeds again in the new year).
    time_machine.move_to(timezone.now(), tick=False)
    return clinic_demo.seed(stdout=io.StringIO())


def test_the_demo_has_every_phase_a_busy_week_and_running_it_twice_changes_nothing(clinic):
    locations, users = clinic
    demo.seed(locations=locations, users=users, stdout=io.StringIO())
    today = timezone.localdate()
    plans = list(TreatmentPlan.objects.all())
    phases = {p.phase for p in plans}
    assert phases == {PlanPhase.INDUCTION, PlanPhase.MAINTENANCE, PlanPhase.PER_PROCEDURE}
    states = {p.due_state(today) for p in plans}
    assert states == {"not_due", "due", "overdue"}
    assert TreatmentPlan.objects.due(today).exists()
    statuses = set(Session.objects.values_list("status", flat=True))
    assert {SessionStatus.COMPLETED, SessionStatus.BOOKED} <= statuses
    assert Session.objects.on_day(today).exists()
    assert WorkingHours.objects.filter(practitioner=users["practitioner"]).count() == 5
    counts = (Patient.objects.count(), Session.objects.count(), TreatmentPlan.objects.count())
    demo.seed(locations=locations, users=users, stdout=io.StringIO())
    assert (Patient.objects.count(), Session.objects.count(), TreatmentPlan.objects.count()) == counts


def test_the_demo_books_nobody_twice(clinic):
    locations, users = clinic
    demo.seed(locations=locations, users=users, stdout=io.StringIO())
    for s in Session.objects.occupying():
        clash = Session.objects.overlapping(s.starts_at, s.ends_at).exclude(pk=s.pk)
        assert not clash.filter(practitioner=s.practitioner_id).exists(), s
        assert not clash.filter(patient=s.patient_id).exists(), s
        if s.room_id:
            assert not clash.filter(room=s.room_id).exists(), s


def test_seed_scale_adds_patients_with_about_ten_sessions_each(clinic):
    locations, users = clinic
    demo.seed(locations=locations, users=users, stdout=io.StringIO())
    before = Patient.objects.count(), Session.objects.count()
    demo.seed_scale(n=300, locations=locations, users=users, stdout=io.StringIO())
    added_patients = Patient.objects.count() - before[0]
    added_sessions = Session.objects.count() - before[1]
    assert added_patients == 300
    assert 7 * 300 <= added_sessions <= 13 * 300
    plan = TreatmentPlan.objects.exclude(completed_sessions=0).order_by("-pk").first()
    stored = (plan.next_due_on, plan.completed_sessions)
    plan.refresh_progress()
    assert (plan.next_due_on, plan.completed_sessions) == stored  # bulk progress matches the rule
    assert Patient.objects.search(Patient.objects.last().last_name[:4]).exists()


def test_every_demo_session_names_who_booked_it_as_its_history_does(clinic):
    """The session page's "Booked by" and its History's "Booked … by" agree (both the front desk)."""
    locations, users = clinic
    demo.seed(locations=locations, users=users, stdout=io.StringIO())
    desk = users["frontdesk"]
    assert not Session.objects.filter(booked_by__isnull=True).exists()
    assert set(Session.objects.values_list("booked_by", flat=True)) == {desk.pk}
    booked = SessionChange.objects.filter(kind=SessionChange.Kind.BOOKED)
    assert set(booked.values_list("changed_by", flat=True)) == {desk.pk}


def test_a_second_run_fills_in_who_booked_sessions_seeded_without_it(clinic):
    locations, users = clinic
    demo.seed(locations=locations, users=users, stdout=io.StringIO())
    Session.objects.update(booked_by=None)  # as seeded before booked_by was set
    counts = Session.objects.count(), SessionChange.objects.count()

    demo.seed(locations=locations, users=users, stdout=io.StringIO())

    assert not Session.objects.filter(booked_by__isnull=True).exists()
    assert (Session.objects.count(), SessionChange.objects.count()) == counts


def test_scale_sessions_name_who_booked_them(clinic):
    locations, users = clinic
    demo.seed_scale(n=20, locations=locations, users=users, stdout=io.StringIO())
    assert Session.objects.exists()
    assert set(Session.objects.values_list("booked_by", flat=True)) == {users["frontdesk"].pk}
