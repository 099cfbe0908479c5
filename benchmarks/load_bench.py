"""Load held (issue 21): 50 staff for 5 minutes against the production stack on PostgreSQL.

    .venv/bin/python benchmarks/load_bench.py                  # 50 users, 5 minutes
    .venv/bin/python benchmarks/load_bench.py --users 20 --time 1m

1. Prepares the managers' benchmark data (``managers_bench.py``'s load: 2 locations, 20 000
   patients, 200 000 sessions with records, 2 000 lots; made once, reused) in
   ``bench_managers``, with three sign-ins for the scenario (front desk, practitioner,
   manager), the ids of patients and sessions it opens, and a working day the history lacks
   (everyone's hours, 30 sessions booked today); then ``VACUUM ANALYZE``, as autovacuum would.
2. Starts the production stack of ``deploy/stack.py`` on that database — nginx with TLS,
   gunicorn (3 workers × 4 threads), two Celery workers and beat, DEBUG off — on ports of
   its own (8445/8082, Redis db 8, ``var/prod-load``).
3. Runs ``benchmarks/load_locust.py`` headless: ``--users`` (default 50) spawned at 5 a
   second, for ``--time`` (default 5m), each signing in through the form and reading their
   role's pages over HTTPS with 1–4 s of think time. The figures include the ten seconds
   of the ramp, 50 sign-ins each an Argon2 check of ~150–250 ms CPU (the production hasher
   at Django's strength); ``--steady-state`` counts only from when all users are running
   (``--reset-stats``).
4. Stops the stack and prints, per page, requests, failures, median, p95 and p99.

Targets: no failed request, and p95 under 300 ms on every list page (today, calendar,
patients and search, due list, inbox, stock overview, lots, compliance, audit). Exits
non-zero when one is missed. A figure for the notes, not a timed test in CI.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
DATABASE_URL = os.environ.get("LOAD_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_managers")
RUN = ROOT / "var" / "prod-load"
PASSWORD = "load-test-2026"  # noqa: S105 - benchmark accounts in a benchmark database
P95_GOAL_MS = 300.0
SET_PASSWORDS = (
    "from django.contrib.auth import get_user_model\n"
    "names = ['load_desk', 'load_practitioner', 'bench_manager']\n"
    "for user in get_user_model().objects.filter(username__in=names):\n"
    f"    user.set_password({PASSWORD!r}); user.save(update_fields=['password'])\n"
)
LIST_PAGES = {
    "/treatments/today/",
    "/treatments/calendar/",
    "/treatments/patients/",
    "/treatments/patients/?q=",
    "/treatments/due/",
    "/treatments/inbox/",
    "/products/stock/",
    "/products/lots/",
    "/products/compliance/",
    "/clinic/audit/",
}


def prepare() -> None:
    """In a child process (benchmark settings): the data, the sign-ins, the ids to open."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    os.environ["DATABASE_URL"] = DATABASE_URL
    import managers_bench  # configures bench_managers (benchmarks/_setup.py)

    managers_bench.ensure_database(DATABASE_URL)
    import django

    django.setup()
    from clinic.roles import FRONT_DESK, PRACTITIONER
    from treatments.models import Patient, Session

    info = managers_bench.load()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # as autovacuum would have (it is off on this server)
    london = info["locations"][0]
    make_user = managers_bench.bench_user
    make_user("load_desk", FRONT_DESK, [london], first_name="Desk", last_name="Load")
    make_user("load_practitioner", PRACTITIONER, [london], first_name="Prac", last_name="Load")
    # A working day, which the managers' data (two years of history) lacks: everyone's hours
    # (the calendar's bookable cells) and 30 sessions booked today (today's list, the grid).
    import list_pages_bench
    from django.utils import timezone

    list_pages_bench.add_working_hours()
    if not Session.objects.filter(location=london).on_day(timezone.localdate()).exists():
        list_pages_bench.add_sessions_today(30, "load_desk")
    patients = list(Patient.objects.filter(location=london).order_by("pk").values_list("pk", flat=True)[:500])
    sessions = list(
        Session.objects.filter(location=london).order_by("-pk").values_list("pk", flat=True)[:500]
    )
    RUN.mkdir(parents=True, exist_ok=True)
    (RUN / "ids.json").write_text(json.dumps({"patients": patients, "sessions": sessions}))
    print(f"prepared: {len(patients)} patients and {len(sessions)} sessions to open", flush=True)


