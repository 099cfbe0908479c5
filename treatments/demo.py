"""Demo data for the treatments app, called by `manage.py seed_demo`. Must be idempotent.

``seed`` builds a believable clinic: rooms, working hours, patients at every plan phase
(some due, some overdue, some booked), a busy week of sessions with no-shows and
cancellations. It writes rows directly (history in the past cannot go through the booking
services, which refuse past times) and is skipped when demo patients already exist.

``seed_scale`` adds n patients with proportional history (about ten sessions each) with
``bulk_create``, for load and benchmark runs. Its sessions may overlap each other: it is
volume data, not a bookable schedule.
"""

from __future__ import annotations

import datetime as dt
import random

from django.db import transaction
from django.utils import timezone

from clinic.phones import phone_fictional
from treatments.demo_clinical import seed_clinical
from treatments.models import (
    ContactAttempt,
    Patient,
    Room,
    Session,
    SessionChange,
    SessionStatus,
    TreatmentPlan,
    TreatmentType,
    WorkingHours,
)
from treatments.protocols import ensure_default_templates

ROOMS = {"marylebone": ["Room 1", "Room 2", "Treatment suite"], "manchester": ["Room A", "Room B"]}

# username, location, {weekday: (start, end)}
HOURS = [
    ("practitioner", "marylebone", dict.fromkeys(range(5), ("09:00", "17:30"))),
    ("nurse", "marylebone", {0: ("10:00", "18:00"), 1: ("12:00", "20:00"), 2: ("10:00", "18:00"),
                             3: ("12:00", "20:00"), 4: ("10:00", "18:00"), 5: ("09:00", "14:00"),
                             6: ("10:00", "16:00")}),
    ("practitioner_mcr", "manchester", dict.fromkeys(range(6), ("09:00", "17:00"))),
]  # fmt: skip

FIRST = [
    "Amelia", "Olivia", "Isla", "Ava", "Mia", "Sophia", "Grace", "Lily", "Freya", "Emily",
    "Ella", "Poppy", "Charlotte", "Evie", "Harper", "Aisha", "Priya", "Zara", "Chloe", "Hannah",
    "James", "Oliver", "Noah", "Leo", "Arthur", "Omar", "Daniel", "Thomas", "Ethan", "Samuel",
]  # fmt: skip
LAST = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Wood", "Jackson", "Clarke", "Khan", "Hughes", "Edwards", "Lewis", "Harris", "Martin",
    "Cooper", "King", "Lee", "Ahmed", "Morgan", "Bell", "Murphy", "Kelly", "Ward",
]  # fmt: skip

SLOTS = [(9, 30), (10, 30), (11, 30), (13, 30), (14, 30), (15, 30), (16, 30)]


def at_local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=timezone.get_current_timezone())


def _time(text: str) -> dt.time:
    return dt.time.fromisoformat(text)


def demo_session(
    patient, practitioner, room, start, *, status, treatment_type, booked_by=None, plan=None, reason=""
) -> Session:
    session = Session(
        patient=patient,
        practitioner=practitioner,
        booked_by=booked_by,
        location=patient.location,
        room=room,
        plan=plan,
        treatment_type=treatment_type,
        starts_at=start,
        duration_minutes=45,
        status=status,
        cancel_reason=reason,
        created_at=min(start, timezone.now()) - dt.timedelta(days=7),
    )
    session.ends_at = session.compute_end()
    if status in (SessionStatus.ARRIVED, SessionStatus.IN_TREATMENT, SessionStatus.COMPLETED):
        session.arrived_at = start - dt.timedelta(minutes=5)
    if status in (SessionStatus.IN_TREATMENT, SessionStatus.COMPLETED):
        session.started_at = start
    if status == SessionStatus.COMPLETED:
        session.completed_at = session.ends_at
    if status == SessionStatus.CANCELLED:
        session.cancelled_at = start - dt.timedelta(days=1)
    return session


def _setup(locations, users) -> dict[str, list[Room]]:
    rooms = {}
    for code, names in ROOMS.items():
        rooms[code] = [Room.objects.get_or_create(location=locations[code], name=n)[0] for n in names]
    for username, code, days in HOURS:
        for weekday, (start, end) in days.items():
            WorkingHours.objects.get_or_create(
                practitioner=users[username],
                location=locations[code],
                weekday=weekday,
                start_time=_time(start),
                defaults={"end_time": _time(end)},
            )
    return rooms


