"""The stock and cold-chain sweeps: set-based passes that write managers' alerts to the outbox.

- Product expiry: lots reaching 30 days, 7 days and their expiry date (PRODUCT_EXPIRY_ALERT_DAYS),
  once per lot and threshold, folded into one digest per location and manager per day.
- Excursions: an email to every reviewing manager as soon as an excursion opens (the
  products service already writes the in-site alert when it opens the excursion).
- Missed temperature checks: a working half-day an active unit went without a manual
  check, once per unit and half-day.
- Logger gaps: missing data-logger samples (``products.services.checks.logger_gaps``) long
  enough to matter, once per unit and gap, including gaps a late file has just revealed.
- Low stock: reorder levels whose usable stock fell below the minimum, once per crossing,
  folded into one digest per location and manager per day.
- Certificates: calibration certificates of storage units (and, through
  ``document_expiry_alerts``, any regulatory document) reaching 60 and 30 days.

Every sweep runs a fixed number of queries whatever the amount of data, and writes with
deterministic dedupe keys, so running it twice (or twice at once) alerts once.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TypeVar

from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, Max, OuterRef, Q, Subquery
from django.utils import timezone

from clinic.models import Notification
from clinic.notifications import (
    NotificationKind,
    alert_marks_missing,
    alert_marks_set,
    digest_key,
    notifications_bulk_queue,
    safe_reverse,
    staff_alert_rows,
    staff_recipients,
)
from products.models import Excursion, Lot, StorageUnit, TemperatureReading
from products.models.coldchain import ReadingSource
from products.models.reorder import USE_WINDOW_DAYS, ReorderLevel
from products.services.checks import (
    Gap,
    LoggerInterval,
    last_manual_check_periods,
    logger_gaps_by_unit,
    logger_intervals,
)

# Who is alerted, by permission (roles grant them; see clinic/roles.py).
EXPIRY_PERMISSION = "products.hold_stock"
EXCURSION_PERMISSION = "products.review_excursion"
COLD_CHAIN_PERMISSION = "products.change_storageunit"
DOCUMENT_PERMISSION = "products.add_regulatorydocument"
REORDER_PERMISSION = "products.change_reorderlevel"


_STAMP = "%Y%m%dT%H%M%SZ"


def _today(now: dt.datetime | None) -> tuple[dt.datetime, dt.date]:
    now = now or timezone.now()
    return now, timezone.localdate(now)


def _threshold_reached(days_left: int, thresholds: list[int]) -> int | None:
    """The tightest threshold a date has reached (30, 7, 0 → 5 days left gives 7)."""
    reached = [t for t in thresholds if days_left <= t]
    return min(reached) if reached else None


# --- Product expiry digest --------------------------------------------------------------------


def _expiry_label(threshold: int) -> str:
    return "Expired or expiring today" if threshold == 0 else f"Expiring within {threshold} days"


T = TypeVar("T")


def _new_by_location(
    candidates: dict[str, T], location_of: Callable[[T], int]
) -> dict[int, list[tuple[str, T]]]:
    """The causes of a digest not alerted yet (no ``AlertMark`` for their key), grouped by the
    location whose managers hear of them, in the candidates' order."""
    new = alert_marks_missing(candidates)
    by_location: dict[int, list[tuple[str, T]]] = defaultdict(list)
    for key, item in candidates.items():
        if key in new:
            by_location[location_of(item)].append((key, item))
    return by_location


