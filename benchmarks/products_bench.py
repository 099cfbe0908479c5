"""Products benchmark: a year of 5-minute readings for 10 storage units and 2 000 lots.

Run from the repository root (PostgreSQL must be reachable):

    .venv/bin/python benchmarks/products_bench.py
    .venv/bin/python benchmarks/products_bench.py --import-only   # only the logger-file import
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_products \
        .venv/bin/python benchmarks/products_bench.py

It creates the database named in DATABASE_URL if missing (default ``bench_products``, never
the site's own), migrates it, bulk-loads the data once (COPY; later runs reuse it), then
measures, against the targets of issue 3:

1. the storage-unit page with a year's chart: server time (≤ 200 ms) and points sent (≤ 2 000);
2. the stock overview: its query count must not change when lots are added;
3. importing a 100 000-line logger file through the service: within 2× the floor measured in
   the same run (COPY into a temporary table + one INSERT … SELECT … ON CONFLICT DO NOTHING),
   with memory that does not grow with the file (issue 14);
4. issue 19: the stock overview, the compliance page and the manager's home page at 2 000 and
   20 000 lots, each within 1.5× the admin Lot changelist timed in the same run, with the same
   query count at both steps (``_lot_scale.py``; the lots it adds are removed afterwards).
   ``--speed-only`` runs this step alone.
"""

from __future__ import annotations

import datetime as dt
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


def logger_file(path, lines: int, start: dt.datetime) -> None:
    """A European export: preamble, ``;`` separator, decimal commas, day-first dates, °C."""
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        f.write("Product;TRIX-8\r\nSerial #;4007310288\r\nReading interval;5 minutes\r\n\r\n")
        f.write("Reading;Date;Time;Temperature (°C)\r\n")
        zone = start.tzinfo
        utc = start.astimezone(dt.UTC)
        for k in range(lines):
            # Every 5 minutes of real time, written in local time as a logger on local time does
            # (the hour the clocks skip is not written, the repeated one is written twice).
            when = (utc + dt.timedelta(minutes=5 * k)).astimezone(zone)
            value = f"{5 + math.sin(k / 50):.2f}".replace(".", ",")
            f.write(f"{k + 1};{when:%d.%m.%Y};{when:%H:%M:%S};{value}\r\n")