def report(prefix: Path) -> list[str]:
    failures: list[str] = []
    with open(f"{prefix}_stats.csv") as f:
        rows = list(csv.DictReader(f))
    print(f"\n{'page':44} {'requests':>9} {'failed':>7} {'median':>7} {'p95':>6} {'p99':>6}  (ms)")
    for row in rows:
        name, count, failed = row["Name"], int(row["Request Count"]), int(row["Failure Count"])
        p95 = float(row["95%"]) if row["95%"] not in ("N/A", "") else 0.0
        print(f"{name:44} {count:9} {failed:7} {row['50%']:>7} {row['95%']:>6} {row['99%']:>6}")
        if name == "Aggregated":
            if failed:
                failures.append(f"{failed} failed requests")
            continue
        if name in LIST_PAGES and p95 >= P95_GOAL_MS:
            failures.append(f"{name} p95 {p95:.0f} ms ≥ {P95_GOAL_MS:.0f} ms")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--time", default="5m")
    parser.add_argument(
        "--steady-state", action="store_true", help="count from when all users run (--reset-stats)"
    )
    parser.add_argument("--prepare-child", action="store_true")
    args = parser.parse_args()
    if args.prepare_child:
        prepare()
        return 0
    subprocess.run([BIN / "python", __file__, "--prepare-child"], cwd=ROOT, check=True)  # noqa: S603

    os.environ.update(
        PROD_DIR=str(RUN),
        PROD_HTTPS_PORT="8445",
        PROD_HTTP_PORT="8082",
        PROD_SMTP_PORT="8027",
        PROD_REDIS_URL="redis://127.0.0.1:6379/8",
        PROD_DATABASE_URL=DATABASE_URL,
    )
    sys.path.insert(0, str(ROOT / "deploy"))
    import stack  # reads the PROD_* settings above

    prefix = RUN / "locust"
    quiet = os.getloadavg()[0]
    stack.up()
    try:
        # Passwords hashed under the production settings (the benchmark settings hash with MD5,
        # which production does not accept), and no lock-out left from an earlier run.
        for command in (["shell", "-c", SET_PASSWORDS], ["axes_reset"]):
            manage = [BIN / "python", "manage.py", *command]
            subprocess.run(manage, cwd=ROOT, env=stack.process_env(), check=True)  # noqa: S603
        subprocess.run(  # noqa: S603
            [
                BIN / "locust", "-f", str(ROOT / "benchmarks" / "load_locust.py"), "--headless",
                "--users", str(args.users), "--spawn-rate", "5", "--run-time", args.time,
                "--host", stack.BASE_URL, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
                *(["--reset-stats"] if args.steady_state else []),
            ],
            cwd=ROOT,
            env={**os.environ, "LOAD_IDS": str(RUN / "ids.json"), "LOAD_PASSWORD": PASSWORD,
                 "LOAD_CA": str(stack.CERT)},
            check=False,
        )  # fmt: skip
    finally:
        stack.down()
    failures = report(prefix)
    print(f"\n{args.users} users for {args.time} on {os.cpu_count()} cores against {stack.BASE_URL}")
    # Locust, nginx, gunicorn, PostgreSQL and the workers share the cores: anything else running
    # (a test suite, another benchmark) shows up in every percentile.
    print(f"load average before the run: {quiet:.2f} (1 min)")
    print("FAILED: " + "; ".join(failures) if failures else "all targets met")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