def product_expiry_sweep(*, now: dt.datetime | None = None) -> int:
    """One digest per location and manager of the lots that reached an expiry threshold.

    Each lot is alerted once per threshold (recorded as an ``AlertMark``). A lot first seen
    past several thresholds is alerted for the tightest one only. Returns the rows offered.
    """
    now, today = _today(now)
    thresholds = settings.PRODUCT_EXPIRY_ALERT_DAYS
    if not thresholds:
        return 0
    lots = (
        Lot.objects.on_shelf()
        .expiring_by(today + dt.timedelta(days=max(thresholds)))
        .order_by("expiry_date", "pk")
        .values(
            "pk",
            "lot_number",
            "expiry_date",
            "quantity_on_hand",
            "is_quarantined",
            "product__name",
            "storage_unit__name",
            "storage_unit__location_id",
            "storage_unit__location__name",
        )
    )
    candidates: dict[str, dict] = {}
    for lot in lots:
        days_left = (lot["expiry_date"] - today).days
        threshold = _threshold_reached(days_left, thresholds)
        if threshold is None:
            continue
        key = f"lot_expiry:{lot['pk']}:{lot['expiry_date'].isoformat()}:{threshold}"
        candidates[key] = {**lot, "days_left": days_left, "threshold": threshold}
    by_location = _new_by_location(candidates, lambda lot: lot["storage_unit__location_id"])
    recipients = staff_recipients(EXPIRY_PERMISSION, by_location)
    rows: list[Notification] = []
    marked: list[str] = []
    link = safe_reverse("products:lot_list")
    for location_id, items in by_location.items():
        people = recipients.get(location_id)
        if not people:
            # Nobody to tell yet: leave the lots unmarked so a manager added later hears of them.
            continue
        groups = []
        for threshold in sorted({lot["threshold"] for _, lot in items}):
            groups.append(
                {
                    "label": _expiry_label(threshold),
                    "lots": [lot for _, lot in items if lot["threshold"] == threshold],
                }
            )
        keys = [key for key, _ in items]
        rows += staff_alert_rows(
            kind=NotificationKind.PRODUCT_EXPIRY_DIGEST,
            recipients=people,
            location_id=location_id,
            # Same day and same content → same key: two sweeps at once write one digest;
            # a lot crossing a threshold later in the day makes a new digest.
            dedupe_key=f"expiry_digest:{location_id}:{today.isoformat()}:{digest_key(keys)}",
            template="expiry_digest",
            context={
                "location_name": items[0][1]["storage_unit__location__name"],
                "groups": groups,
                "count": len(items),
                "today": today,
            },
            link=link,
        )
        marked += keys
    with transaction.atomic():
        written = notifications_bulk_queue(rows)
        alert_marks_set(marked)
    return written


# --- Excursions -------------------------------------------------------------------------------


def excursion_alerts_sweep(*, now: dt.datetime | None = None) -> int:
    """Email every reviewing manager about each open excursion, once (the in-site alert is
    written by the products service as the excursion opens). Returns the rows offered."""
    excursions = list(
        Excursion.objects.open().values(
            "pk",
            "started_at",
            "lowest_c",
            "highest_c",
            "storage_unit__name",
            "storage_unit__min_c",
            "storage_unit__max_c",
            "storage_unit__location_id",
            "storage_unit__location__name",
        )
    )
    recipients = staff_recipients(EXCURSION_PERMISSION, (e["storage_unit__location_id"] for e in excursions))
    rows: list[Notification] = []
    for excursion in excursions:
        people = recipients.get(excursion["storage_unit__location_id"])
        if not people:
            continue
        rows += staff_alert_rows(
            kind=NotificationKind.EXCURSION_OPENED,
            recipients=people,
            location_id=excursion["storage_unit__location_id"],
            dedupe_key=f"excursion_email:{excursion['pk']}",
            template="excursion_alert",
            context={
                "unit_name": excursion["storage_unit__name"],
                "location_name": excursion["storage_unit__location__name"],
                "started_at": timezone.localtime(excursion["started_at"]),
                "lowest_c": excursion["lowest_c"],
                "highest_c": excursion["highest_c"],
                "min_c": excursion["storage_unit__min_c"],
                "max_c": excursion["storage_unit__max_c"],
            },
            link=safe_reverse("products:excursion_detail", excursion["pk"]),
            in_app=False,
        )
    return notifications_bulk_queue(rows)


# --- Missed temperature checks -----------------------------------------------------------------

# Checks half-days back: a sweep that did not run (worker down) is caught up on the next run.
MISSED_CHECK_LOOKBACK = 2


