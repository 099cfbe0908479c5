"""Excursions: one per spell of readings outside a unit's range, the stock it exposed, review."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Min, Q
from django.urls import reverse
from django.utils import timezone

from clinic.audit import AuditAction, audit_record, snapshot
from clinic.notifications import NotificationKind, notification_queue
from products.exposure import balance_at, minutes, overlap, presence_intervals
from products.models import Excursion, ExcursionAddendum, ExcursionLot, Lot, StockMovement, StorageUnit
from products.models.coldchain import Decision
from products.models.stock import WasteReason
from products.services.stock import excursion_hold_lot

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# --- Excursions ---------------------------------------------------------------------------

# Readings out of range further apart than this, with no reading at all in between, are two
# events: nobody knows what the unit did meanwhile, and an old logger file must not stretch
# an excursion of another period. Four days, so a fridge found warm on Friday evening and
# still warm on Monday morning (a long weekend without checks) stays one event.
EVENT_GAP = dt.timedelta(days=4)

EXCURSION_FIELDS = ("started_at", "last_out_at", "back_in_range_at", "end_unknown", "lowest_c", "highest_c")


def _out_of_range(unit: StorageUnit) -> Q:
    lo, hi = unit.min_c, unit.max_c
    return Q(temperature_c__lt=lo) | Q(temperature_c__gt=hi) | Q(min_c__lt=lo) | Q(max_c__gt=hi)


@dataclass
class Event:
    """One spell out of range as the readings show it (what an ``Excursion`` records)."""

    started_at: dt.datetime
    last_out_at: dt.datetime
    lowest_c: Decimal
    highest_c: Decimal
    back_in_range_at: dt.datetime | None = None
    end_unknown: bool = False

    def values(self) -> dict:
        return {name: getattr(self, name) for name in EXCURSION_FIELDS}


@dataclass
class ApplyResult:
    """What new readings did to a unit's excursions."""

    opened: list[Excursion] = field(default_factory=list)
    changed: list[Excursion] = field(default_factory=list)
    # Closed excursions the new readings would change: a closed record is frozen, so it is
    # left as it is and the manager told (an addendum records what the readings add).
    frozen: list[Excursion] = field(default_factory=list)


def split_events(unit: StorageUnit, rows: Iterable) -> list[Event]:
    """Cut time-ordered readings (taken_at, temperature, min, max) into events.

    A reading is out of range when its temperature, or the minimum or maximum a manual check
    saw since the last check, is outside the unit's range. An event runs from its first
    reading out to the first reading back in range; a reading in range between two out of
    range ends one event and the next reading out starts another.
    """
    events: list[Event] = []
    current: Event | None = None
    lo, hi = unit.min_c, unit.max_c
    for taken_at, temperature, low, high in rows:
        lowest = temperature if low is None else min(temperature, low)
        highest = temperature if high is None else max(temperature, high)
        if lowest < lo or highest > hi:
            if current is not None and taken_at - current.last_out_at > EVENT_GAP:
                current.end_unknown = True
                events.append(current)
                current = None
            if current is None:
                current = Event(taken_at, taken_at, lowest, highest)
            else:
                current.last_out_at = taken_at
                current.lowest_c = min(current.lowest_c, lowest)
                current.highest_c = max(current.highest_c, highest)
        elif current is not None:
            current.back_in_range_at = taken_at
            events.append(current)
            current = None
    if current is not None:
        events.append(current)
    return events


