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
- a second run the same day: nothing new written (deterministic dedupe keys);
- (issue 20) at 100 000 patients, the maintenance sweep against a hand-written
  ``INSERT … SELECT`` of the same rows (same columns, same dedupe keys, checked equal), both
  timed in this run, alternately, ROUNDS times each: the ratio of their medians must be
  ≤ 2 (before links were built at send time it was 7.6–8.7: a ``reverse()`` and a
  signature per row). The sweep's time includes reading the locations and rendering its
  messages; the hand-written statement gets the same messages rendered beforehand.

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
GOAL_RATIO = 2.0
ROUNDS = 5


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


# The maintenance reminders a sweep writes, written by hand: one INSERT … SELECT joining the due
# plans to the sweep's own messages (one per location, due date or "due", channel). The join
# date is the due date for "before" and the sweep's day for "due" (its messages do not
# depend on the date).
HAND_WRITTEN = """
WITH messages (location_id, on_day, channel, subject, body, html_body) AS (VALUES {values})
INSERT INTO clinic_notification (
    kind, channel, to_address, location_id, subject, body, html_body, link, regarding,
    quiet_hours, dedupe_key, due_at, status, attempts, last_error, created_at)
SELECT %(kind)s, m.channel, d.address, d.location_id, m.subject, m.body, m.html_body, '',
       'treatments.patient:' || d.patient_id, true,
       'reminder:plan:' || d.plan_id || ':' || to_char(d.next_due_on, 'YYYY-MM-DD') || ':'
           || CASE WHEN d.next_due_on <= %(today)s THEN 'due' ELSE 'before' END,
       %(due_at)s, 'pending', 0, '', %(created_at)s
FROM (
    SELECT tp.id AS plan_id, tp.next_due_on, p.id AS patient_id, p.location_id,
           CASE WHEN p.reminder_channel = 'email' THEN 'email' ELSE 'sms' END AS channel,
           CASE WHEN p.reminder_channel = 'email' THEN trim(p.email) ELSE trim(p.phone) END AS address
    FROM treatments_treatmentplan tp
    JOIN treatments_patient p ON p.id = tp.patient_id
    WHERE tp.status = 'active' AND p.reminder_opt_in AND p.restricted_at IS NULL
      AND tp.next_due_on BETWEEN %(first_day)s AND %(last_day)s
      AND NOT EXISTS (SELECT 1 FROM treatments_session s
                      WHERE s.plan_id = tp.id AND s.status = ANY(%(upcoming)s))
) d
JOIN messages m ON m.location_id = d.location_id AND m.channel = d.channel
               AND m.on_day = GREATEST(d.next_due_on, %(today)s)
WHERE d.address <> ''
ON CONFLICT (dedupe_key) DO NOTHING
"""


def hand_written_insert(now: dt.datetime) -> tuple[int, float]:
    """The same rows as ``maintenance_reminders_sweep(now=now)``, by hand.
    The messages are rendered before the clock starts (the sweep renders them in its time);
    returns the rows written and the statement's seconds."""
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from clinic.models import Location
    from clinic.notifications import NotificationKind, outside_quiet_hours
    from treatments.models.sessions import UPCOMING
    from treatments.reminders import DUE_CATCH_UP_DAYS, maintenance_messages

    today = timezone.localdate(now)
    locations = list(Location.objects.values("pk", "name", "address", "phone", "email"))
    messages = maintenance_messages(today=today, locations=locations)
    rows, params = [], {}
    for i, ((location_id, _stage, due_on, channel), (subject, text, html)) in enumerate(messages.items()):
        rows.append(f"(%(l{i})s, %(d{i})s::date, %(c{i})s, %(s{i})s, %(b{i})s, %(h{i})s)")
        params |= {f"l{i}": location_id, f"d{i}": due_on or today, f"c{i}": channel}
        params |= {f"s{i}": subject, f"b{i}": text, f"h{i}": html}
    params |= {
        "kind": NotificationKind.REMINDER_MAINTENANCE.value,
        "today": today,
        "first_day": today - dt.timedelta(days=DUE_CATCH_UP_DAYS),
        "last_day": today + dt.timedelta(days=settings.MAINTENANCE_REMINDER_DAYS_BEFORE),
        "upcoming": [str(status) for status in UPCOMING],
        "due_at": outside_quiet_hours(now),
    }
    sql = HAND_WRITTEN.format(values=", ".join(rows))
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        params["created_at"] = timezone.now()
        cursor.execute(sql, params)
        written = cursor.rowcount
    return written, time.perf_counter() - t0