def import_benchmark(location, manager) -> bool:
    """Our import of a 100 000-line file (parse twice, COPY into a temporary table, one INSERT …
    SELECT … ON CONFLICT DO NOTHING, excursion check) against the floor measured in the same
    run: the same rows, already in final form, COPYed into a temporary table and inserted with
    one INSERT … SELECT … ON CONFLICT DO NOTHING, with the same five columns (so the same
    foreign keys are checked at commit). Target: at most 2× the floor, and a peak of
    memory that does not grow with the file (tracemalloc, 20 000 vs 100 000 lines)."""
    import tempfile
    import tracemalloc

    from django.db import connection, transaction
    from django.utils import timezone

    from products.models import ReadingImport, StorageUnit, TemperatureReading
    from products.services import readings_import_file

    start = timezone.now().replace(second=0, microsecond=0, tzinfo=dt.UTC) - dt.timedelta(days=400)
    floor_rows = "".join(
        f"{(start + dt.timedelta(minutes=5 * k)).isoformat()}\t{5 + math.sin(k / 50):.2f}\n"
        for k in range(IMPORT_LINES)
    )

    def fresh_unit():
        return StorageUnit.objects.create(
            location=location, name=f"Import bench {time.time_ns()}", kind="fridge", min_c=2, max_c=8
        )

    def drop(unit):
        TemperatureReading.objects.filter(storage_unit=unit).delete()
        ReadingImport.objects.filter(storage_unit=unit).delete()
        unit.delete()

    def floor() -> float:
        unit = fresh_unit()
        # The same five columns the import writes, batch included (its foreign key is checked
        # at commit for every row, as for the import's rows).
        batch = ReadingImport.objects.create(storage_unit=unit, sha256="floor", filename="floor")
        t0 = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMPORARY TABLE floor_rows (taken_at timestamptz, temperature_c numeric(5, 2))"
                " ON COMMIT DROP"
            )
            with cursor.cursor.copy("COPY floor_rows FROM STDIN") as copy:
                copy.write(floor_rows)
            cursor.execute(
                "INSERT INTO products_temperaturereading"
                " (storage_unit_id, taken_at, temperature_c, source, batch_id)"
                " SELECT %s, taken_at, temperature_c, 'logger', %s FROM floor_rows"
                " ON CONFLICT (storage_unit_id, taken_at, source) DO NOTHING",
                [unit.pk, batch.pk],
            )
            assert cursor.rowcount == IMPORT_LINES
        seconds = time.perf_counter() - t0
        drop(unit)
        return seconds

    def ours(path, lines, *, trace=False) -> tuple[float, float]:
        unit = fresh_unit()
        if trace:
            tracemalloc.start()
        t0 = time.perf_counter()
        with open(path, "rb") as f:
            result = readings_import_file(unit=unit, file=f, filename="bench.csv", actor=manager)
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 1e6 if trace else 0.0
        if trace:
            tracemalloc.stop()
        assert result.batch.status == "imported", result.batch.summary
        assert result.added == lines, (result.added, lines)
        with open(path, "rb") as f:
            again = readings_import_file(unit=unit, file=f, filename="bench.csv", actor=manager)
        assert again.already_imported and again.added == 0
        drop(unit)
        return seconds, peak

    with tempfile.TemporaryDirectory() as tmp:
        large, small = f"{tmp}/large.csv", f"{tmp}/small.csv"
        logger_file(large, IMPORT_LINES, timezone.localtime(start))
        logger_file(small, IMPORT_LINES // 5, timezone.localtime(start))
        floor()  # warm up
        floors, mine = [], []
        for _ in range(5):
            floors.append(floor())
            mine.append(ours(large, IMPORT_LINES)[0])
        _, peak_small = ours(small, IMPORT_LINES // 5, trace=True)
        _, peak_large = ours(large, IMPORT_LINES, trace=True)
    f_med, m_med = statistics.median(floors), statistics.median(mine)
    ratio = m_med / f_med
    flat = peak_large <= peak_small * 1.5 + 2
    ok = ratio <= 2 and flat
    print(
        f"import {IMPORT_LINES:,} lines: median {m_med:.2f} s; floor (COPY + INSERT … SELECT) "
        f"{f_med:.2f} s; ratio {ratio:.2f}× (target ≤2×); peak memory {peak_small:.1f} MB for "
        f"{IMPORT_LINES // 5:,} lines, {peak_large:.1f} MB for {IMPORT_LINES:,} (target: flat): "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return ok


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


def speed_step(manager, units) -> bool:
    """Issue 19's ratios (``_lot_scale.lot_scale_steps``); True when every target is met."""
    from _lot_scale import lot_scale_steps
    from django.test import Client

    from products.models import Product

    client = Client()
    client.force_login(manager)
    failures = lot_scale_steps(
        client,
        {"stock overview": "/products/stock/", "compliance": "/products/compliance/", "home page": "/"},
        units=units,
        products=list(Product.objects.filter(name__startswith="Bench product").order_by("pk")),
        manager=manager,
    )
    print("issue 19: " + ("; ".join(failures) if failures else "all ratios within target"))
    return not failures


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
    from products.models import Lot, StockMovement, TemperatureReading

    call_command("migrate", verbosity=0)
    location, _ = Location.objects.get_or_create(code="bench", defaults={"name": "Bench site"})
    manager, created = get_user_model().objects.get_or_create(username="bench_manager")
    if created:
        manager.groups.set([Group.objects.get(name=ROLES[MANAGER].group)])
        StaffProfile.objects.get_or_create(user=manager)[0].locations.set([location])
    if "--import-only" in sys.argv:
        sys.exit(0 if import_benchmark(location, manager) else 1)
    units = load(manager, location)
    if "--speed-only" in sys.argv:
        sys.exit(0 if speed_step(manager, units) else 1)
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

    # 3. Import a 100 000-line logger file through the service, against the floor of issue 14.
    results.append(import_benchmark(location, manager))

    # 4. Issue 19: pages against the admin Lot changelist at 2 000 and 20 000 lots.
    results.append(speed_step(manager, units))
    print("\nall targets met" if all(results) else "\nSOME TARGETS MISSED")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
