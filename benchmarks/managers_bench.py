"""Managers' benchmark (issue 9): dashboard, recall list and a 200 000-row streamed export.

Run from the repository root (PostgreSQL must be reachable):

    .venv/bin/python benchmarks/managers_bench.py
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_managers \
        .venv/bin/python benchmarks/managers_bench.py

It creates the database named in DATABASE_URL if missing (default ``bench_managers``, never
the site's own), migrates it and bulk-loads, once (later runs reuse it): 2 locations, 20
products, 2 000 lots, 20 000 patients, 200 000 completed sessions over two years, each with a
signed treatment record and one product line drawing a ``used`` ledger row (one lot in
5 000 of them), waste rows and failed notifications. Then it measures, through Django's test
client (routing, middleware, view, queries, templates: server time, no network):

1. the manager dashboard: median ≤ 300 ms, and the same query count after more data is
   added (rolled back afterwards);
2. the recall list of the lot used in 5 000 treatments: median ≤ 200 ms;
3. the treatment-register CSV export of all 200 000 lines, streamed in a child process whose
   peak resident memory (VmHWM) may grow by less than 100 MB over its size before the export;
4. issue 19: the manager's home page (``/``), the stock overview and the compliance page at
   2 000 and 20 000 lots, each within 1.5× the admin Lot changelist timed in the same run, with
   the same query count at both steps (``_lot_scale.py``; the lots it adds are removed after).
   ``--speed-only`` runs this step alone.

Exits non-zero when a target is missed.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from _setup import configure, ensure_database  # benchmarks/ is on sys.path as a script

configure("managers")

PATIENTS = 20_000
SESSIONS = 200_000
LOTS = 2_000
PRODUCTS = 20
RECALL_LINES = 5_000
RUNS = 20
DASHBOARD_GOAL_MS = 300.0
RECALL_GOAL_MS = 200.0
EXPORT_GOAL_MB = 100.0
RECALL_LOT = "BENCH-RECALL"
BATCH = 5_000


def bench_user(username: str, role: str, locations, **names):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from clinic.models import StaffProfile
    from clinic.roles import ROLES

    user, _ = get_user_model().objects.get_or_create(username=username, defaults=names)
    user.groups.set([Group.objects.get(name=ROLES[role].group)])
    profile, _ = StaffProfile.objects.get_or_create(user=user)
    profile.locations.set(locations)
    return user


def load() -> dict:
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from clinic.models import Location, Notification
    from clinic.phones import phone_fictional
    from clinic.roles import MANAGER, PRACTITIONER
    from products.models import Lot, Product, StockMovement, StorageUnit
    from treatments.models import (
        ConsentTemplate,
        Patient,
        PatientConsent,
        ProductLine,
        Screening,
        Session,
        TreatmentRecord,
        phone_digits,
    )

    call_command("migrate", verbosity=0)
    london, _ = Location.objects.get_or_create(
        code="bench-ldn", defaults={"name": "Bench London", "phone": "+442079460100"}
    )
    leeds, _ = Location.objects.get_or_create(
        code="bench-lds", defaults={"name": "Bench Leeds", "phone": "+441134960100"}
    )
    locations = [london, leeds]
    manager = bench_user("bench_manager", MANAGER, locations, first_name="Maya", last_name="Manager")
    practitioners = [
        bench_user(
            f"bench_prac{i}", PRACTITIONER, [locations[i % 2]], first_name=f"Prac{i}", last_name="Bench"
        )
        for i in range(8)
    ]
    by_location = {
        loc.pk: [p for i, p in enumerate(practitioners) if i % 2 == locations.index(loc)] for loc in locations
    }
    info = {"manager": manager, "locations": locations}
    if Lot.objects.count() >= LOTS and ProductLine.objects.count() >= SESSIONS:
        info["recall_lot"] = Lot.objects.get(lot_number=RECALL_LOT)
        return info

    rng = random.Random(9)
    now = timezone.now()
    today = timezone.localdate()
    t0 = time.perf_counter()
    units = []
    for loc in locations:
        for name in ("Fridge A", "Fridge B"):
            unit, _ = StorageUnit.objects.get_or_create(
                location=loc,
                name=name,
                defaults={"kind": "fridge", "min_c": Decimal("2"), "max_c": Decimal("8")},
            )
            units.append(unit)
    products = []
    for i in range(PRODUCTS):
        product, _ = Product.objects.get_or_create(
            name=f"Bench Serum {i:02d}",
            defaults={
                "manufacturer": "Bench",
                "source": "msc_adipose",
                "format": "refrigerated_liquid",
                "storage_min_c": Decimal("2"),
                "storage_max_c": Decimal("8"),
                "vial_volume_ml": Decimal("5"),
                "use_within_hours": 24,
                "unit_cost": Decimal(80 + 5 * i),
            },
        )
        products.append(product)
    lots = Lot.objects.bulk_create(
        [
            Lot(
                product=products[i % PRODUCTS],
                lot_number=RECALL_LOT if i == 0 else f"BL{i:05d}",
                expiry_date=today + dt.timedelta(days=rng.randrange(-30, 700)),
                received_on=today - dt.timedelta(days=rng.randrange(1, 700)),
                quantity_received=200,
                quantity_on_hand=rng.randrange(0, 60),
                storage_unit=units[i % len(units)],
                is_quarantined=i % 97 == 0,
            )
            for i in range(LOTS)
        ],
        batch_size=BATCH,
    )
    StockMovement.objects.bulk_create(
        [
            StockMovement(lot=lot, kind="received", quantity=200, balance_after=200, created_at=now)
            for lot in lots
        ],
        batch_size=BATCH,
    )
    lots_at = {loc.pk: [lot for lot in lots if lot.storage_unit.location_id == loc.pk] for loc in locations}
    Patient.objects.bulk_create(
        [
            Patient(
                location=locations[i % 2],
                first_name=f"First{i}",
                last_name=f"Last{i:05d}",
                date_of_birth=dt.date(1960 + i % 40, 1 + i % 12, 1 + i % 28),
                phone=phone_fictional(i),
                email=f"patient{i}@example.com",
                first_name_key=f"first{i}",
                last_name_key=f"last{i:05d}",
                phone_digits=phone_digits(phone_fictional(i)),
            )
            for i in range(PATIENTS)
        ],
        batch_size=BATCH,
    )
    patients = list(Patient.objects.filter(last_name__startswith="Last").order_by("pk"))
    template = ConsentTemplate.objects.filter(
        treatment_type="other"
    ).first() or ConsentTemplate.objects.create(
        treatment_type="other", version=1, title="Bench consent", body="Risks, alternatives, aftercare."
    )
    consents = PatientConsent.objects.bulk_create(
        [
            PatientConsent(
                patient=p,
                template=template,
                practitioner=by_location[p.location_id][0],
                signed_at=now - dt.timedelta(days=800),
                typed_name=str(p),
                signature_name="bench.png",
                signature_sha256="0" * 64,
            )
            for p in patients
        ],
        batch_size=BATCH,
    )
    screenings = Screening.objects.bulk_create(
        [Screening(patient=p, answered_at=now - dt.timedelta(days=800)) for p in patients], batch_size=BATCH
    )
    consent_of = {c.patient_id: c for c in consents}
    screening_of = {s.patient_id: s for s in screenings}
    print(f"  reference data, lots and patients in {time.perf_counter() - t0:.1f}s")
    recall_lot = lots[0]
    tz = timezone.get_current_timezone()
    for start in range(0, SESSIONS, 20_000):
        sessions, records, movements = [], [], []
        for i in range(start, min(start + 20_000, SESSIONS)):
            patient = patients[i % PATIENTS]
            prac = by_location[patient.location_id][i % 4]
            day = today - dt.timedelta(days=1 + rng.randrange(0, 720))
            starts = dt.datetime.combine(day, dt.time(9 + i % 9, 15 * (i % 4)), tz)
            sessions.append(
                Session(
                    patient=patient,
                    practitioner=prac,
                    location_id=patient.location_id,
                    treatment_type="other",
                    starts_at=starts,
                    ends_at=starts + dt.timedelta(minutes=45),
                    status="completed",
                    completed_at=starts + dt.timedelta(minutes=45),
                )
            )
        Session.objects.bulk_create(sessions, batch_size=BATCH)
        for offset, session in enumerate(sessions):
            i = start + offset
            signed = session.starts_at + dt.timedelta(minutes=50)
            records.append(
                TreatmentRecord(
                    session=session,
                    practitioner=session.practitioner,
                    consent=consent_of[session.patient_id],
                    screening=screening_of[session.patient_id],
                    combined_procedure="microneedling",
                    created_at=signed,
                    updated_at=signed,
                    signed_at=signed,
                    signed_by=session.practitioner,
                )
            )
        TreatmentRecord.objects.bulk_create(records, batch_size=BATCH)
        lines = []
        for offset, record in enumerate(records):
            i = start + offset
            session = sessions[offset]
            if (
                i < RECALL_LINES * 2
                and i % 2 == 0
                and session.location_id == recall_lot.storage_unit.location_id
            ):
                lot = recall_lot
            else:
                lot = rng.choice(lots_at[session.location_id][1:])
            movements.append(
                StockMovement(
                    lot=lot,
                    kind="used",
                    quantity=-1,
                    balance_after=0,
                    actor=session.practitioner,
                    reference=f"record:{i}",
                    created_at=record.created_at,
                )
            )
            lines.append(
                ProductLine(
                    record=record, lot=lot, source="sealed", vials=1, volume_ml=Decimal("5"), route="topical",
                    areas=["face"],
                )
            )  # fmt: skip
        ProductLine.objects.bulk_create(lines, batch_size=BATCH)
        StockMovement.objects.bulk_create(movements, batch_size=BATCH)
        print(f"  {min(start + 20_000, SESSIONS):,} sessions with records in {time.perf_counter() - t0:.1f}s")
    # Top the recall lot up to exactly RECALL_LINES lines (the even sessions at its location).
    have = ProductLine.objects.filter(lot=recall_lot).count()
    if have < RECALL_LINES:
        extra = list(
            ProductLine.objects.filter(record__session__location=recall_lot.storage_unit.location)
            .exclude(lot=recall_lot)
            .values_list("pk", flat=True)[: RECALL_LINES - have]
        )
        ProductLine.objects.filter(pk__in=extra).update(lot=recall_lot)
    elif have > RECALL_LINES:
        surplus = list(ProductLine.objects.filter(lot=recall_lot).values_list("pk", flat=True)[RECALL_LINES:])
        ProductLine.objects.filter(pk__in=surplus).update(lot=lots_at[recall_lot.storage_unit.location_id][1])
    reasons = ["expired", "temperature", "beyond_use", "broken", "drawn_unused"]
    StockMovement.objects.bulk_create(
        [
            StockMovement(
                lot=lots[i % LOTS],
                kind="wasted",
                quantity=-1,
                balance_after=0,
                reason=reasons[i % len(reasons)],
                created_at=now - dt.timedelta(days=rng.randrange(0, 360)),
            )
            for i in range(2_000)
        ],
        batch_size=BATCH,
    )
    Notification.objects.bulk_create(
        [
            Notification(
                kind="bench",
                channel="email",
                to_address="x@example.com",
                subject="s",
                body="b",
                dedupe_key=f"bench:{i}",
                status="failed" if i % 2 else "sent",
                location=locations[i % 2],
            )
            for i in range(2_000)
        ],
        batch_size=BATCH,
    )
    with connection.cursor() as cursor:
        # VACUUM too: the benchmark server runs without autovacuum, which in production would
        # have set the visibility map after a bulk load (index-only scans for page counts).
        cursor.execute("VACUUM ANALYZE")
    print(f"loaded in {time.perf_counter() - t0:.1f}s")
    info["recall_lot"] = Lot.objects.get(pk=recall_lot.pk)
    return info


def timed_get(client, url: str, runs: int = RUNS) -> tuple[float, float]:
    client.get(url)  # warm
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def count_queries(client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def grow(info) -> None:
    """More lots, ledger rows, sessions today and excursions: what could add queries."""
    from django.utils import timezone

    from products.models import Excursion, Lot, StockMovement, StorageUnit
    from treatments.models import Patient, Session

    now = timezone.now()
    unit = StorageUnit.objects.filter(location=info["locations"][0]).first()
    lots = Lot.objects.bulk_create(
        [
            Lot(
                product_id=Lot.objects.values_list("product_id", flat=True).first(),
                lot_number=f"GROW{i}",
                expiry_date=timezone.localdate() + dt.timedelta(days=5 + i),
                quantity_received=5,
                quantity_on_hand=5,
                storage_unit=unit,
            )
            for i in range(50)
        ]
    )
    StockMovement.objects.bulk_create(
        [StockMovement(lot=lot, kind="wasted", quantity=-1, balance_after=4, reason="broken") for lot in lots]
    )
    spare = StorageUnit.objects.create(location=info["locations"][0], name="Growth fridge", kind="fridge",
                                       min_c=Decimal("2"), max_c=Decimal("8"))  # fmt: skip
    Excursion.objects.create(storage_unit=spare, started_at=now, last_out_at=now, lowest_c=9, highest_c=10)
    patients = list(Patient.objects.filter(location=info["locations"][0])[:30])
    prac = Session.objects.filter(location=info["locations"][0]).first().practitioner
    Session.objects.bulk_create(
        Session(patient=p, practitioner=prac, location=p.location, treatment_type="other",
                starts_at=now + dt.timedelta(minutes=i), ends_at=now + dt.timedelta(minutes=i + 45))
        for i, p in enumerate(patients)
    )  # fmt: skip


def speed_step(client, info) -> list[str]:
    """Issue 19's ratios (the lots it adds are removed afterwards: the data above stays as
    loaded for the other targets)."""
    from _lot_scale import lot_scale_steps

    from products.models import Product, StorageUnit

    return lot_scale_steps(
        client,
        {"home page": "/", "stock overview": "/products/stock/", "compliance": "/products/compliance/"},
        units=list(StorageUnit.objects.filter(location__in=info["locations"]).order_by("pk")),
        products=list(Product.objects.filter(name__startswith="Bench Serum").order_by("pk")),
        manager=info["manager"],
    )


def export_child() -> int:
    """Stream the whole register export and report rows, seconds and peak memory growth."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    def status(key: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
        raise KeyError(key)

    setup_test_environment()
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench_manager"))
    today = timezone.localdate()
    # Warm up everything the export touches (imports, templates, connection) on a tiny period.
    small = client.get(f"/clinic/reports/register/export.csv?date_from={today}&date_to={today}")
    b"".join(small.streaming_content)
    before = status("VmRSS")
    start = today - dt.timedelta(days=3 * 365)
    t0 = time.perf_counter()
    response = client.get(f"/clinic/reports/register/export.csv?date_from={start}&date_to={today}")
    assert response.streaming
    rows = size = 0
    for chunk in response.streaming_content:
        rows += chunk.count(b"\n")
        size += len(chunk)
    seconds = time.perf_counter() - t0
    peak = status("VmHWM")
    print(f"{rows - 1} {size} {seconds:.2f} {before} {peak}")
    return 0


