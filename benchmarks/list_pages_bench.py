"""Front-desk list pages, server time (issue 21): what the load scenario's desk reads most.

Run from the repository root against the managers' benchmark data (``managers_bench.py`` or
``load_bench.py`` loads it once into ``bench_managers``):

    .venv/bin/python benchmarks/list_pages_bench.py
    .venv/bin/python benchmarks/list_pages_bench.py --runs 60 --profile /treatments/calendar/

Through Django's test client (routing, middleware, the view, the queries, the templates: server
time, no network, one request at a time), signed in as ``load_desk`` (the load scenario's front
desk; if it is missing, a front-desk user is made for the run and rolled back), it prints per
page the median and 95th percentile in ms and the query count. The patient search cycles
through the load scenario's surnames. ``--profile URL`` prints the top of a cProfile of that
page (``--sort tottime``, ``--lines 80``); ``--queries URL`` prints its queries with their
time; ``--dump FOLDER`` writes every page's HTML (CSRF tokens masked) to compare two versions;
``--user NAME`` signs in as someone else. The load data has no working hours and no session
today, so the desk's calendar there has no booking link and no session: ``--working-hours``
(09-17 for every practitioner) and ``--sessions-today N`` add them for the run. Nothing is
written to the database that outlives the run (one transaction, rolled back). A figure for
the notes, no target: the 300 ms p95 under load is load_bench.py's.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import pstats
import statistics
import sys
import time

from _setup import configure  # benchmarks/ is on sys.path as a script

configure("managers")

SURNAMES = ["smi", "jon", "wil", "bro", "tay", "dav", "eva", "tho", "joh", "rob"]  # as load_locust.py
PAGES = [
    ("/treatments/calendar/", None),
    ("/treatments/patients/", None),
    ("/treatments/patients/?q=", SURNAMES),
    ("/treatments/today/", None),
    ("/treatments/due/", None),
]


def desk_user(username: str):
    from django.contrib.auth import get_user_model

    from clinic.models import Location
    from clinic.roles import FRONT_DESK

    user = get_user_model().objects.filter(username=username).first()
    if user is not None or username != "load_desk":
        return user
    from managers_bench import bench_user

    london = Location.objects.order_by("pk").first()
    return bench_user("load_desk", FRONT_DESK, [london], first_name="Desk", last_name="Load")


def add_working_hours() -> None:
    import datetime as dt

    from clinic.models import Location
    from treatments.calendar import bookable_practitioners
    from treatments.models import WorkingHours

    for location in Location.objects.all():
        for practitioner in bookable_practitioners(location):
            for weekday in range(7):
                WorkingHours.objects.get_or_create(
                    practitioner=practitioner,
                    location=location,
                    weekday=weekday,
                    start_time=dt.time(9),
                    end_time=dt.time(17),
                )


def add_sessions_today(n: int, username: str) -> None:
    """``n`` booked sessions today, spread over the practitioners of the user's first location."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from clinic.scoping import locations_for
    from treatments.calendar import bookable_practitioners
    from treatments.demo import at_local, demo_session
    from treatments.models import Patient, Session, SessionStatus

    location = locations_for(get_user_model().objects.get(username=username)).order_by("pk").first()
    practitioners = list(bookable_practitioners(location))
    patients = list(Patient.objects.filter(location=location).order_by("pk")[:n])
    today = timezone.localdate()
    Session.objects.bulk_create(
        demo_session(
            p,
            practitioners[i % len(practitioners)],
            None,
            at_local(today, 9 + (i // len(practitioners)) % 8, 0),
            status=SessionStatus.BOOKED,
            treatment_type="other",
        )
        for i, p in enumerate(patients)
    )


def measure(client, url: str, variants, runs: int) -> tuple[float, float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    urls = itertools.cycle([url + v for v in variants] if variants else [url])
    for _ in range(3):  # warm: templates, caches, connection
        client.get(next(urls))
    counts = set()
    samples = []
    size = 0
    for _ in range(runs):
        u = next(urls)
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            response = client.get(u)
            samples.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (u, response.status_code)
        counts.add(len(ctx.captured_queries))
        size = len(response.content)
    samples.sort()
    p95 = samples[max(0, int(len(samples) * 0.95) - 1)]
    return statistics.median(samples), p95, max(counts), size


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--profile", help="a page's URL to profile (one request, cumulative time)")
    parser.add_argument("--sort", default="cumulative", help="the profile's order (cumulative, tottime)")
    parser.add_argument("--lines", type=int, default=40, help="how many lines of the profile to print")
    parser.add_argument("--only", default="", help="measure only the pages whose URL contains this")
    parser.add_argument(
        "--working-hours",
        action="store_true",
        help="give every practitioner 09:00-17:00 every day for the run (the load data has no working "
        "hours, so the desk's calendar shows no booking links without it)",
    )
    parser.add_argument(
        "--sessions-today",
        type=int,
        default=0,
        metavar="N",
        help="book N sessions today at the desk's location for the run (the load data has none today)",
    )
    parser.add_argument("--queries", help="a page's URL whose queries to print, with their time")
    parser.add_argument("--user", default="load_desk", help="whom to sign in as (default: the load's desk)")
    parser.add_argument("--dump", help="a folder to write each page's HTML to (to compare before/after)")
    args = parser.parse_args()
    import django

    django.setup()
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import setup_test_environment

    from treatments.models import Patient, Session

    setup_test_environment()  # the test client needs it (testserver host)
    print(
        f"database {connection.settings_dict['NAME']}: {Patient.objects.count():,} patients, "
        f"{Session.objects.count():,} sessions"
    )
    with transaction.atomic():
        client = Client()
        client.force_login(desk_user(args.user))
        if args.working_hours:
            add_working_hours()
        if args.sessions_today:
            add_sessions_today(args.sessions_today, args.user)
        if args.dump:
            import re
            from pathlib import Path

            folder = Path(args.dump)
            folder.mkdir(parents=True, exist_ok=True)
            for url, variants in PAGES:
                for u in [url + v for v in variants[:2]] if variants else [url]:
                    html = client.get(u).content.decode()
                    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "csrf", html)
                    (folder / (re.sub(r"\W+", "_", u).strip("_") + ".html")).write_text(html)
            print(f"pages written to {folder}")
        elif args.queries:
            from django.test.utils import CaptureQueriesContext

            client.get(args.queries)
            with CaptureQueriesContext(connection) as ctx:
                client.get(args.queries)
            for q in ctx.captured_queries:
                print(f"{float(q['time']) * 1000:7.1f} ms  {q['sql'][:300]}")
        elif args.profile:
            client.get(args.profile)
            profiler = cProfile.Profile()
            profiler.enable()
            client.get(args.profile)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.lines)
            print(out.getvalue())
        else:
            print(f"{args.runs} runs per page, server time (test client), ms")
            print(f"  {'page':34} {'median':>8} {'p95':>8} {'queries':>8} {'KB':>6}")
            for url, variants in PAGES:
                if args.only not in url:
                    continue
                median, p95, queries, size = measure(client, url, variants, args.runs)
                label = url + ("<surname>" if variants else "")
                print(f"  {label:34} {median:8.1f} {p95:8.1f} {queries:8} {size / 1024:6.0f}")
        transaction.set_rollback(True)  # the sign-in (and a made user) leave nothing behind
    return 0


if __name__ == "__main__":
    sys.exit(main())