def apply_readings(*, unit: StorageUnit, readings, actor: User | None) -> ApplyResult:
    """Bring the unit's excursions in line with its readings after ``readings`` were added.

    The readings around the new ones (back to the last reading in range before them, on to
    the first in range after) are cut into events, one excursion each, whatever order the
    readings came in: an event already recorded is updated, a new one is recorded (and its
    stock held, managers alerted), and nothing is recorded twice, so re-importing a file or
    an overlapping one changes nothing.
    """
    # The unit's row lock serialises everything that may open an excursion or add stock to
    # the unit (see stock._hold_for_open_excursion), so nothing slips past a quarantine.
    unit = StorageUnit.objects.select_for_update(of=("self",)).select_related("location").get(pk=unit.pk)
    result = ApplyResult()
    span = readings.aggregate(first=Min("taken_at"), last=Max("taken_at"))
    if span["first"] is None:
        return result
    in_range = unit.readings.exclude(_out_of_range(unit))
    before = (
        in_range.filter(taken_at__lt=span["first"]).order_by("-taken_at").values_list("taken_at", flat=True)
    ).first()
    after = (
        in_range.filter(taken_at__gt=span["last"]).order_by("taken_at").values_list("taken_at", flat=True)
    ).first()
    window = unit.readings.all()
    if before is not None:
        window = window.filter(taken_at__gte=before)
    if after is not None:
        window = window.filter(taken_at__lte=after)
    if not window.filter(_out_of_range(unit)).exists():
        # Nothing out of range around the new readings: no event to record or change (a
        # month of in-range samples is not read back into Python to find that out).
        return result
    rows = (
        window.order_by("taken_at", "id")
        .values_list("taken_at", "temperature_c", "min_c", "max_c")
        .iterator(chunk_size=10_000)
    )
    events = split_events(unit, rows)
    if not events:
        return result
    existing = list(
        unit.excursions.filter(started_at__lte=events[-1].last_out_at, last_out_at__gte=events[0].started_at)
        .select_for_update(of=("self",))
        .order_by("started_at", "id")
    )
    taken: set[int] = set()
    for event in events:  # oldest first: an ongoing one, always the last, is written last
        match = [
            e
            for e in existing
            if e.pk not in taken and e.started_at <= event.last_out_at and e.last_out_at >= event.started_at
        ]
        taken.update(e.pk for e in match)
        if not match:
            excursion = Excursion.objects.create(storage_unit=unit, **event.values())
            audit_record(
                actor=actor,
                action=AuditAction.EXCURSION_OPEN,
                obj=excursion,
                location=unit.location,
                after=snapshot(excursion, EXCURSION_FIELDS),
            )
            result.opened.append(excursion)
            _apply_breach_rules(excursion, actor)
            continue
        excursion = match[0]
        if all(getattr(excursion, name) == value for name, value in event.values().items()):
            if excursion.is_ongoing:  # its stock's exposure grows while it lasts
                _apply_breach_rules(excursion, actor)
            continue
        if not excursion.is_open:
            result.frozen.append(excursion)
            continue
        before_values = snapshot(excursion, EXCURSION_FIELDS)
        for name, value in event.values().items():
            setattr(excursion, name, value)
        excursion.save(update_fields=list(EXCURSION_FIELDS))
        audit_record(
            actor=actor,
            action=AuditAction.EXCURSION_EXTEND,
            obj=excursion,
            location=unit.location,
            before=before_values,
            after=snapshot(excursion, EXCURSION_FIELDS),
        )
        result.changed.append(excursion)
        _apply_breach_rules(excursion, actor)
    return result


def breach_of(excursion: Excursion, now: dt.datetime | None = None) -> str:
    """The unit's breach rule this excursion meets, in words; "" when it stays below them.

    Too warm and too cold each have a continuous rule (minutes in one excursion; 0 = any
    reading) and an optional cumulative one (minutes of that side's excursions within the
    24 hours up to this one's end). A freezer reading above 0 °C is "thawed", always a breach.
    """
    now = now or timezone.now()
    unit = excursion.storage_unit
    if unit.is_freezer and excursion.highest_c > 0:
        return f"Thawed: {excursion.highest_c} °C in a freezer"
    end = excursion.exposure_end(now)
    length = minutes((end - excursion.started_at).total_seconds())
    sides = []
    if excursion.highest_c > unit.max_c:
        sides.append(
            ("too warm", unit.warm_after_minutes, unit.warm_cumulative_minutes, Q(highest_c__gt=unit.max_c))
        )
    if excursion.lowest_c < unit.min_c:
        sides.append(
            ("too cold", unit.cold_after_minutes, unit.cold_cumulative_minutes, Q(lowest_c__lt=unit.min_c))
        )
    for label, continuous, cumulative, side in sides:
        if length >= continuous:
            rule = "any reading out of range" if continuous == 0 else f"{continuous} min continuously"
            return f"{label.capitalize()} for {length} min (rule: {rule})"
        if cumulative:
            window = unit.excursions.filter(
                side, started_at__gte=end - dt.timedelta(hours=24), started_at__lte=end
            )
            total = (
                sum(
                    minutes((e.exposure_end(now) - e.started_at).total_seconds())
                    for e in window.exclude(pk=excursion.pk)
                )
                + length
            )
            if total >= cumulative:
                return f"{label.capitalize()} for {total} min within 24 h (rule: {cumulative} min)"
    return ""