def missed_check_sweep(*, now: dt.datetime | None = None) -> int:
    """Alert managers about each working half-day an active unit went without a manual check.

    Once per unit and half-day; half-days before a unit's first reading do not count (a new
    unit), and a unit never checked at all is alerted once.
    """
    now, _ = _today(now)
    slots = last_manual_check_periods(now, MISSED_CHECK_LOOKBACK)
    manual = TemperatureReading.objects.filter(storage_unit=OuterRef("pk"), source=ReadingSource.MANUAL)
    checked = {
        f"checked_{i}": Exists(manual.filter(taken_at__gte=start, taken_at__lt=end))
        for i, (start, end) in enumerate(slots)
    }
    units = list(
        StorageUnit.objects.filter(is_active=True)
        .annotate(
            last_manual=Subquery(
                manual.filter(taken_at__lte=now).order_by("-taken_at").values("taken_at")[:1]
            ),
            first_reading=Subquery(
                TemperatureReading.objects.filter(storage_unit=OuterRef("pk"))
                .order_by("taken_at")
                .values("taken_at")[:1]
            ),
            **checked,
        )
        .values("pk", "name", "location_id", "location__name", "last_manual", "first_reading", *checked)
    )
    missed: list[tuple[dict, str, tuple | None]] = []
    for unit in units:
        if unit["first_reading"] is None:
            missed.append((unit, "never", None))
            continue
        for i, slot in enumerate(slots):
            if not unit[f"checked_{i}"] and slot[0] >= unit["first_reading"]:
                missed.append((unit, slot[0].astimezone(dt.UTC).strftime(_STAMP), slot))
    recipients = staff_recipients(COLD_CHAIN_PERMISSION, (unit["location_id"] for unit, _, _ in missed))
    rows: list[Notification] = []
    for unit, since, period in missed:
        people = recipients.get(unit["location_id"])
        if not people:
            continue
        last = unit["last_manual"]
        rows += staff_alert_rows(
            kind=NotificationKind.COLDCHAIN_MISSED_CHECK,
            recipients=people,
            location_id=unit["location_id"],
            dedupe_key=f"missed_check:{unit['pk']}:{since}",
            template="missed_check_alert",
            context={
                "unit_name": unit["name"],
                "location_name": unit["location__name"],
                "last_check": timezone.localtime(last) if last else None,
                "slot_start": timezone.localtime(period[0]) if period else None,
                "slot_end": timezone.localtime(period[1]) if period else None,
            },
            link=safe_reverse("products:unit_detail", unit["pk"]),
        )
    return notifications_bulk_queue(rows)


# --- Logger gaps ------------------------------------------------------------------------------

# Files arrive late (a logger read out a week after): look back far enough that a gap an
# import has just revealed is still alerted. The database finds the gaps; Python sees only them.
LOGGER_GAP_LOOKBACK = dt.timedelta(days=35)
LOGGER_GAP_ALERT_INTERVALS = 3
LOGGER_GAP_ALERT_MINIMUM = dt.timedelta(minutes=15)


def logger_gap_alert_after(interval: LoggerInterval) -> dt.timedelta:
    """The shortest logger gap that alerts: three intervals and at least 15 minutes."""
    return max(interval.value * LOGGER_GAP_ALERT_INTERVALS, LOGGER_GAP_ALERT_MINIMUM)