@transaction.atomic
def seed(*, locations, users, stdout) -> None:
    rooms = _setup(locations, users)
    if Patient.objects.filter(location__in=locations.values()).exists():
        _backfill_booked_by(locations=locations, desk=users["frontdesk"])
        stdout.write("  treatments: demo patients already exist; rooms and working hours checked")
        seed_clinical(locations=locations, users=users, stdout=stdout)
        return
    rng = random.Random(5)
    today = timezone.localdate()
    desk, prac, nurse = users["frontdesk"], users["practitioner"], users["nurse"]
    templates = ensure_default_templates()

    def patient(code: str, i: int) -> Patient:
        first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
        born = dt.date(1960 + (i * 3) % 40, 1 + i % 12, 1 + (i * 5) % 28)
        p = Patient(
            location=locations[code],
            first_name=first,
            last_name=last,
            date_of_birth=born,
            phone=phone_fictional(i),
            email=f"{first.lower()}.{last.lower()}{i}@example.com",
            reminder_channel="sms" if i % 3 else "email",
            reminder_opt_in=i % 4 != 0,
            front_desk_notes="Prefers late afternoons." if i % 5 == 0 else "",
            created_by=desk,
            created_at=timezone.now() - dt.timedelta(days=400 - i),
        )
        p.save()
        return p

    sessions: list[Session] = []

    # --- Patients at every plan phase (history in the past, progress computed) ---------------
    # (template, induction sessions, completed dates as days ago, booked in days or None)
    scenarios = [
        ("skin-quality", 3, [], None),  # induction 1 of 3, due today
        ("skin-quality", 3, [14], None),  # induction 2 of 3, due in two weeks
        ("skin-quality", 3, [90, 62], None),  # induction 3 of 3, overdue
        ("skin-quality", 3, [60, 31], 2),  # induction 3 of 3, booked
        ("skin-quality", 3, [200, 172, 144, 40], None),  # maintenance, not due
        ("skin-quality", 3, [260, 232, 204, 100], None),  # maintenance, due
        ("skin-quality", 3, [330, 302, 274, 130], None),  # maintenance, overdue
        ("skin-quality", 3, [300, 272, 244, 110], 3),  # maintenance, booked
        ("hair", 5, [95, 65, 35], None),  # induction 4 of 5, overdue
        ("hair", 4, [70, 40, 10], None),  # induction 4 of 4, not due
        ("hair", 4, [250, 220, 190, 160, 75], None),  # maintenance, due
        ("hair", 6, [180, 150, 120, 90, 60, 30], 1),  # maintenance soon, booked
        ("post-procedure", 0, [45], None),  # with each procedure
        # The standard skin-quality injection session, in the chair now: induction 2 of 3,
        # consent signed and screening confirmed (demo_clinical), ready to chart.
        ("skin-quality", 3, [28], "now"),
    ]
    plans = []
    for i, (key, n, days_ago, booked_in) in enumerate(scenarios):
        p = patient("marylebone", i)
        t = templates[key]
        first_day = today - dt.timedelta(days=max(days_ago, default=0))
        plan = TreatmentPlan.objects.create(
            patient=p,
            template=t,
            treatment_type=t.treatment_type,
            per_procedure=t.per_procedure,
            induction_sessions=n,
            induction_interval_days=t.induction_interval_days,
            maintenance_min_days=t.maintenance_min_days,
            maintenance_max_days=t.maintenance_max_days,
            started_on=first_day,
            created_by=prac,
        )
        who = prac if i % 2 else nurse
        for k, ago in enumerate(sorted(days_ago, reverse=True)):
            start = at_local(today - dt.timedelta(days=ago), *SLOTS[k % len(SLOTS)])
            room = rooms["marylebone"][2]
            sessions.append(
                demo_session(
                    p,
                    who,
                    room,
                    start,
                    status=SessionStatus.COMPLETED,
                    treatment_type=t.treatment_type,
                    booked_by=desk,
                    plan=plan,
                )
            )
        if booked_in == "now":
            # Before the day's first slot, so it takes nobody's time or room.
            sessions.append(
                demo_session(
                    p,
                    prac,
                    rooms["marylebone"][2],
                    at_local(today, 8, 15),
                    status=SessionStatus.ARRIVED,
                    treatment_type=t.treatment_type,
                    booked_by=desk,
                    plan=plan,
                )
            )
        elif booked_in:
            start = at_local(today + dt.timedelta(days=booked_in), 17, 0)
            sessions.append(
                demo_session(
                    p,
                    nurse,
                    None,
                    start,
                    status=SessionStatus.BOOKED,
                    treatment_type=t.treatment_type,
                    booked_by=desk,
                    plan=plan,
                )
            )
        plans.append(plan)

    # --- A busy week: walk-in and procedure patients on two practitioners -------------------
    walk_ins = [patient("marylebone", 20 + i) for i in range(14)]
    monday = today - dt.timedelta(days=today.weekday())
    now = timezone.now()
    types = [
        TreatmentType.POST_PROCEDURE,
        TreatmentType.SCAR,
        TreatmentType.OTHER,
        TreatmentType.POST_PROCEDURE,
    ]
    counter = 0
    for offset in range(7):
        day = monday + dt.timedelta(days=offset)
        for who, room, weekdays in (
            (prac, rooms["marylebone"][0], range(5)),
            (nurse, rooms["marylebone"][1], range(7)),
        ):
            if day.weekday() not in weekdays:
                continue
            hours = WorkingHours.objects.filter(practitioner=who, weekday=day.weekday()).first()
            for hour, minute in SLOTS:
                if hours is None or not (hours.start_time <= dt.time(hour, minute) <= hours.end_time):
                    continue
                if rng.random() < 0.35:
                    continue  # free slots to click on
                start = at_local(day, hour, minute)
                counter += 1
                p = walk_ins[counter % len(walk_ins)]
                if start + dt.timedelta(minutes=45) < now:
                    roll = rng.random()
                    status = (
                        SessionStatus.NO_SHOW
                        if roll < 0.08
                        else SessionStatus.CANCELLED
                        if roll < 0.15
                        else SessionStatus.COMPLETED
                    )
                elif start < now:
                    status = SessionStatus.IN_TREATMENT
                else:
                    status = SessionStatus.CANCELLED if rng.random() < 0.07 else SessionStatus.BOOKED
                reason = "Patient unwell" if status == SessionStatus.CANCELLED else ""
                sessions.append(
                    demo_session(
                        p,
                        who,
                        room,
                        start,
                        status=status,
                        treatment_type=types[counter % 4],
                        booked_by=desk,
                        reason=reason,
                    )
                )

    # Walk-ins are shared round-robin and plan bookings sit among the week's slots: drop
    # any session that would double-book a patient, a practitioner or a room.
    kept: list[Session] = []
    busy: dict[tuple, list[tuple[dt.datetime, dt.datetime]]] = {}
    for s in sorted(sessions, key=lambda s: (s.plan_id is None, s.starts_at)):  # plans first
        if s.status not in (SessionStatus.CANCELLED, SessionStatus.NO_SHOW):
            keys = [("patient", s.patient.pk), ("practitioner", s.practitioner.pk)]
            keys += [("room", s.room.pk)] if s.room else []
            if any(a < s.ends_at and s.starts_at < b for k in keys for a, b in busy.get(k, [])):
                continue
            for k in keys:
                busy.setdefault(k, []).append((s.starts_at, s.ends_at))
        kept.append(s)

    # --- Manchester: a smaller day ----------------------------------------------------------
    mcr = users["practitioner_mcr"]
    for i in range(6):
        p = patient("manchester", 40 + i)
        start = at_local(today, *SLOTS[i])
        status = SessionStatus.COMPLETED if start + dt.timedelta(minutes=45) < now else SessionStatus.BOOKED
        kept.append(
            demo_session(
                p,
                mcr,
                rooms["manchester"][i % 2],
                start,
                status=status,
                treatment_type=types[i % 4],
                booked_by=desk,
            )
        )

    created = Session.objects.bulk_create(kept)
    SessionChange.objects.bulk_create(
        SessionChange(
            session=s,
            kind=SessionChange.Kind.BOOKED,
            changed_at=s.created_at,
            changed_by=desk,
            to_starts_at=s.starts_at,
            to_practitioner_id=s.practitioner_id,
            to_room_id=s.room_id,
            to_status=SessionStatus.BOOKED,
        )
        for s in created
    )
    for plan in plans:
        plan.refresh_progress()
    due = [p for p in plans if p.due_state(today) != "not_due"]
    for i, plan in enumerate(due[:3]):
        ContactAttempt.objects.create(
            plan=plan,
            outcome=[
                ContactAttempt.Outcome.LEFT_MESSAGE,
                ContactAttempt.Outcome.CALLED,
                ContactAttempt.Outcome.DECLINED,
            ][i],
            note=["Voicemail", "Will call back after holiday", "Not this month"][i],
            made_by=desk,
            made_at=timezone.now() - dt.timedelta(days=i + 1),
        )
    stdout.write(
        f"  {Patient.objects.count()} patients, {len(created)} sessions, {len(plans)} plans ({len(due)} due)"
    )
    seed_clinical(locations=locations, users=users, stdout=stdout)