def _apply_breach_rules(excursion: Excursion, actor: User | None) -> None:
    """Record each lot's exposure; once the excursion meets a breach rule, hold the stock and
    alert the managers (once). Below the rules it is recorded and visible, and holds nothing."""
    if not excursion.breach:
        breach = breach_of(excursion)
        if breach:
            excursion.breach = breach[:160]
            excursion.save(update_fields=["breach"])
            audit_record(
                actor=actor,
                action=AuditAction.EXCURSION_BREACH,
                obj=excursion,
                location=excursion.storage_unit.location,
                after={"breach": excursion.breach},
            )
            _alert_managers(excursion)
    excursion_refresh_exposure(excursion=excursion, actor=actor, hold=bool(excursion.breach))


def excursion_refresh_exposure(
    *, excursion: Excursion, actor: User | None, now: dt.datetime | None = None, hold: bool = True
) -> None:
    """Hold every lot that was in the unit while it was out of range, with its minutes there.

    Read from the stock ledger, not from what is in the unit today: a lot received after the
    event or moved out before it was never exposed; one moved in or out during it was exposed
    for the minutes it was there. A hold, once made, is lifted only by the review's decision.
    """
    now = now or timezone.now()
    unit = excursion.storage_unit
    start = excursion.started_at
    end = None if excursion.is_ongoing else excursion.exposure_end(now)
    ever_here = StockMovement.objects.filter(Q(from_unit=unit) | Q(to_unit=unit)).values("lot_id")
    candidates = (
        Lot.objects.filter(Q(storage_unit=unit) | Q(pk__in=ever_here))
        .annotate(first_move=Min("movements__created_at"), last_move=Max("movements__created_at"))
        .filter(Q(quantity_on_hand__gt=0) | Q(last_move__gte=start))
        .prefetch_related("movements")
        .order_by("pk")
    )
    if end is not None:
        candidates = candidates.filter(first_move__lte=end)
    held = {item.lot_id: item for item in excursion.lots.all()}
    for lot in candidates:
        movements = list(lot.movements.all())
        intervals = presence_intervals(
            movements=movements, unit_id=unit.pk, current_unit_id=lot.storage_unit_id
        )
        present, seconds = overlap(intervals, start, end, now)
        item = held.get(lot.pk)
        if item is None and not present:
            continue
        exposed = minutes(seconds)
        if item is None:
            first_there = max(start, min(since for since, _ in intervals if since is not None))
            quantity = balance_at(movements, first_there)
        else:
            quantity = item.quantity_at_start
        if hold and present:  # idempotent: quarantines only a lot not already held
            item = excursion_hold_lot(
                excursion=excursion, lot=lot, actor=actor, quantity_at_start=quantity, exposed_minutes=exposed
            )
        elif item is None:  # below the breach rules: recorded, not held
            item = ExcursionLot.objects.create(
                excursion=excursion, lot=lot, quantity_at_start=quantity, exposed_minutes=exposed
            )
        if item.exposed_minutes != exposed:
            item.exposed_minutes = exposed
            item.save(update_fields=["exposed_minutes"])


def _alert_managers(excursion: Excursion) -> None:
    unit = excursion.storage_unit
    User = get_user_model()
    managers = (
        User.objects.filter(
            is_active=True,
            staff_profile__locations=unit.location,
            groups__permissions__codename="review_excursion",
            groups__permissions__content_type__app_label="products",
        )
        .distinct()
        .order_by("pk")
    )
    link = reverse("products:excursion_detail", args=[excursion.pk])
    for manager in managers:
        notification_queue(
            kind=NotificationKind.EXCURSION_OPENED,
            channel="in_app",
            subject=f"Temperature excursion in {unit.name} at {unit.location.name}",
            body=(
                f"{unit.name} read outside {unit.min_c}–{unit.max_c} °C from "
                f"{timezone.localtime(excursion.started_at):%d %b %H:%M}. Its stock is quarantined "
                "until you review the excursion."
            ),
            dedupe_key=f"excursion:{excursion.pk}:manager:{manager.pk}",
            recipient_user=manager,
            location=unit.location,
            link=link,
        )


REVIEW_FIELDS = (
    "what_happened",
    "temperature_when_found_c",
    "room_temperature_c",
    "found_by",
    "manufacturer_contact",
    "manufacturer_contacted_at",
    "manufacturer_answer",
    "prevention",
)


def _lock_open(excursion: Excursion) -> Excursion:
    excursion = (
        Excursion.objects.select_for_update(of=("self",))
        .select_related("storage_unit__location")
        .get(pk=excursion.pk)
    )
    if not excursion.is_open:
        raise ValidationError("This excursion is closed; add an addendum instead of editing it.")
    return excursion