def logger_gap_sweep(*, now: dt.datetime | None = None) -> int:
    """Alert managers (those told of missed checks) about missing data-logger data.

    Every gap of ``logger_gaps`` (samples more than 1.5 intervals apart) on an active unit in
    the last ``LOGGER_GAP_LOOKBACK`` (35 days), from the last sample before to the first
    after, is shown on the unit page and report; it alerts only when it lasts at least three
    intervals and at least 15 minutes (``logger_gap_alert_after``), so a single dropped
    sample of a 5-minute log pages nobody, and a gap wholly before the unit existed does not
    count. Once per unit and gap (keyed on the gap's start, in UTC): running again, or a
    later import that leaves the gap as it was, alerts nothing new. A networked logger that
    has gone silent is alerted while the silence lasts (``_silent_feed_loggers``), and the
    gap its return closes is not alerted again. A fixed number of queries.
    Returns the rows offered.
    """
    now, _ = _today(now)
    units = list(StorageUnit.objects.filter(is_active=True).select_related("location").order_by("pk"))
    found = logger_gaps_by_unit(units, since=now - LOGGER_GAP_LOOKBACK, until=now)
    candidates: dict[str, tuple[StorageUnit, Gap]] = {}
    for unit in units:
        for gap in found.get(unit.pk, []):
            if gap.interval is None or gap.duration < logger_gap_alert_after(gap.interval):
                continue
            if unit.created_at and gap.before <= unit.created_at:
                continue
            key = f"logger_gap:{unit.pk}:{gap.after.astimezone(dt.UTC).strftime(_STAMP)}"
            candidates[key] = (unit, gap)
    candidates.update(_silent_feed_loggers(units, now))
    # A gap that ends a silence already alerted (the same unit and last sample) was told then.
    twins = {
        k: "logger_silent:" + k.removeprefix("logger_gap:") for k in candidates if k.startswith("logger_gap:")
    }
    missing = alert_marks_missing([*candidates, *twins.values()])
    new = {k for k in candidates if k in missing and (k not in twins or twins[k] in missing)}
    recipients = staff_recipients(COLD_CHAIN_PERMISSION, (candidates[k][0].location_id for k in new))
    rows: list[Notification] = []
    marked: list[str] = []
    for key in sorted(new):
        unit, gap = candidates[key]
        people = recipients.get(unit.location_id)
        if not people:
            # Nobody to tell yet: leave it unmarked so a manager added later hears of it.
            continue
        rows += staff_alert_rows(
            kind=NotificationKind.COLDCHAIN_LOGGER_GAP,
            recipients=people,
            location_id=unit.location_id,
            dedupe_key=key,
            template="logger_gap_alert",
            context={
                "unit_name": unit.name,
                "location_name": unit.location.name,
                "logger_id": unit.logger_id,
                "gap_start": timezone.localtime(gap.after),
                "gap_end": timezone.localtime(gap.before),
                "gap_minutes": round(gap.duration.total_seconds() / 60),
                "interval_label": gap.interval.label if gap.interval else "",
                "ongoing": key.startswith("logger_silent:"),
            },
            link=safe_reverse("products:unit_detail", unit.pk),
        )
        marked.append(key)
    with transaction.atomic():
        written = notifications_bulk_queue(rows)
        alert_marks_set(marked)
    return written


def _silent_feed_loggers(units: list[StorageUnit], now: dt.datetime) -> dict[str, tuple[StorageUnit, Gap]]:
    """Networked loggers that have stopped sending: a unit with a live feed token that has
    pushed before, whose last logger sample is older than the gap that alerts. (A gap needs
    a sample after it; a logger that pushes does not wait for a file, so its silence is
    known now.) Once per unit and last sample. Two queries."""
    fed = list(
        StorageUnit.objects.filter(
            pk__in=[u.pk for u in units],
            feed_tokens__revoked_at__isnull=True,
            feed_tokens__last_used_at__isnull=False,
        )
        .annotate(last_sample=Max("readings__taken_at", filter=Q(readings__source=ReadingSource.LOGGER)))
        .select_related("location")
        .distinct()
    )
    if not fed:
        return {}
    intervals = logger_intervals(fed, until=now)
    found: dict[str, tuple[StorageUnit, Gap]] = {}
    for unit in fed:
        last = unit.last_sample
        interval = intervals[unit.pk]
        if last is None or now - last < logger_gap_alert_after(interval):
            continue
        key = f"logger_silent:{unit.pk}:{last.astimezone(dt.UTC).strftime(_STAMP)}"
        found[key] = (unit, Gap(ReadingSource.LOGGER, last, now, interval))
    return found


# --- Certificates and documents ------------------------------------------------------------------


def _identity(obj) -> str:
    if isinstance(obj, models.Model):
        return f"{obj._meta.label_lower}:{obj.pk}"
    return str(obj)


