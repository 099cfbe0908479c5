"""Front-desk benchmark (issue 5): 20 000 patients and 200 000 sessions on PostgreSQL.

Run from the repository root (PostgreSQL must be reachable):

    .venv/bin/python benchmarks/front_desk_bench.py
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_frontdesk \
        .venv/bin/python benchmarks/front_desk_bench.py

It creates the database named in DATABASE_URL if missing (default ``bench_frontdesk``, never
the site's own), migrates it, loads the demo clinic and then bulk-loads patients and
sessions up to the targets once (later runs reuse them), and measures:

1. patient search (the type-ahead JSON endpoint, through Django's test client: URL routing,
   middleware, the view, the queries and JSON encoding — server time, no network):
   median and 95th percentile per kind of query, target ≤ 50 ms;
2. the day calendar, the week calendar, today's list, the due worklist and the patient list:
   their query counts must not change when more patients, sessions and due plans are added
   (and their server time is printed). The added data is rolled back at the end, so
   repeated runs measure the same database.

Exits non-zero when a target is missed.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import statistics
import sys
import time

from _setup import configure, ensure_database  # benchmarks/ is on sys.path as a script

configure("frontdesk")

PATIENTS = 20_000
SESSIONS = 200_000
RUNS = 30
SEARCH_GOAL_MS = 50.0
GROWTH_PATIENTS = 1_000


def top_up_sessions(target: int, locations, users) -> None:
    """Past completed sessions for random scale patients until ``target`` sessions exist."""
    import random

    from django.utils import timezone

    from treatments.demo import at_local, demo_session
    from treatments.models import Patient, Session, SessionStatus

    missing = target - Session.objects.count()
    if missing <= 0:
        return
    rng = random.Random(target)
    ids = list(Patient.objects.filter(location=locations["marylebone"]).values_list("pk", flat=True))
    staff = [users["practitioner"], users["nurse"]]
    today = timezone.localdate()
    patients = {p.pk: p for p in Patient.objects.filter(pk__in=rng.sample(ids, min(len(ids), missing)))}
    rows = []
    for i in range(missing):
        p = patients[list(patients)[i % len(patients)]]
        start = at_local(
            today - dt.timedelta(days=rng.randrange(1, 1800)), rng.randrange(9, 18), 15 * rng.randrange(4)
        )
        rows.append(
            demo_session(
                p, rng.choice(staff), None, start, status=SessionStatus.COMPLETED, treatment_type="other"
            )
        )
    Session.objects.bulk_create(rows, batch_size=5000)


def load():
    from django.core.management import call_command
    from django.db import connection

    from clinic import demo as clinic_demo
    from treatments import demo
    from treatments.models import Patient, Session

    call_command("migrate", verbosity=0)
    out = io.StringIO()
    locations, users = clinic_demo.seed(stdout=out)
    demo.seed(locations=locations, users=users, stdout=out)
    have = Patient.objects.count()
    if have < PATIENTS:
        t0 = time.perf_counter()
        demo.seed_scale(n=PATIENTS - have, locations=locations, users=users, stdout=out)
        print(f"loaded {PATIENTS - have:,} patients in {time.perf_counter() - t0:.1f}s")
    if Session.objects.count() < SESSIONS:
        t0 = time.perf_counter()
        top_up_sessions(SESSIONS, locations, users)
        print(f"topped sessions up to {SESSIONS:,} in {time.perf_counter() - t0:.1f}s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"data: {Patient.objects.count():,} patients, {Session.objects.count():,} sessions")
    return locations, users


def timed_get(client, url: str, params: dict | None = None, runs: int = RUNS) -> tuple[float, float, object]:
    client.get(url, params or {})  # warm
    samples = []
    response = None
    for _ in range(runs):
        t0 = time.perf_counter()
        response = client.get(url, params or {})
        samples.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1], response


def count_queries(client, url: str, params: dict | None = None) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url, params or {})
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, params or {}).status_code == 200
    return len(ctx.captured_queries)


def grow(locations, users, day: dt.date) -> None:
    """More of everything a page could trip over: patients, sessions that day, due plans."""
    from treatments import demo
    from treatments.demo import at_local, demo_session
    from treatments.models import Patient, Session, SessionStatus

    demo.seed_scale(n=GROWTH_PATIENTS, locations=locations, users=users, stdout=io.StringIO())
    fresh = list(Patient.objects.filter(location=locations["marylebone"]).order_by("-pk")[:200])
    Session.objects.bulk_create(
        demo_session(
            p,
            users["nurse"],
            None,
            at_local(day, 9 + i % 9, 15 * (i % 4)),
            status=SessionStatus.BOOKED,
            treatment_type="other",
        )
        for i, p in enumerate(fresh)
    )


def main() -> int:
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    from clinic.phones import phone_national
    from treatments.models import Patient

    setup_test_environment()  # the test client needs it (testserver host, template signals)
    locations, users = load()
    client = Client()
    client.force_login(users["frontdesk"])
    failures = []

    # 1. Patient search -------------------------------------------------------------------
    sample = Patient.objects.filter(location=locations["marylebone"]).order_by("pk")[PATIENTS // 2]
    queries = {
        "one name prefix (3 letters)": sample.last_name[:3],
        "first + last name": f"{sample.first_name} {sample.last_name[:4]}",
        "common prefix (2 letters)": "sm",
        "phone prefix": phone_national(sample.phone)[:6],  # as the desk types it: "020 79"
        "full phone": phone_national(sample.phone),
        "date of birth": sample.date_of_birth.strftime("%d/%m/%Y"),
        "no match": "zzzq",
    }
    print(f"\npatient search, /treatments/patients/search.json, {RUNS} runs each (server time, ms)")
    print(f"  {'query':32} {'median':>8} {'p95':>8} {'hits':>5}")
    for label, q in queries.items():
        median, p95, response = timed_get(client, "/treatments/patients/search.json", {"q": q})
        hits = len(response.json()["results"])
        flag = "" if p95 <= SEARCH_GOAL_MS else "  ← over target"
        print(f"  {label + ' ' + repr(q):32} {median:8.1f} {p95:8.1f} {hits:5}{flag}")
        if p95 > SEARCH_GOAL_MS:
            failures.append(f"search {label}: p95 {p95:.1f} ms > {SEARCH_GOAL_MS} ms")
    with connection.cursor() as cursor:
        qs = Patient.objects.for_user(users["frontdesk"]).search(queries["one name prefix (3 letters)"])
        sql, params = qs.order_by("last_name_key", "first_name_key", "pk")[:10].query.sql_with_params()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = [row[0] for row in cursor.fetchall()]
    print(
        "  plan of the name search: "
        + "; ".join(line.strip() for line in plan if "Index" in line or "Execution" in line)
    )

    # 2. Query counts that must not grow with the data ------------------------------------------
    today = timezone.localdate()
    pages = {
        "day calendar": ("/treatments/calendar/", {"date": today.isoformat()}),
        "week calendar": ("/treatments/calendar/week/", {"date": today.isoformat()}),
        "today's list": ("/treatments/today/", {}),
        "due worklist": ("/treatments/due/", {}),
        "patient list search": ("/treatments/patients/", {"q": "sm"}),
    }
    before = {name: count_queries(client, url, params) for name, (url, params) in pages.items()}
    print(f"\npages, before → after adding {GROWTH_PATIENTS:,} patients with history and 200 sessions today")
    print(f"  {'page':22} {'queries':>12} {'median ms':>10} {'p95 ms':>8}")
    with transaction.atomic():
        grow(locations, users, today)
        for name, (url, params) in pages.items():
            after = count_queries(client, url, params)
            median, p95, _ = timed_get(client, url, params, runs=10)
            same = "same" if after == before[name] else "GREW"
            print(f"  {name:22} {before[name]:>4} → {after:<4} {same:4} {median:8.1f} {p95:8.1f}")
            if after != before[name]:
                failures.append(f"{name}: {before[name]} → {after} queries")
        transaction.set_rollback(True)  # keep the benchmark database at its targets
    print()
    if failures:
        print("MISSED: " + "; ".join(failures))
        return 1
    print(f"All targets met: search p95 ≤ {SEARCH_GOAL_MS:.0f} ms, query counts do not grow with the data.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
