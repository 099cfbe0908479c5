"""Products benchmark: a year of 5-minute readings for 10 storage units and 2 000 lots.

Run from the repository root (PostgreSQL must be reachable):

    .venv/bin/python benchmarks/products_bench.py
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_products \
        .venv/bin/python benchmarks/products_bench.py

It creates the database named in DATABASE_URL if missing (default ``bench_products``, never
the site's own), migrates it, bulk-loads the data once (COPY; later runs reuse it), then
measures, against the targets of issue 3:

1. the storage-unit page with a year's chart: server time (≤ 200 ms) and points sent (≤ 2 000);
2. the stock overview: its query count must not change when lots are added;
3. importing a 100 000-line logger CSV through the service (≤ 10 s).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import os
import re
import statistics
import sys
import time

from _setup import configure, ensure_database  # benchmarks/ is on sys.path as a script

configure("products")
# Generated files step 5 minutes in wall time; UTC keeps DST from folding two samples together.
os.environ.setdefault("TIME_ZONE", "UTC")

UNITS = 10
DAYS = 365
STEP_MIN = 5
LOTS = 2000
IMPORT_LINES = 100_000
RUNS = 10


def load(manager, location) -> list:
    """10 units × a year of 5-minute readings (COPY) and 2 000 lots with their ledger rows."""
    from django.db import connection, transaction
    from django.utils import timezone

    from products.models import Lot, Product, StockMovement, StorageUnit

    units = []
    for i in range(UNITS):
        unit, _ = StorageUnit.objects.get_or_create(
            location=location,
            name=f"Bench fridge {i:02d}",
            defaults={"kind": "fridge", "min_c": 2, "max_c": 8, "logger_id": f"BENCH-{i:02d}"},
        )
        units.append(unit)
    per_unit = DAYS * 24 * 60 // STEP_MIN
    end = timezone.now().replace(second=0, microsecond=0)
    start = end - dt.timedelta(days=DAYS)
    if units[0].readings.count() < per_unit:
        t0 = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM products_temperaturereading WHERE storage_unit_id = ANY(%s)",
                [[u.pk for u in units]],
            )
            with cursor.cursor.copy(
                "COPY products_temperaturereading (storage_unit_id, taken_at, temperature_c, source)"
                " FROM STDIN"
            ) as copy:
                for unit in units:
                    for k in range(per_unit):
                        when = start + dt.timedelta(minutes=STEP_MIN * k)
                        value = 5 + 1.5 * math.sin(k / 144 * math.pi) + (k * 7919 % 100) / 250
                        if k % 20_000 < 6:  # a short warm spell every ten weeks or so
                            value += 5
                        copy.write_row((unit.pk, when, f"{value:.2f}", "logger"))
        # What autovacuum does soon after a bulk load: statistics and the visibility map
        # (which lets the chart's query use an index-only scan).
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE products_temperaturereading")
        print(f"loaded {per_unit * UNITS:,} readings in {time.perf_counter() - t0:.1f}s")
    products = []
    for i in range(20):
        product, _ = Product.objects.get_or_create(
            name=f"Bench product {i:02d}",
            defaults={
                "manufacturer": "Bench",
                "source": "plant",
                "format": "refrigerated_liquid",
                "storage_min_c": 2,
                "storage_max_c": 8,
                "vial_volume_ml": 5,
                "use_within_hours": 24,
            },
        )
        products.append(product)
    if Lot.objects.filter(lot_number__startswith="BENCH-").count() < LOTS:
        today = timezone.localdate()
        Lot.objects.bulk_create(
            [
                Lot(
                    product=products[i % 20],
                    lot_number=f"BENCH-{i:05d}",
                    expiry_date=today + dt.timedelta(days=-10 + i % 600),
                    quantity_received=10,
                    quantity_on_hand=10,
                    storage_unit=units[i % UNITS],
                    received_by=manager,
                )
                for i in range(LOTS)
            ],
            ignore_conflicts=True,
        )
        fresh = Lot.objects.filter(lot_number__startswith="BENCH-", movements__isnull=True)
        StockMovement.objects.bulk_create(
            [StockMovement(lot=lot, kind="received", quantity=10, balance_after=10) for lot in fresh]
        )
        print(f"loaded {LOTS} lots")
    return units


def timed_get(client, url: str, runs: int = RUNS) -> tuple[list[float], str]:
    client.get(url)  # warm caches and the connection
    times, body = [], ""
    for _ in range(runs):
        t0 = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.status_code
        body = response.content.decode()
    return times, body


def main() -> None:
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from clinic.models import Location, StaffProfile
    from clinic.roles import MANAGER, ROLES
    from products.models import Lot, ReadingImport, StockMovement, StorageUnit, TemperatureReading
    from products.services import readings_import_csv

    call_command("migrate", verbosity=0)
    location, _ = Location.objects.get_or_create(code="bench", defaults={"name": "Bench site"})
    manager, created = get_user_model().objects.get_or_create(username="bench_manager")
    if created:
        manager.groups.set([Group.objects.get(name=ROLES[MANAGER].group)])
        StaffProfile.objects.get_or_create(user=manager)[0].locations.set([location])
    units = load(manager, location)
    total = TemperatureReading.objects.filter(storage_unit__in=units).count()
    client = Client()
    client.force_login(manager)
    results = []

    print(f"\n{total:,} readings in {len(units)} units, {Lot.objects.count():,} lots\n")
    # 1. Storage-unit page with a year's chart.
    for range_key in ("7d", "30d", "365d"):
        times, body = timed_get(client, f"/products/units/{units[3].pk}/?range={range_key}")
        data = json.loads(
            re.search(r'<script id="temperature-data" type="application/json">(.*?)</script>', body, re.S)[1]
        )
        points = len(data["points"])
        median, worst = statistics.median(times), max(times)
        ok = median <= 200 and points <= 2000
        results.append(ok)
        print(
            f"unit page range={range_key:>4}: median {median:6.1f} ms, max {worst:6.1f} ms, "
            f"{points} points (bucket {data['bucket_seconds']} s)  "
            f"target ≤200 ms, ≤2000 points: {'PASS' if ok else 'FAIL'}"
        )

    # 2. Stock overview query count with 2 000 lots, then 1 000 more.
    def stock_queries() -> tuple[int, float]:
        """Queries of one stock-overview request, and its median time over RUNS requests."""
        client.get("/products/stock/")
        with CaptureQueriesContext(connection) as ctx:
            client.get("/products/stock/")
        count = len(ctx.captured_queries)  # read now: the next request clears the query log
        times, _ = timed_get(client, "/products/stock/")
        return count, statistics.median(times)

    before, ms_before = stock_queries()
    product_ids = list(
        Lot.objects.filter(lot_number__startswith="BENCH-").values_list("product_id", flat=True)[:20]
    )
    extra = [
        Lot(
            product_id=product_ids[i % len(product_ids)],
            lot_number=f"EXTRA-{i:05d}",
            expiry_date=timezone.localdate() + dt.timedelta(days=30 + i % 300),
            quantity_received=5,
            quantity_on_hand=5,
            storage_unit=units[i % len(units)],
        )
        for i in range(1000)
    ]
    Lot.objects.bulk_create(extra, ignore_conflicts=True)
    after, ms_after = stock_queries()
    StockMovement.objects.filter(lot__lot_number__startswith="EXTRA-").delete()
    Lot.objects.filter(lot_number__startswith="EXTRA-").delete()
    ok = before == after > 0
    results.append(ok)
    print(
        f"stock overview: {before} queries (median {ms_before:.0f} ms) with {LOTS} lots, {after} queries "
        f"(median {ms_after:.0f} ms) with {LOTS + 1000}: {'PASS' if ok else 'FAIL'}"
    )

    # 3. Import a 100 000-line logger CSV through the service (then remove it again).
    unit = StorageUnit.objects.create(
        location=location, name=f"Import bench {time.time_ns()}", kind="fridge", min_c=2, max_c=8
    )
    start = timezone.localtime() - dt.timedelta(days=400)
    buffer = io.StringIO()
    buffer.write("Timestamp;Temperature (°C)\n")
    for k in range(IMPORT_LINES):
        when = start + dt.timedelta(minutes=5 * k)
        buffer.write(f"{when:%d/%m/%Y %H:%M};{5 + math.sin(k / 50):.2f}".replace(".", ",") + "\n")
    content = buffer.getvalue().encode()
    t0 = time.perf_counter()
    result = readings_import_csv(
        unit=unit, content=content, filename="bench.csv", date_format="dmy_min", actor=manager
    )
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = readings_import_csv(
        unit=unit, content=content, filename="bench.csv", date_format="dmy_min", actor=manager
    )
    again_s = time.perf_counter() - t0
    ok = seconds <= 10 and result.added == IMPORT_LINES and again.added == 0
    results.append(ok)
    print(
        f"import {IMPORT_LINES:,} lines: {seconds:.2f} s ({result.added:,} added); same file again "
        f"{again_s * 1000:.0f} ms, {again.added} added  target ≤10 s: {'PASS' if ok else 'FAIL'}"
    )
    TemperatureReading.objects.filter(storage_unit=unit).delete()
    ReadingImport.objects.filter(storage_unit=unit).delete()
    unit.delete()
    print("\nall targets met" if all(results) else "\nSOME TARGETS MISSED")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