def document_expiry_alerts(
    items: Iterable[tuple],
    *,
    now: dt.datetime | None = None,
    kind: NotificationKind = NotificationKind.DOCUMENT_EXPIRY,
    permission: str = COLD_CHAIN_PERMISSION,
    what: str = "certificate",
) -> int:
    """Alert managers about documents reaching DOCUMENT_EXPIRY_ALERT_DAYS (60, 30) before expiry.

    ``items`` yields ``(object, expires_on, location, description, link)``: ``object`` is a
    model instance or a stable string naming the document, ``location`` a Location or its
    id. Each document is alerted once per threshold and expiry date (a renewed certificate
    with a new date is alerted again when its time comes). A fixed number of queries.
    """
    now, today = _today(now)
    thresholds = settings.DOCUMENT_EXPIRY_ALERT_DAYS
    candidates: dict[str, dict] = {}
    for obj, expires_on, location, description, link in items:
        if expires_on is None:
            continue
        days_left = (expires_on - today).days
        threshold = _threshold_reached(days_left, thresholds)
        if threshold is None:
            continue
        key = f"doc_expiry:{_identity(obj)}:{expires_on.isoformat()}:{threshold}"
        location_id = location.pk if isinstance(location, models.Model) else location
        candidates[key] = {
            "expires_on": expires_on,
            "days_left": days_left,
            "location_id": location_id,
            "description": description,
            "link": link,
        }
    new = alert_marks_missing(candidates)
    recipients = staff_recipients(permission, (candidates[k]["location_id"] for k in new))
    rows: list[Notification] = []
    marked: list[str] = []
    for key in sorted(new):
        item = candidates[key]
        people = recipients.get(item["location_id"])
        if not people:
            continue
        rows += staff_alert_rows(
            kind=kind,
            recipients=people,
            location_id=item["location_id"],
            dedupe_key=key,
            template="document_expiry_alert",
            context={**item, "what": what},
            link=item["link"],
        )
        marked.append(key)
    with transaction.atomic():
        written = notifications_bulk_queue(rows)
        alert_marks_set(marked)
    return written


def calibration_expiry_sweep(*, now: dt.datetime | None = None) -> int:
    """Calibration certificates of active storage units reaching 60 and 30 days before expiry."""
    now, today = _today(now)
    thresholds = settings.DOCUMENT_EXPIRY_ALERT_DAYS
    if not thresholds:
        return 0
    units = StorageUnit.objects.filter(
        is_active=True,
        calibration_expires_on__isnull=False,
        calibration_expires_on__lte=today + dt.timedelta(days=max(thresholds)),
    ).values_list("pk", "name", "calibration_expires_on", "location_id", "location__name")
    items = [
        (
            f"products.storageunit:{pk}:calibration",
            expires_on,
            location_id,
            f"The calibration certificate of {name} ({location_name})",
            safe_reverse("products:unit_detail", pk),
        )
        for pk, name, expires_on, location_id, location_name in units
    ]
    return document_expiry_alerts(
        items, now=now, kind=NotificationKind.CALIBRATION_EXPIRY, what="calibration certificate"
    )