@transaction.atomic
def excursion_review(*, excursion: Excursion, actor: User | None, **review) -> Excursion:
    """Save the review so far (the excursion stays open and its stock held)."""
    excursion = _lock_open(excursion)
    unknown = set(review) - set(REVIEW_FIELDS)
    if unknown:
        raise ValueError(f"Unknown review fields: {sorted(unknown)}")
    before = snapshot(excursion, REVIEW_FIELDS)
    for name, value in review.items():
        setattr(excursion, name, value)
    excursion.full_clean()
    excursion.save(update_fields=list(review))
    audit_record(
        actor=actor,
        action=AuditAction.EXCURSION_REVIEW,
        obj=excursion,
        location=excursion.storage_unit.location,
        before=before,
        after=snapshot(excursion, REVIEW_FIELDS),
    )
    return excursion


@transaction.atomic
def excursion_close(
    *, excursion: Excursion, actor: User | None, decisions: dict[int, tuple[str, str]], **review
) -> Excursion:
    """Close with the review and a decision per held lot: release it or discard its stock."""
    from products.services.stock import lot_release, stock_waste

    excursion = excursion_review(excursion=excursion, actor=actor, **review)
    problems = []
    if excursion.is_ongoing:
        problems.append(
            "The excursion is still going on: the unit has not read inside its range since; "
            "record a reading first."
        )
    else:  # the exposure as the decisions are taken, from the final span and the ledger
        excursion_refresh_exposure(excursion=excursion, actor=actor, hold=bool(excursion.breach))
    for name, label in (
        ("what_happened", "what happened"),
        ("found_by", "who found it"),
        ("prevention", "the action taken to prevent it again"),
    ):
        if not getattr(excursion, name):
            problems.append(f"Record {label}.")
    # Below the breach rules nothing was held: the record is closed without decisions.
    held = list(excursion.lots.select_related("lot")) if excursion.breach else []
    for item in held:
        decision, reason = decisions.get(item.lot_id, ("", ""))
        if decision not in Decision.values or not reason.strip():
            problems.append(
                f"Decide about lot {item.lot.lot_number} (release or discard) and give the reason."
            )
    releasing = any(decisions.get(i.lot_id, ("",))[0] == Decision.RELEASE for i in held)
    if releasing and not excursion.manufacturer_answer:
        problems.append("Releasing stock needs the manufacturer's answer.")
    if problems:
        raise ValidationError(problems)
    excursion.closed_at = timezone.now()
    excursion.reviewed_by = actor
    excursion.save(update_fields=["closed_at", "reviewed_by"])
    for item in held:
        decision, reason = decisions[item.lot_id]
        item.decision, item.reason = decision, reason.strip()[:300]
        item.save(update_fields=["decision", "reason"])
        lot = Lot.objects.get(pk=item.lot_id)
        note = f"Excursion #{excursion.pk}: {item.reason}"
        if decision == Decision.DISCARD:
            if lot.quantity_on_hand > 0:
                stock_waste(
                    lot=lot,
                    quantity=lot.quantity_on_hand,
                    reason=WasteReason.TEMPERATURE,
                    actor=actor,
                    note=note,
                )
        elif lot.is_quarantined and not lot.is_recalled:
            still_held = lot.excursions.filter(excursion__closed_at__isnull=True).exists()
            if not still_held and lot.hold_reason.startswith("Temperature excursion"):
                lot_release(lot=lot, actor=actor, reason=note, excursion=excursion)
    audit_record(
        actor=actor,
        action=AuditAction.EXCURSION_CLOSE,
        obj=excursion,
        location=excursion.storage_unit.location,
        after={"decisions": {str(i.lot_id): [i.decision, i.reason] for i in held}},
    )
    return excursion


@transaction.atomic
def excursion_addendum(*, excursion: Excursion, actor: User, text: str) -> ExcursionAddendum:
    """Add a correction or later fact to a closed excursion."""
    if not text.strip():
        raise ValidationError("Write the addendum.")
    excursion = Excursion.objects.select_related("storage_unit__location").get(pk=excursion.pk)
    if excursion.is_open:
        raise ValidationError("The excursion is still open; edit its review instead.")
    addendum = ExcursionAddendum.objects.create(excursion=excursion, text=text.strip(), author=actor)
    audit_record(
        actor=actor,
        action=AuditAction.EXCURSION_ADDENDUM,
        obj=excursion,
        location=excursion.storage_unit.location,
        after={"addendum": addendum.pk, "text": addendum.text},
    )
    return addendum