def _backfill_booked_by(*, locations, desk) -> None:
    """Demo sessions seeded before ``booked_by`` was set: take it from their "booked" history row.

    Only sessions whose booking the front desk account recorded, and only where it is still
    empty, so a second run (or a real booking) is left alone.
    """
    Session.objects.filter(
        location__in=locations.values(),
        booked_by__isnull=True,
        changes__kind=SessionChange.Kind.BOOKED,
        changes__changed_by=desk,
    ).update(booked_by=desk)


def seed_scale(*, n: int, locations, users, stdout) -> None:
    """Add n patients with about ten sessions each (bulk), for load tests and benchmarks."""
    if n <= 0:
        return
    rng = random.Random(n)
    today = timezone.localdate()
    now = timezone.now()
    desk = users["frontdesk"]
    codes = sorted(locations)
    staff_at = {
        "marylebone": [users["practitioner"], users["nurse"]],
        "manchester": [users["practitioner_mcr"]],
    }
    rooms = {code: list(Room.objects.filter(location=locations[code])) for code in codes}
    templates = [t for t in ensure_default_templates().values() if not t.per_procedure]
    start_index = Patient.objects.count()
    batch = 2000
    total_sessions = 0
    for first in range(0, n, batch):
        patients = []
        for i in range(first, min(n, first + batch)):
            k = start_index + i
            code = "manchester" if k % 5 == 0 else "marylebone"
            p = Patient(
                location=locations[code],
                first_name=rng.choice(FIRST),
                last_name=f"{rng.choice(LAST)}{'' if k % 3 else '-' + rng.choice(LAST)}",
                date_of_birth=dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 55)),
                phone=phone_fictional(k),
                email=f"scale{k}@example.com",
                reminder_opt_in=rng.random() < 0.7,
                created_at=now - dt.timedelta(days=rng.randrange(0, 2000)),
            )
            p.refresh_keys()
            patients.append(p)
        with transaction.atomic():
            Patient.objects.bulk_create(patients)
            plans, sessions = [], []
            for p in patients:
                code = "manchester" if p.location_id == locations["manchester"].pk else "marylebone"
                who = staff_at[code]
                if rng.random() < 0.5 and templates:
                    t = rng.choice(templates)
                    end = today - dt.timedelta(days=rng.randrange(0, 240))
                    count = rng.randrange(1, 10)
                    dates = [end]
                    for j in range(1, count):
                        gap = (
                            t.induction_interval_days
                            if count - j <= t.induction_sessions
                            else t.maintenance_min_days
                        )
                        dates.append(dates[-1] - dt.timedelta(days=gap + rng.randrange(0, 10)))
                    plan = TreatmentPlan(
                        patient=p,
                        template=t,
                        treatment_type=t.treatment_type,
                        induction_sessions=t.induction_sessions,
                        induction_interval_days=t.induction_interval_days,
                        maintenance_min_days=t.maintenance_min_days,
                        maintenance_max_days=t.maintenance_max_days,
                        started_on=min(dates),
                    )
                    progress = plan.progress_for(dates)
                    plan.completed_sessions = len(dates)
                    plan.last_completed_on = max(dates)
                    plan.next_due_on, plan.due_by = progress.next_due_on, progress.due_by
                    plans.append((plan, dates))
                else:
                    for _ in range(rng.randrange(10, 21)):
                        day = today - dt.timedelta(days=rng.randrange(-20, 1800))
                        start = at_local(day, rng.randrange(9, 18), rng.choice((0, 15, 30, 45)))
                        status = (
                            SessionStatus.BOOKED
                            if start > now
                            else rng.choices(
                                [SessionStatus.COMPLETED, SessionStatus.NO_SHOW, SessionStatus.CANCELLED],
                                [90, 4, 6],
                            )[0]
                        )
                        reason = "Rescheduled by patient" if status == SessionStatus.CANCELLED else ""
                        room = rng.choice(rooms[code] or [None])
                        kind = rng.choice(TreatmentType.values)
                        sessions.append(
                            demo_session(
                                p,
                                rng.choice(who),
                                room,
                                start,
                                status=status,
                                treatment_type=kind,
                                booked_by=desk,
                                reason=reason,
                            )
                        )
            TreatmentPlan.objects.bulk_create([plan for plan, _ in plans])
            for plan, dates in plans:
                code = (
                    "manchester" if plan.patient.location_id == locations["manchester"].pk else "marylebone"
                )
                for day in dates:
                    start = at_local(day, rng.randrange(9, 18), rng.choice((0, 15, 30, 45)))
                    room = rng.choice(rooms[code] or [None])
                    done = SessionStatus.COMPLETED
                    sessions.append(
                        demo_session(
                            plan.patient,
                            rng.choice(staff_at[code]),
                            room,
                            start,
                            status=done,
                            treatment_type=plan.treatment_type,
                            booked_by=desk,
                            plan=plan,
                        )
                    )
            Session.objects.bulk_create(sessions, batch_size=5000)
            total_sessions += len(sessions)
    stdout.write(f"  treatments: {n} more patients and {total_sessions} sessions")