def regulatory_document_sweep(*, now: dt.datetime | None = None) -> int:
    """Current regulatory documents reaching 60 and 30 days before expiry.

    A product's documents concern every site: each location with the product in stock (or,
    for a product not stocked anywhere yet, every location) hears of it; a lot's documents
    go to the lot's location. Two queries for the documents and their locations.
    """
    from clinic.models import Location
    from products.models import RegulatoryDocument

    now, today = _today(now)
    thresholds = settings.DOCUMENT_EXPIRY_ALERT_DAYS
    if not thresholds:
        return 0
    docs = list(
        RegulatoryDocument.objects.current()
        .filter(expires_on__isnull=False, expires_on__lte=today + dt.timedelta(days=max(thresholds)))
        .filter(
            models.Q(product__is_active=True) | models.Q(lot__quantity_on_hand__gt=0, lot__is_recalled=False)
        )
        .select_related("product", "lot__product", "lot__storage_unit")
    )
    product_ids = {d.product_id for d in docs if d.product_id}
    stocked: dict[int, set[int]] = defaultdict(set)
    for product_id, location_id in (
        Lot.objects.filter(product_id__in=product_ids, quantity_on_hand__gt=0)
        .values_list("product_id", "storage_unit__location_id")
        .distinct()
    ):
        stocked[product_id].add(location_id)
    all_locations = (
        set(Location.objects.filter(is_active=True).values_list("pk", flat=True)) if docs else set()
    )
    items = []
    for doc in docs:
        if doc.lot_id:
            subject = f"{doc.lot.product.name} lot {doc.lot.lot_number}"
            places = {doc.lot.storage_unit.location_id}
            link = safe_reverse("products:lot_detail", doc.lot_id)
        else:
            subject = doc.product.name
            places = stocked.get(doc.product_id) or all_locations
            link = safe_reverse("products:product_compliance", doc.product_id)
        for location_id in sorted(places):
            items.append(
                (
                    # Per location, so each site's managers are told once.
                    f"products.regulatorydocument:{doc.pk}:loc{location_id}",
                    doc.expires_on,
                    location_id,
                    f"The {doc.get_doc_type_display().lower()} {doc.reference} of {subject}",
                    link,
                )
            )
    return document_expiry_alerts(items, now=now, what="regulatory document", permission=DOCUMENT_PERMISSION)


# --- Low stock --------------------------------------------------------------------------------


def low_stock_sweep(*, now: dt.datetime | None = None) -> int:
    """One digest per location and manager of the reorder levels whose stock has newly
    fallen below the minimum (``ReorderLevel.objects.low()``), with a suggested order.

    Once per crossing, not every day while stock stays low: the sweep records the crossing
    in ``ReorderLevel.low_since`` when it first sees the stock low and clears it when it sees
    the stock back at or above the minimum; a later drop is a new crossing. Each crossing is
    alerted once (an ``AlertMark`` keyed on the level and ``low_since``); a crossing with
    nobody to tell stays unmarked, so a manager added later hears of it. Active products at
    open locations only. A fixed number of queries. Returns the rows offered.
    """
    now, today = _today(now)
    low_now = ReorderLevel.objects.low(now=now).values("pk")
    with transaction.atomic():
        # Crossings that ended (stock back up, or the minimum lowered), then the new ones.
        ReorderLevel.objects.filter(low_since__isnull=False).exclude(pk__in=low_now).update(low_since=None)
        ReorderLevel.objects.filter(low_since__isnull=True, pk__in=low_now).update(low_since=now)
        levels = list(
            ReorderLevel.objects.low(now=now)
            .filter(product__is_active=True, location__is_active=True)
            .select_related("product", "location")
            .order_by("location_id", "product__name", "pk")
        )
        candidates = {
            f"low_stock:{level.pk}:{level.low_since.astimezone(dt.UTC).strftime(_STAMP)}": level
            for level in levels
            if level.low_since is not None
        }
        by_location = _new_by_location(candidates, lambda level: level.location_id)
        recipients = staff_recipients(REORDER_PERMISSION, by_location)
        rows: list[Notification] = []
        marked: list[str] = []
        link = safe_reverse("products:reorder_levels")
        for location_id, items in by_location.items():
            people = recipients.get(location_id)
            if not people:
                continue
            keys = [key for key, _ in items]
            rows += staff_alert_rows(
                kind=NotificationKind.LOW_STOCK_DIGEST,
                recipients=people,
                location_id=location_id,
                dedupe_key=f"low_stock_digest:{location_id}:{today.isoformat()}:{digest_key(keys)}",
                template="low_stock_digest",
                context={
                    "location_name": items[0][1].location.name,
                    "levels": [level for _, level in items],
                    "count": len(items),
                    "today": today,
                    "window_days": USE_WINDOW_DAYS,
                },
                link=link,
            )
            marked += keys
        written = notifications_bulk_queue(rows)
        alert_marks_set(marked)
    return written
