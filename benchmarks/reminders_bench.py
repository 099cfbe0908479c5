"""Reminders benchmark (issue 8): the daily patient-reminder sweep over 100 000 patients.

Run from the repository root (PostgreSQL must be reachable):

    .venv/bin/python benchmarks/reminders_bench.py
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_x .venv/bin/python benchmarks/reminders_bench.py

It creates the database named in DATABASE_URL if missing (default ``bench_reminders``, never
the site's own), migrates it and bulk-loads patients, each with one treatment plan whose
next session is due on a date spread over the past two months and the next four (as a
clinic's maintenance plans are), 80 % agreeing to reminders (email or SMS), 10 % of plans
stopped and 10 % of the due ones already booked, plus booked sessions over the next two
weeks. Then, at 10 000 and again at 100 000 patients, it runs the daily sweep (maintenance
reminders and appointment reminders, as the beat runs them), and reports:

- the time to find and write the due reminders (target ≤ 10 s at 100 000 patients);
- the number of SQL statements, which must be the same at 10 000 and 100 000;
- a second run the same day: nothing new written (deterministic dedupe keys).

Exits non-zero when a target is missed. Loaded data is kept; later runs reuse it.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sys
import time

from _setup import configure, ensure_database  # benchmarks/ is on sys.path as a script

configure("reminders")

STEPS = (10_000, 100_000)
GOAL_SECONDS = 10.0
BATCH = 10_000


def base_data():
    from django.contrib.auth import get_user_model

    from clinic.models import Location
    from treatments.models import ProtocolTemplate

    locations = [
        Location.objects.get_or_create(
            code=code,
            defaults={"name": name, "phone": phone, "address": address, "email": f"{code}@clinic.example"},
        )[0]
        for code, name, phone, address in (
            ("bench-mbl", "Bench Marylebone", "+442079460000", "12 Harley Street, London"),
            ("bench-mcr", "Bench Manchester", "+441614960000", "1 King Street, Manchester"),
        )
    ]
    practitioner, _ = get_user_model().objects.get_or_create(username="bench_practitioner")
    template = ProtocolTemplate.objects.get(key="skin-quality")
    return locations, practitioner, template


def top_up(target: int, locations, practitioner, template, today: dt.date) -> None:
    """Patients with one plan each (and some bookings) until ``target`` patients exist."""
    from django.utils import timezone

    from clinic.phones import phone_fictional
    from treatments.models import Patient, Session, SessionStatus, TreatmentPlan

    have = Patient.objects.filter(location__in=locations).count()
    if have >= target:
        return
    rng = random.Random(target)
    t0 = time.perf_counter()
    tz = timezone.get_current_timezone()
    while have < target:
        n = min(BATCH, target - have)
        patients = []
        for i in range(have, have + n):
            channel = "email" if i % 3 else "sms"
            p = Patient(
                location=locations[i % 2],
                first_name=f"Bench{i}",
                last_name=f"Patient{i}",
                date_of_birth=dt.date(1960 + i % 40, 1 + i % 12, 1 + i % 28),
                phone=phone_fictional(i),
                email=f"patient{i}@example.com",
                reminder_channel=channel,
                reminder_opt_in=rng.random() < 0.8,
            )
            p.refresh_keys()
            patients.append(p)
        Patient.objects.bulk_create(patients, batch_size=5000)
        plans = []
        for p in patients:
            due = today + dt.timedelta(days=rng.randrange(-60, 121))
            plans.append(
                TreatmentPlan(
                    patient=p,
                    template=template,
                    treatment_type=template.treatment_type,
                    per_procedure=False,
                    induction_sessions=template.induction_sessions,
                    induction_interval_days=template.induction_interval_days,
                    maintenance_min_days=template.maintenance_min_days,
                    maintenance_max_days=template.maintenance_max_days,
                    status=TreatmentPlan.Status.STOPPED
                    if rng.random() < 0.1
                    else TreatmentPlan.Status.ACTIVE,
                    started_on=due - dt.timedelta(days=200),
                    completed_sessions=3,
                    last_completed_on=due - dt.timedelta(days=90),
                    next_due_on=due,
                    due_by=due + dt.timedelta(days=30),
                )
            )
        TreatmentPlan.objects.bulk_create(plans, batch_size=5000)
        sessions = []
        for plan in plans:
            soon = (plan.next_due_on - today).days <= 10
            if soon and rng.random() < 0.1:  # booked already: no maintenance reminder
                start = dt.datetime.combine(plan.next_due_on + dt.timedelta(days=3), dt.time(10), tz)
            elif rng.random() < 0.02:  # an appointment in the next two weeks
                start = dt.datetime.combine(
                    today + dt.timedelta(days=rng.randrange(0, 14)),
                    dt.time(9 + rng.randrange(9), 15 * rng.randrange(4)),
                    tz,
                )
            else:
                continue
            sessions.append(
                Session(
                    patient=plan.patient,
                    practitioner=practitioner,
                    location=plan.patient.location,
                    plan=plan,
                    treatment_type=plan.treatment_type,
                    starts_at=start,
                    duration_minutes=45,
                    ends_at=start + dt.timedelta(minutes=45),
                    status=SessionStatus.BOOKED,
                )
            )
        Session.objects.bulk_create(sessions, batch_size=5000)
        have += n
    print(f"  loaded up to {target:,} patients in {time.perf_counter() - t0:.1f}s")


def daily_sweep(now: dt.datetime) -> int:
    from treatments.reminders import appointment_reminders_sweep, maintenance_reminders_sweep

    return maintenance_reminders_sweep(now=now) + appointment_reminders_sweep(now=now)


def measure(now: dt.datetime) -> tuple[float, int, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from clinic.models import Notification
    from treatments.reminders import PATIENT_KINDS as kinds

    Notification.objects.filter(kind__in=kinds).delete()  # each step starts from an empty outbox
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    with CaptureQueriesContext(connection) as ctx:
        t0 = time.perf_counter()
        daily_sweep(now)
        seconds = time.perf_counter() - t0
    written = Notification.objects.filter(kind__in=kinds).count()
    daily_sweep(now)  # the same day again: nothing new
    again = Notification.objects.filter(kind__in=kinds).count() - written
    return seconds, len(ctx.captured_queries), written, again


def main() -> int:
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from treatments.models import Patient, Session, TreatmentPlan

    call_command("migrate", verbosity=0)
    today = timezone.localdate()
    # The beat runs the maintenance sweep at 09:30 clinic time.
    now = dt.datetime.combine(today, dt.time(9, 30), timezone.get_current_timezone())
    locations, practitioner, template = base_data()
    if Patient.objects.count() > STEPS[0]:
        # A previous run left more patients than the first step: start from none, so each
        # step really measures its own size (the query count must not grow between them).
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE treatments_patient, clinic_notification, clinic_alertmark CASCADE")
        print("cleared the previous run's patients and notifications")
    results = []
    for target in STEPS:
        print(f"\n{target:,} patients")
        top_up(target, locations, practitioner, template, today)
        patients = Patient.objects.filter(location__in=locations).count()
        plans = TreatmentPlan.objects.filter(patient__location__in=locations).count()
        sessions = Session.objects.filter(location__in=locations).count()
        seconds, queries, written, again = measure(now)
        results.append((target, seconds, queries, written, again))
        print(f"  data: {patients:,} patients, {plans:,} plans, {sessions:,} sessions")
        print(
            f"  daily sweep: {seconds:.2f}s, {queries} SQL statements, {written:,} reminders written; "
            f"second run the same day wrote {again}"
        )
    failures = []
    (_, _, q_small, _, _), (big, t_big, q_big, _, _) = results[0], results[-1]
    if q_small != q_big:
        failures.append(f"query count grew: {q_small} → {q_big}")
    if t_big > GOAL_SECONDS:
        failures.append(f"{big:,} patients took {t_big:.1f}s > {GOAL_SECONDS:.0f}s")
    if any(r[4] for r in results):
        failures.append("a second run wrote reminders again")
    print()
    if failures:
        print("MISSED: " + "; ".join(failures))
        return 1
    print(
        f"All targets met: {t_big:.2f}s at {big:,} patients (≤ {GOAL_SECONDS:.0f}s), "
        f"{q_big} SQL statements at every size, idempotent."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