COMPARED = ("dedupe_key", "kind", "channel", "to_address", "location_id", "subject", "body", "html_body")
COMPARED += ("link", "regarding", "quiet_hours", "due_at", "status", "attempts", "last_error")


def maintenance_rows() -> set[tuple]:
    from clinic.models import Notification
    from clinic.notifications import NotificationKind

    return set(Notification.objects.filter(kind=NotificationKind.REMINDER_MAINTENANCE).values_list(*COMPARED))


def compare_with_hand_written(now: dt.datetime) -> tuple[float, float, int, bool, list[str]]:
    """Median seconds of the sweep and of the hand-written statement (alternating, ROUNDS
    each, from an empty outbox each time), rows written, whether the rows are the same."""
    import statistics

    from clinic.models import Notification
    from clinic.notifications import NotificationKind
    from treatments.reminders import maintenance_reminders_sweep

    def clear() -> None:
        Notification.objects.filter(kind=NotificationKind.REMINDER_MAINTENANCE).delete()

    sweep_times: list[float] = []
    sql_times: list[float] = []
    log: list[str] = []
    same = True
    written = 0
    for n in range(ROUNDS):
        for which in ("sweep", "sql") if n % 2 == 0 else ("sql", "sweep"):
            clear()
            if which == "sweep":
                t0 = time.perf_counter()
                written = maintenance_reminders_sweep(now=now)
                sweep_times.append(time.perf_counter() - t0)
                if n == 0:
                    sweep_rows = maintenance_rows()
            else:
                count, seconds = hand_written_insert(now)
                sql_times.append(seconds)
                if n == 0:
                    sql_rows = maintenance_rows()
                    if count != len(sql_rows):
                        same = False
        log.append(f"    round {n + 1}: sweep {sweep_times[-1]:.3f}s, INSERT … SELECT {sql_times[-1]:.3f}s")
    clear()
    same = same and sweep_rows == sql_rows and len(sweep_rows) == written
    return statistics.median(sweep_times), statistics.median(sql_times), written, same, log


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
    print(f"\nmaintenance sweep against a hand-written INSERT … SELECT at {STEPS[-1]:,} patients")
    sweep_s, sql_s, maintenance_written, same, log = compare_with_hand_written(now)
    print("\n".join(log))
    ratio = sweep_s / sql_s
    print(
        f"  median: sweep {sweep_s:.3f}s, INSERT … SELECT {sql_s:.3f}s, ratio {ratio:.2f}x "
        f"(target ≤ {GOAL_RATIO:.0f}x), {maintenance_written:,} rows, "
        + ("the same rows" if same else "NOT the same rows")
    )
    failures = []
    (_, _, q_small, _, _), (big, t_big, q_big, _, _) = results[0], results[-1]
    if q_small != q_big:
        failures.append(f"query count grew: {q_small} → {q_big}")
    if t_big > GOAL_SECONDS:
        failures.append(f"{big:,} patients took {t_big:.1f}s > {GOAL_SECONDS:.0f}s")
    if any(r[4] for r in results):
        failures.append("a second run wrote reminders again")
    if ratio > GOAL_RATIO:
        failures.append(f"the maintenance sweep took {ratio:.2f}x the hand-written INSERT … SELECT")
    if not same or not maintenance_written:
        failures.append("the sweep and the hand-written INSERT … SELECT wrote different rows")
    print()
    if failures:
        print("MISSED: " + "; ".join(failures))
        return 1
    print(
        f"All targets met: {t_big:.2f}s at {big:,} patients (≤ {GOAL_SECONDS:.0f}s), "
        f"{q_big} SQL statements at every size, idempotent; maintenance sweep {ratio:.2f}x "
        f"a hand-written INSERT … SELECT (≤ {GOAL_RATIO:.0f}x)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
