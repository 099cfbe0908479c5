"""Demo data for the products app, called by `manage.py seed_demo`. Must be idempotent.

Every product format and source, lots at both sites (some expiring soon, one expired),
storage units with three weeks of readings, and one open excursion in Manchester.
Compliance: every classification the rules know, documents with real (generated) PDF and
PNG files, approvals, and products in every clearance state: cleared, cleared with a
certificate expiring within 60 days, awaiting approval, classification unknown,
investigational, blocked by a lapsed CE certificate, and a lot blocked for lack of its
certificate of analysis. Each step checks what exists first, so a second run changes nothing.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from products.models import (
    Classification,
    DocumentType,
    Excursion,
    Lot,
    MovementKind,
    OpenedVial,
    Product,
    RegulatoryDocument,
    ReorderLevel,
    StockMovement,
    StorageUnit,
    TemperatureReading,
)
from products.models.coldchain import UnitKind
from products.services import (
    document_upload,
    lot_receive,
    product_approve,
    product_classify,
    product_save,
    reading_record,
    readings_import_file,
    reorder_level_set,
    stock_transfer,
    stock_waste,
    storage_unit_save,
    vial_open,
)

D = Decimal

# name, manufacturer, supplier, source, format, gtin, vial mL, diluent (name, mL), use within h, extras
PRODUCTS = [
    (
        "Kimeravive Exosome Serum",
        "Kimeravive",
        "Kimeravive UK",
        "msc_umbilical",
        "refrigerated_liquid",
        "05060000000016",
        D("5"),
        None,
        24,
        {"route_intradermal": True, "concentration_per_ml": D("20000000000")},
    ),
    (
        "Benev Exosome Regenerative Complex+",
        "Benev",
        "Benev Europe",
        "msc_adipose",
        "lyophilised",
        "00850000000018",
        D("1"),
        ("Benev Hydrating Solution", D("5")),
        4,
        {"concentration_per_ml": D("10000000000")},
    ),
    (
        "ExoCel Bio Amniotic Exosomes",
        "ExoCel Bio",
        "ExoCel Bio Ltd",
        "amniotic",
        "frozen",
        "05060000000023",
        D("2"),
        None,
        6,
        {"route_intradermal": True, "route_scalp": True},
    ),
    (
        "Rion Platelet Exosome Serum",
        "Rion Aesthetics",
        "Rion Aesthetics",
        "platelet_allogeneic",
        "refrigerated_liquid",
        "05060000000030",
        D("3"),
        None,
        48,
        {},
    ),
    (
        "HydraFacial Exosome Booster",
        "HydraFacial",
        "HydraFacial UK",
        "plant",
        "refrigerated_liquid",
        "05060000000047",
        D("3"),
        None,
        24,
        {"areas": "face, neck"},
    ),
    (
        "ExoHair BM Lyophilised (MFDS)",
        "Hanbit Biolab",
        "K-Aesthetics Import",
        "msc_bone_marrow",
        "lyophilised",
        "08800000000015",
        D("1"),
        ("Sterile water for injection", D("3")),
        4,
        {"route_scalp": True, "route_intradermal": True, "areas": "scalp"},
    ),
    (
        "Placenta Exo Ampoule",
        "Placentex Labs",
        "Aesthetic Supplies Ltd",
        "placenta",
        "frozen",
        "05060000000054",
        D("2"),
        None,
        6,
        {"periorbital_suitable": True, "route_intradermal": True},
    ),
    (
        "Autologous platelet exosome balm (take-home)",
        "Clinic-made",
        "",
        "platelet_autologous",
        "take_home",
        "",
        D("10"),
        None,
        336,
        {"areas": "face"},
    ),
    (
        "Secretome Recovery Gel",
        "DermaSecretome",
        "Aesthetic Supplies Ltd",
        "conditioned_media",
        "refrigerated_liquid",
        "05060000000061",
        D("5"),
        None,
        72,
        {},
    ),
    (
        "Exo Hybrid Mist",
        "NovaExo",
        "Aesthetic Supplies Ltd",
        "other",
        "lyophilised",
        "05060000000078",
        D("1"),
        ("Saline 0.9%", D("2")),
        8,
        {},
    ),
]

UNITS = [
    ("marylebone", "Pharmacy fridge", UnitKind.FRIDGE, "LOG-MB-01"),
    ("marylebone", "Deep freezer −80", UnitKind.FREEZER_80, "LOG-MB-02"),
    ("manchester", "Treatment-room fridge", UnitKind.FRIDGE, ""),
    ("manchester", "Freezer −20", UnitKind.FREEZER_20, "LOG-MC-01"),
]

# product index, unit name, lot number, days to expiry, quantity
LOTS = [
    (0, "Pharmacy fridge", "KV2411A", 240, 20),
    (0, "Treatment-room fridge", "KV2411B", 240, 8),
    (1, "Pharmacy fridge", "BN-5531", 400, 30),
    (1, "Pharmacy fridge", "BN-5520", 18, 6),  # expiring soon
    (2, "Deep freezer −80", "EX-A77", 300, 12),
    (2, "Freezer −20", "EX-A78", 120, 5),
    (3, "Pharmacy fridge", "RION-0912", 25, 10),  # expiring soon
    (4, "Treatment-room fridge", "HF-3301", 180, 15),
    (5, "Pharmacy fridge", "HB-24-118", 500, 20),
    (6, "Deep freezer −80", "PLX-904", 200, 6),
    (7, "Pharmacy fridge", "TH-2026-01", 12, 4),  # take-home: short life
    (8, "Treatment-room fridge", "SRG-661", 90, 10),
    (9, "Pharmacy fridge", "NX-0042", 150, 8),
    (3, "Pharmacy fridge", "RION-0801", 20, 3),  # will be the expired one
]
EXPIRED_LOT = "RION-0801"
# Received without its certificate of analysis: blocked until one is uploaded.
LOT_WITHOUT_COA = "PLX-904"

# product index: classification, jurisdictions, intended routes, documents, approved.
# A document: (type, issuer, days since issue, days to expiry or None, "pdf" | "png").
C, T = Classification, DocumentType
COMPLIANCE = {
    # Cleared, but its CE certificate runs out within 60 days (a dashboard warning).
    0: (C.DEVICE_IIB, ["EU", "UK"], ("topical", "intradermal"),
        [(T.CE_CERTIFICATE, "BSI Group", 1050, 45, "pdf"), (T.IFU, "Kimeravive", 200, None, "pdf"),
         (T.SDS, "Kimeravive", 200, None, "pdf")], True),
    1: (C.COSMETIC, ["EU", "KR", "UK"], ("topical",), [(T.SDS, "Benev", 300, None, "pdf")], True),
    2: (C.ATMP, ["UK"], ("intradermal", "scalp"),
        [(T.ATMP_AUTHORISATION, "MHRA", 400, 700, "pdf"), (T.IFU, "ExoCel Bio", 400, None, "png")], True),
    3: (C.DEVICE_IIA, ["EU", "UK"], ("topical",),
        [(T.DECLARATION, "Rion Aesthetics", 500, 900, "pdf"), (T.IFU, "Rion Aesthetics", 500, None, "pdf")],
        True),
    4: (C.COSMETIC, ["UK", "US"], ("topical",), [(T.SDS, "HydraFacial", 100, None, "pdf")], True),
    # Classification known and nothing clears it.
    5: (C.INVESTIGATIONAL, ["UK"], ("scalp",), [(T.MANUFACTURING, "MFDS", 600, 500, "pdf")], False),
    # Cleared product; its lot PLX-904 has no certificate of analysis.
    6: (C.DEVICE_III, ["EU"], ("intradermal",),
        [(T.CE_CERTIFICATE, "TÜV SÜD", 300, 1000, "pdf"), (T.IFU, "Placentex Labs", 300, None, "pdf")], True),
    # 7: the clinic-made take-home stays "unknown" (nothing stated; not to be used).
    # Documents complete, waiting for a manager's approval.
    8: (C.DEVICE_I, ["UK"], ("topical",),
        [(T.DECLARATION, "DermaSecretome", 90, 1000, "pdf"), (T.IFU, "DermaSecretome", 90, None, "pdf")],
        False),
    # Approved while its CE certificate was valid; the certificate has since lapsed.
    9: (C.DEVICE_I, ["EU"], ("topical",),
        [(T.CE_CERTIFICATE, "SGS", 1100, 30, "pdf"), (T.IFU, "NovaExo", 300, None, "pdf")], True),
}  # fmt: skip
LAPSED = {9: T.CE_CERTIFICATE}
REFERENCE_PREFIX = {
    T.CE_CERTIFICATE: "CE",
    T.DECLARATION: "DoC",
    T.IFU: "IFU",
    T.SDS: "SDS",
    T.ATMP_AUTHORISATION: "ATMP",
    T.MANUFACTURING: "MFDS-GMP",
}
EXCURSION_UNIT = "Treatment-room fridge"


def _products(manager) -> list[Product]:
    products = []
    for name, maker, supplier, source, fmt, gtin, volume, diluent, hours, extra in PRODUCTS:
        product = Product.objects.filter(name=name).first()
        if product is None:
            product = Product(
                name=name,
                manufacturer=maker,
                supplier=supplier,
                source=source,
                format=fmt,
                gtin=gtin,
                vial_volume_ml=volume,
                use_within_hours=hours,
                unit_cost=D("95.00") + len(products) * 15,
                diluent=diluent[0] if diluent else "",
                diluent_volume_ml=diluent[1] if diluent else None,
                **extra,
            )
            product_save(product=product, actor=manager)
        products.append(product)
    return products


def demo_pdf(title: str) -> bytes:
    """A small valid one-page PDF showing ``title`` (enough for clinic.files and a viewer)."""
    text = title.replace("\\", "").replace("(", "").replace(")", "")[:80]
    stream = f"BT /F1 14 Tf 50 780 Td ({text}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def demo_png(title: str) -> bytes:
    """A small PNG (a scanned leaflet stand-in) made with Pillow."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (400, 120), "white")
    ImageDraw.Draw(image).text((10, 50), title[:60], fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _demo_file(title: str, kind: str):
    import io

    data = demo_png(title) if kind == "png" else demo_pdf(title)
    upload = io.BytesIO(data)
    upload.name = f"{title}.{kind}"
    return upload


def _compliance(products, manager) -> None:
    today = timezone.localdate()
    for index, (classification, places, routes, documents, approved) in COMPLIANCE.items():
        product = products[index]
        if product.classification == Classification.UNKNOWN:
            product = product_classify(
                actor=manager,
                product=product,
                classification=classification,
                jurisdictions=places,
                intended_topical="topical" in routes,
                intended_intradermal="intradermal" in routes,
                intended_scalp="scalp" in routes,
            )
        for doc_type, issuer, age, days_left, kind in documents:
            reference = f"{REFERENCE_PREFIX[doc_type]}-{product.pk:03d}"
            if RegulatoryDocument.objects.filter(product=product, reference=reference).exists():
                continue
            document_upload(
                actor=manager,
                doc_type=doc_type,
                product=product,
                issuer=issuer,
                reference=reference,
                issued_on=today - dt.timedelta(days=age),
                expires_on=today + dt.timedelta(days=days_left) if days_left else None,
                upload=_demo_file(f"{product.name} {DocumentType(doc_type).label}", kind),
            )
        if approved and product.approved_at is None:
            product_approve(actor=manager, product=product)
        products[index] = product
    # A renewal kept on file: HydraFacial's safety data sheet was reissued this year.
    sds = RegulatoryDocument.objects.filter(
        product=products[4], doc_type=T.SDS, supersedes__isnull=True
    ).first()
    if (
        sds is not None
        and not RegulatoryDocument.objects.filter(product=products[4], reference="SDS-2026").exists()
    ):
        document_upload(
            actor=manager,
            doc_type=T.SDS,
            product=products[4],
            issuer="HydraFacial",
            reference="SDS-2026",
            issued_on=today - dt.timedelta(days=20),
            upload=_demo_file("HydraFacial Exosome Booster safety data sheet 2026", "pdf"),
            supersedes=sds,
        )


def _lapse(products) -> None:
    """Approved while valid, lapsed since (like the expired lot: received in time)."""
    today = timezone.localdate()
    for index, doc_type in LAPSED.items():
        RegulatoryDocument.objects.current().filter(
            product=products[index], doc_type=doc_type, expires_on__gte=today
        ).update(expires_on=today - dt.timedelta(days=10))


def _coa(lot: Lot, manager) -> None:
    if lot.lot_number == LOT_WITHOUT_COA or lot.documents.filter(doc_type=DocumentType.COA).exists():
        return
    document_upload(
        actor=manager,
        doc_type=DocumentType.COA,
        lot=lot,
        issuer=lot.product.manufacturer,
        reference=f"COA-{lot.lot_number}",
        issued_on=lot.manufactured_on or timezone.localdate() - dt.timedelta(days=30),
        upload=_demo_file(f"Certificate of analysis {lot.product.name} lot {lot.lot_number}", "pdf"),
    )


def _units(locations, manager) -> dict[str, StorageUnit]:
    units = {}
    for code, name, kind, logger in UNITS:
        unit = StorageUnit.objects.filter(location=locations[code], name=name).first()
        if unit is None:
            unit = StorageUnit(
                location=locations[code],
                name=name,
                kind=kind,
                logger_id=logger,
                calibration_expires_on=timezone.localdate() + dt.timedelta(days=200),
            )
            storage_unit_save(unit=unit, actor=manager)
        units[name] = unit
    return units


def _readings(unit: StorageUnit, manager, rng: random.Random) -> None:
    """Three weeks: logger samples every 15 min (in range), manual checks morning and evening."""
    if unit.readings.exists():
        return
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - dt.timedelta(days=21)
    mid = (unit.min_c + unit.max_c) / 2
    swing = float(unit.max_c - unit.min_c) * 0.25
    if unit.logger_id:
        # Imported as its logger exports it (a LogTag-style file, local time, day-first), so
        # the unit page shows the import and its summary; three hours are missing five days
        # ago (the logger's battery), which the page and the chart flag as missing data.
        gap = (now - dt.timedelta(days=5, hours=3), now - dt.timedelta(days=5))
        lines = [
            "Product,TRIX-8",
            f"Serial #,{unit.logger_id}",
            "Reading interval,15 minutes",
            "",
            "Reading,Date,Time,Temperature (°C)",
        ]
        t, k = start, 0
        while t < now:
            hours = (t - start).total_seconds() / 3600
            value = float(mid) + swing * math.sin(hours / 12 * math.pi) + rng.uniform(-0.2, 0.2)
            if not gap[0] <= t < gap[1]:
                local = timezone.localtime(t)
                k += 1
                lines.append(f"{k},{local:%d/%m/%Y},{local:%H:%M:%S},{value:.2f}")
            t += dt.timedelta(minutes=15)
        readings_import_file(
            unit=unit, file=("\r\n".join(lines) + "\r\n").encode("utf-8-sig"),
            filename=f"{unit.logger_id}-{now:%Y%m%d}.csv", actor=manager,
        )  # fmt: skip
    tz = timezone.get_current_timezone()
    day = timezone.localdate() - dt.timedelta(days=21)
    while day < timezone.localdate():
        # One skipped evening a week, so the missed-check list has something to show.
        if day.weekday() < 5:
            for hour in (8, 17):
                if hour == 17 and day.weekday() == 2:
                    continue
                when = dt.datetime.combine(day, dt.time(hour, rng.randint(0, 40)), tz)
                value = mid + D(f"{rng.uniform(-1, 1):.1f}")
                TemperatureReading.objects.create(
                    storage_unit=unit,
                    taken_at=when,
                    temperature_c=value,
                    min_c=value - 1,
                    max_c=value + 1,
                    source="manual",
                    recorded_by=manager,
                )
        day += dt.timedelta(days=1)


#: Demo lots arrived this long ago: before the oldest treatment the clinical demo charts.
RECEIVED_DAYS_AGO = 400


def received_at(day: dt.date) -> dt.datetime:
    """A delivery's booking-in time on ``day``: mid-morning, local time."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time(10, 30)))


def ledger_rebalance(lots) -> int:
    """Restate ``balance_after`` in date order on the lots' ledgers, after the demo dated its
    rows by the treatments and deliveries they record (charted patient by patient, they were
    written out of date order). The sum, and so each lot's count, is unchanged. Demo only:
    a real ledger is written in order and never edited."""
    changed = []
    for lot in lots.prefetch_related("movements"):
        balance = 0
        for move in sorted(lot.movements.all(), key=lambda m: (m.created_at, m.pk)):
            balance += move.quantity
            if move.balance_after != balance:
                move.balance_after = balance
                changed.append(move)
    StockMovement.objects.bulk_update(changed, ["balance_after"], batch_size=500)
    return len(changed)


def _lots(products, units, manager, practitioner) -> None:
    today = timezone.localdate()
    received_on = today - dt.timedelta(days=RECEIVED_DAYS_AGO)
    for index, unit_name, number, days, quantity in LOTS:
        product = products[index]
        if Lot.objects.filter(product=product, lot_number=number).exists():
            continue
        lot = lot_receive(
            actor=manager,
            product=product,
            lot_number=number,
            expiry_date=today + dt.timedelta(days=days),
            quantity=quantity,
            storage_unit=units[unit_name],
            gtin=product.gtin,
            manufactured_on=today - dt.timedelta(days=RECEIVED_DAYS_AGO + 30),
            received_on=received_on,
            supplier_reference=f"INV-{number}",
            arrival_temperature_c=(units[unit_name].min_c + units[unit_name].max_c) / 2,
            logger_ok=True,
        )
        # The ledger row carries the day of the delivery it records, not the time of seeding,
        # so the usage chart, the ledger and the recall look-up tell one story.
        StockMovement.objects.filter(lot=lot, kind=MovementKind.RECEIVED).update(
            created_at=received_at(received_on)
        )
        _coa(lot, manager)
        if number == EXPIRED_LOT:
            # Received in time, now past its date: shown as expired, refused for use.
            Lot.objects.filter(pk=lot.pk).update(expiry_date=today - dt.timedelta(days=3))
            continue
        # Vials are used by the treatments the clinical demo charts (each with its record and
        # its date); none leave the ledger here without one.
        if number == "KV2411A":
            waste = stock_waste(
                lot=lot, quantity=1, reason="broken", actor=manager, note="Dropped while unpacking"
            )
            StockMovement.objects.filter(pk=waste.pk).update(
                created_at=received_at(received_on) + dt.timedelta(minutes=20)
            )


#: A lot kept at both sites: this many of its vials were sent to Manchester a month after it came.
SPLIT_LOT, SPLIT_TO, SPLIT_VIALS = "HB-24-118", "Treatment-room fridge", 5


def _split(units, manager) -> None:
    """Part of one Marylebone lot lent to Manchester, so the lot page shows stock by place."""
    lot = Lot.objects.filter(lot_number=SPLIT_LOT, origin__isnull=True).first()
    if lot is None or lot.branches.exists():
        return
    sent = stock_transfer(
        lot=lot, to_unit=units[SPLIT_TO], quantity=SPLIT_VIALS, actor=manager, note="Stock for Manchester"
    )
    when = received_at(lot.received_on + dt.timedelta(days=30))
    rows = StockMovement.objects.filter(
        kind__in=[MovementKind.TRANSFER_OUT, MovementKind.TRANSFER_IN], created_at__gte=sent.created_at
    ).filter(lot__in=lot.family())
    rows.update(created_at=when)
    ledger_rebalance(lot.family())


#: (product index, location code, minimum, reorder quantity): one product low at Marylebone.
REORDER_LEVELS = [(1, "marylebone", 40, 30), (0, "marylebone", 10, 20), (0, "manchester", 4, 10)]


def _reorder_levels(products, locations, manager) -> None:
    for index, code, minimum, quantity in REORDER_LEVELS:
        if not ReorderLevel.objects.filter(product=products[index], location=locations[code]).exists():
            reorder_level_set(
                product=products[index], location=locations[code], minimum=minimum,
                reorder_quantity=quantity, actor=manager,
            )  # fmt: skip


def seed(*, locations, users, stdout) -> None:
    manager, practitioner = users["manager"], users["practitioner"]
    rng = random.Random(3)
    with transaction.atomic():
        products = _products(manager)
        _compliance(products, manager)
        units = _units(locations, manager)
        for unit in units.values():
            _readings(unit, manager, rng)
        _lots(products, units, manager, practitioner)
        _split(units, manager)
        _reorder_levels(products, locations, manager)
        lot = Lot.objects.filter(lot_number="BN-5531").first()
        if lot is not None and not OpenedVial.objects.filter(lot=lot).exists():
            vial_open(lot=lot, actor=practitioner, opened_at=timezone.now() - dt.timedelta(hours=1))
        _lapse(products)
        unit = units[EXCURSION_UNIT]
        if not Excursion.objects.filter(storage_unit=unit).exists():
            # The treatment-room fridge warmed up this morning: an open excursion to review.
            reading_record(
                unit=unit,
                actor=practitioner,
                temperature_c=D("9.8"),
                min_c=D("6.1"),
                max_c=D("11.4"),
                taken_at=timezone.now() - dt.timedelta(hours=2),
            )
    counts = (
        f"{Product.objects.count()} products, {Lot.objects.count()} lots, "
        f"{StorageUnit.objects.count()} storage units, {TemperatureReading.objects.count()} readings, "
        f"{Excursion.objects.open().count()} open excursion(s), "
        f"{RegulatoryDocument.objects.count()} regulatory documents, "
        f"{Product.objects.cleared().count()} cleared products"
    )
    stdout.write("  " + counts)


def seed_scale(*, n: int, locations, users, stdout) -> None:
    """About one lot per ten patients, bulk-created with their received movement."""
    products = list(Product.objects.active())
    units = list(StorageUnit.objects.filter(kind=UnitKind.FRIDGE))
    fridge_products = [p for p in products if p.max_c >= D("8") and p.min_c <= D("2")]
    if not units or not fridge_products:
        return
    today = timezone.localdate()
    wanted = max(1, n // 10)
    lots = [
        Lot(
            product=fridge_products[i % len(fridge_products)],
            lot_number=f"SCALE-{i:06d}",
            expiry_date=today + dt.timedelta(days=20 + i % 700),
            quantity_received=10,
            quantity_on_hand=10,
            storage_unit=units[i % len(units)],
            received_by=users["manager"],
        )
        for i in range(wanted)
    ]
    with transaction.atomic():
        Lot.objects.bulk_create(lots, batch_size=2000, ignore_conflicts=True)
        fresh = Lot.objects.filter(lot_number__startswith="SCALE-", movements__isnull=True)
        StockMovement.objects.bulk_create(
            [
                StockMovement(lot=lot, kind="received", quantity=10, balance_after=10, note="scale demo")
                for lot in fresh
            ],
            batch_size=2000,
        )
    stdout.write(f"  {wanted} scale lots")