def main() -> int:
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import setup_test_environment

    from products.models import Lot
    from treatments.models import Patient, ProductLine, Session

    setup_test_environment()
    print("loading (first run only)…")
    info = load()
    print(
        f"data: {Patient.objects.count():,} patients, {Session.objects.count():,} sessions, "
        f"{Lot.objects.count():,} lots, {ProductLine.objects.count():,} treatment lines"
    )
    client = Client()
    client.force_login(info["manager"])
    failures = []
    if "--speed-only" in sys.argv:
        failures += speed_step(client, info)
        print("\nFAILED: " + ", ".join(failures) if failures else "\nall targets met")
        return 1 if failures else 0

    # 1. Dashboard -----------------------------------------------------------------------------
    median, p95 = timed_get(client, "/clinic/reports/")
    queries = count_queries(client, "/clinic/reports/")
    with transaction.atomic():
        grow(info)
        grown = count_queries(client, "/clinic/reports/")
        transaction.set_rollback(True)
    print(f"\nmanager dashboard /clinic/reports/: median {median:.0f} ms, p95 {p95:.0f} ms "
          f"(goal ≤ {DASHBOARD_GOAL_MS:.0f}); {queries} queries, {grown} after adding data")  # fmt: skip
    if median > DASHBOARD_GOAL_MS:
        failures.append("dashboard too slow")
    if grown != queries:
        failures.append("dashboard query count grows with the data")

    # 2. Recall list ---------------------------------------------------------------------------
    lot = info["recall_lot"]
    lines = ProductLine.objects.filter(lot=lot).count()
    url = f"/clinic/reports/recall/lots/{lot.pk}/"
    median, p95 = timed_get(client, url)
    queries = count_queries(client, url)
    print(f"recall list of a lot used in {lines:,} treatments: median {median:.0f} ms, p95 {p95:.0f} ms "
          f"(goal ≤ {RECALL_GOAL_MS:.0f}); {queries} queries")  # fmt: skip
    if median > RECALL_GOAL_MS:
        failures.append("recall list too slow")

    # 4. Issue 19: pages against the admin changelist at 2 000 and 20 000 lots ------------------
    failures += speed_step(client, info)
    connection.close()

    # 3. Streamed export (child process: a clean memory measurement) ----------------------------
    out = subprocess.run(  # noqa: S603 (this very script, with fixed arguments)
        [sys.executable, __file__, "--export-child"],
        capture_output=True,
        text=True,
        env=os.environ,
        check=False,
    )
    if out.returncode != 0:
        print(out.stdout, out.stderr)
        failures.append("export failed")
    else:
        rows, size, seconds, before, peak = out.stdout.strip().splitlines()[-1].split()
        growth = (int(peak) - int(before)) / 1024
        print(f"treatment register export: {int(rows):,} rows, {int(size) / 1e6:.1f} MB of CSV "
              f"in {seconds} s; RSS before {int(before) / 1024:.0f} MB, peak {int(peak) / 1024:.0f} MB, "
              f"growth {growth:.1f} MB (goal < {EXPORT_GOAL_MB:.0f})")  # fmt: skip
        if growth >= EXPORT_GOAL_MB:
            failures.append("export used too much memory")
        if int(rows) < SESSIONS:
            failures.append("export has fewer rows than expected")

    print("\nFAILED: " + ", ".join(failures) if failures else "\nall targets met")
    return 1 if failures else 0


if __name__ == "__main__":
    if "--export-child" in sys.argv:
        sys.exit(export_child())
    sys.exit(main())
