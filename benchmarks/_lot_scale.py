"""Issue 19 ("Speed"): pages that read lots, timed against the Django admin's Lot changelist.

Shared by ``managers_bench.py`` (the manager's home page) and ``products_bench.py`` (the stock
overview and the compliance page). ``lot_scale_steps`` grows the benchmark's lots to each step
(2 000, then 20 000), then, in the same run, with the same client and the same user (the
manager, given admin access for the comparison), times the admin changelist of lots
(``/admin/products/lot/``: a count and a page of 100 rows) and each page, and prints
``page / admin`` per step. A ratio above ``RATIO_GOAL``, or a query count that changes between
the steps, is a failure.

The lots it adds are realistic for the compliance rules: the benchmark's products are made
cleared (a device class IIa with its CE certificate and instructions for use, approved), nine
lots in ten get their certificate of analysis, one in fifty expires within 60 days, and one
lot in 97 is quarantined, so every count and every filter has rows on both sides. They are
committed and vacuumed (as a running clinic's tables are), then deleted at the end, and the
products given back their state, so the benchmark's other targets see its own data.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time

STEPS = (2_000, 20_000)
RATIO_GOAL = 1.5
RUNS = 15
PREFIX = "SCALE-"
ADMIN_URL = "/admin/products/lot/"
FAKE_FILE = "documents/bench-issue-19.pdf"  # never opened: the pages read the rows only


def _clear_products(products, manager) -> None:
    """Make the benchmark's products cleared for use, as a clinic's catalogue mostly is."""
    from django.utils import timezone

    from products.models import DocumentType, Product, RegulatoryDocument

    today = timezone.localdate()
    Product.objects.filter(pk__in=[p.pk for p in products], approved_at__isnull=True).update(
        classification="device_iia", approved_at=timezone.now(), approved_by=manager
    )
    have = set(RegulatoryDocument.objects.filter(product__in=products).values_list("product_id", "doc_type"))
    docs = [
        _document(doc_type, today, product=product)
        for product in products
        for doc_type in (DocumentType.CE_CERTIFICATE, DocumentType.IFU)
        if (product.pk, doc_type) not in have
    ]
    RegulatoryDocument.objects.bulk_create(docs)


def _document(doc_type: str, today: dt.date, *, product=None, lot=None, expires_in: int = 700):
    from products.models import RegulatoryDocument

    return RegulatoryDocument(
        doc_type=doc_type,
        product=product,
        lot=lot,
        issuer="Bench",
        reference=f"BENCH-{doc_type}-{(lot or product).pk}",
        issued_on=today - dt.timedelta(days=30),
        expires_on=today + dt.timedelta(days=expires_in),
        file_name=FAKE_FILE,
        file_kind="pdf",
        file_size=1,
        sha256="0" * 64,
    )


def grow_lots(target: int, *, units, products, manager) -> int:
    """Add lots (each with its ``received`` ledger row, most with a certificate of analysis)
    until there are ``target`` lots in all; returns how many there are."""
    from django.utils import timezone

    from products.models import DocumentType, Lot, RegulatoryDocument, StockMovement

    _clear_products(products, manager)
    have = Lot.objects.count()
    if have >= target:
        return have
    rng = random.Random(target)
    today = timezone.localdate()
    start = Lot.objects.filter(lot_number__startswith=PREFIX).count()
    t0 = time.perf_counter()
    for chunk in range(0, target - have, 5_000):
        n = min(5_000, target - have - chunk)
        lots = Lot.objects.bulk_create(
            [
                Lot(
                    product=products[i % len(products)],
                    lot_number=f"{PREFIX}{i:06d}",
                    expiry_date=today + dt.timedelta(days=rng.randrange(-30, 700)),
                    received_on=today - dt.timedelta(days=rng.randrange(1, 300)),
                    quantity_received=20,
                    quantity_on_hand=rng.randrange(0, 20),
                    storage_unit=units[i % len(units)],
                    received_by=manager,
                    is_quarantined=i % 97 == 0,
                )
                for i in range(start + chunk, start + chunk + n)
            ]
        )
        StockMovement.objects.bulk_create(
            [StockMovement(lot=lot, kind="received", quantity=20, balance_after=20) for lot in lots]
        )
        RegulatoryDocument.objects.bulk_create(
            [
                _document(DocumentType.COA, today, lot=lot, expires_in=30 if k % 50 == 0 else 700)
                for k, lot in enumerate(lots)
                if k % 10
            ]
        )
    vacuum()
    total = Lot.objects.count()
    print(f"  grew to {total:,} lots in {time.perf_counter() - t0:.1f}s")
    return total


TABLES = ("products_lot", "products_stockmovement", "products_regulatorydocument", "products_product")


def vacuum() -> None:
    """What autovacuum does soon after a bulk load or delete: statistics, dead rows gone, the
    visibility map set (so a measured page sees the tables as a running clinic's are)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")


def remove_added(products, snapshot) -> None:
    """Delete what ``grow_lots`` added and give the products back their clearance state, so
    the benchmark's own data is as it loaded it for its other targets."""
    from django.db import connection, transaction

    from products.models import Product

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM products_regulatorydocument WHERE file_name = %s", [FAKE_FILE])
        cursor.execute(
            "DELETE FROM products_stockmovement WHERE lot_id IN"
            " (SELECT id FROM products_lot WHERE lot_number LIKE %s)",
            [PREFIX + "%"],
        )
        cursor.execute("DELETE FROM products_lot WHERE lot_number LIKE %s", [PREFIX + "%"])
    for pk, fields in snapshot.items():
        Product.objects.filter(pk=pk).update(**fields)
    vacuum()


def _timed(client, url: str) -> float:
    t0 = time.perf_counter()
    response = client.get(url)
    ms = (time.perf_counter() - t0) * 1000
    assert response.status_code == 200, (url, response.status_code)
    return ms


def _queries(client, url: str) -> int:
    """The page's query count: the fewest of three requests, as the session middleware saves
    the session once every 30 s of a run (its extra queries are not the page's)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for _ in range(3):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        counts.append(len(ctx.captured_queries))
    return min(counts)


def lot_scale_steps(
    client, pages: dict[str, str], *, units, products, manager, runs: int = RUNS
) -> list[str]:
    """Time ``pages`` (label → URL) against the admin Lot changelist at each step of ``STEPS``.
    Admin and page requests alternate (other work on the machine slows both alike), and each
    ratio is of the two medians. Returns the failures (empty when every ratio is within
    ``RATIO_GOAL`` and no page's query count changes between the steps)."""
    from django.contrib.auth.models import Permission

    # The manager may read the admin's lot list for the comparison (same user, same scope
    # rules on our pages; the admin shows every lot, so it does at least as much work).
    manager.is_staff = True
    manager.save(update_fields=["is_staff"])
    manager.user_permissions.add(Permission.objects.get(codename="view_lot"))
    from products.models import Product

    snapshot = {
        row.pop("pk"): row
        for row in Product.objects.filter(pk__in=[p.pk for p in products]).values(
            "pk", "classification", "approved_at", "approved_by"
        )
    }
    try:
        return _steps(client, pages, units=units, products=products, manager=manager, runs=runs)
    finally:
        remove_added(products, snapshot)


def _steps(client, pages: dict[str, str], *, units, products, manager, runs: int) -> list[str]:
    failures: list[str] = []
    queries_at: dict[str, list[int]] = {label: [] for label in pages}
    print(f"\nissue 19: pages against the admin Lot changelist ({ADMIN_URL}), target ≤{RATIO_GOAL}×")
    for step in STEPS:
        total = grow_lots(step, units=units, products=products, manager=manager)
        print(f"  {total:,} lots ({ADMIN_URL}: {_queries(client, ADMIN_URL)} queries)")
        for label, url in pages.items():
            client.get(ADMIN_URL), client.get(url)  # warm
            admin, page = [], []
            for _ in range(runs):
                admin.append(_timed(client, ADMIN_URL))
                page.append(_timed(client, url))
            admin_ms, ms = statistics.median(admin), statistics.median(page)
            queries = _queries(client, url)
            size = len(client.get(url).content)
            queries_at[label].append(queries)
            ratio = ms / admin_ms
            ok = ratio <= RATIO_GOAL
            print(
                f"    {label:<15} {url:<22} median {ms:6.1f} ms, admin {admin_ms:6.1f} ms: "
                f"ratio {ratio:4.2f}×  {queries} queries  {size / 1024:.0f} KB  {'PASS' if ok else 'FAIL'}"
            )
            if not ok:
                failures.append(f"{label} {ratio:.2f}× the admin at {total:,} lots")
    for label, counts in queries_at.items():
        if len(set(counts)) != 1:
            failures.append(f"{label} query count grows with lots: {counts}")
    return failures
