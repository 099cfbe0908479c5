"""Stock-take services: start a count, save counts, post the differences, or cancel.

Posting writes every difference through ``stock_adjust`` (the ledger row, the lot's new
quantity and its own audit row), all in one transaction with the stock-take's audit row:
either every adjustment is posted or none is.

Stock that moves while the shelves are being counted (a vial used in a treatment, a lot
transferred) makes the count of that lot unreliable: nobody knows whether the counter saw
the shelf before or after. So posting refuses, naming each such lot with what is on record
now, and writes nothing; ``stocktake_recount`` then takes a new snapshot of just those lots
and clears their counts, so they are counted again (the view does both in one click).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinic.audit import AuditAction, audit_record
from clinic.models import Location
from products.models import Lot, StockTake, StockTakeLine, StockTakeStatus, StorageUnit
from products.services.stock import stock_adjust

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# The largest count a form or service accepts (no unit holds more sealed vials).
MAX_COUNT = 100_000


@dataclass(frozen=True)
class LotChange:
    """A lot whose stock changed after its line's snapshot was taken."""

    line: StockTakeLine
    on_hand: int
    unit: StorageUnit | None  # where the lot is now, when it left the line's unit

    @property
    def message(self) -> str:
        line = self.line
        tag = f"Lot {line.lot.lot_number} ({line.lot.product.name})"
        if self.unit is not None:
            return (
                f"{tag} was moved to {self.unit.name} since the count started; "
                f"count it where it is now ({self.on_hand} vial(s) on record)."
            )
        return (
            f"{tag} changed since the count started: {line.expected_quantity} vial(s) were expected then, "
            f"{self.on_hand} are on record now (a movement was recorded meanwhile). Count it again."
        )


class StockTakeChanged(ValidationError):
    """Posting refused because stock moved during the count; ``changes`` says which lots."""

    def __init__(self, changes: list[LotChange]):
        self.changes = changes
        super().__init__([change.message for change in changes])


def _lock(stock_take: StockTake) -> StockTake:
    """Re-read the stock-take under a row lock and insist it is still being counted."""
    locked = (
        StockTake.objects.select_for_update(of=("self",))
        .select_related("location", "storage_unit")
        .get(pk=stock_take.pk)
    )
    if locked.status != StockTakeStatus.DRAFT:
        raise ValidationError(
            f"Stock-take #{locked.pk} has already been {locked.get_status_display().lower()}; "
            "it can no longer be changed."
        )
    return locked


def _lot_tag(line: StockTakeLine) -> str:
    return f"lot {line.lot.lot_number} ({line.lot.product.name})"


def _list(tags: list[str], limit: int = 5) -> str:
    shown = ", ".join(tags[:limit])
    return shown + (f" and {len(tags) - limit} more" if len(tags) > limit else "")


@transaction.atomic
def stocktake_start(
    *, actor: User, location: Location, storage_unit: StorageUnit | None = None, note: str = ""
) -> StockTake:
    """Start counting one storage unit (or every unit of ``location``): one line per lot in
    stock there, with the quantity on record now as the expected quantity."""
    if storage_unit is not None and storage_unit.location_id != location.pk:
        raise ValidationError(f"{storage_unit.name} is not at {location.name}.")
    # Two people starting counts of the same shelves at once queue here; the second is refused.
    location = Location.objects.select_for_update().get(pk=location.pk)
    busy = StockTake.objects.overlapping(location=location, storage_unit=storage_unit).first()
    if busy is not None:
        raise ValidationError(
            f"Stock-take #{busy.pk} of {busy.scope_label} is still being counted: "
            "post or cancel it before starting another count of the same shelves."
        )
    lots = Lot.objects.at([location]).in_stock()
    if storage_unit is not None:
        lots = lots.filter(storage_unit=storage_unit)
    lots = list(lots.order_by("pk").values("pk", "storage_unit_id", "quantity_on_hand"))
    where = storage_unit.name if storage_unit is not None else location.name
    if not lots:
        raise ValidationError(f"No lot is in stock in {where}: there is nothing to count.")
    stock_take = StockTake(
        location=location, storage_unit=storage_unit, started_by=actor, note=note.strip()[:300]
    )
    stock_take.full_clean()
    stock_take.save()
    StockTakeLine.objects.bulk_create(
        StockTakeLine(
            stock_take=stock_take,
            lot_id=lot["pk"],
            storage_unit_id=lot["storage_unit_id"],
            expected_quantity=lot["quantity_on_hand"],
        )
        for lot in lots
    )
    audit_record(
        actor=actor,
        action=AuditAction.STOCKTAKE_START,
        obj=stock_take,
        location=location,
        after={
            "storage_unit": storage_unit.pk if storage_unit else None,
            "lines": len(lots),
            "expected": sum(lot["quantity_on_hand"] for lot in lots),
        },
    )
    return stock_take


@transaction.atomic
def stocktake_add_lot(*, stock_take: StockTake, actor: User, lot: Lot) -> StockTakeLine:
    """Add a lot that was not listed (found on the shelf with none on record, or received
    after the count started), expecting what is on record for it now."""
    stock_take = _lock(stock_take)
    lot = Lot.objects.select_for_update(of=("self",)).select_related("storage_unit", "product").get(pk=lot.pk)
    where = stock_take.storage_unit or stock_take.location
    in_scope = (
        lot.storage_unit_id == stock_take.storage_unit_id
        if stock_take.storage_unit_id
        else lot.storage_unit.location_id == stock_take.location_id
    )
    if not in_scope:
        raise ValidationError(
            f"Lot {lot.lot_number} is kept in {lot.storage_unit.name}, not in {where}: "
            "count it with the stock of its own unit."
        )
    if stock_take.lines.filter(lot=lot).exists():
        raise ValidationError(f"Lot {lot.lot_number} is already on this stock-take.")
    line = StockTakeLine(
        stock_take=stock_take,
        lot=lot,
        storage_unit=lot.storage_unit,
        expected_quantity=lot.quantity_on_hand,
    )
    line.full_clean()
    line.save()
    audit_record(
        actor=actor,
        action=AuditAction.STOCKTAKE_ADD_LOT,
        obj=stock_take,
        location=stock_take.location,
        after={"lot": lot.pk, "lot_number": lot.lot_number, "expected": lot.quantity_on_hand},
    )
    return line


@transaction.atomic
def stocktake_count(*, stock_take: StockTake, actor: User, counts: Mapping[int, int | None]) -> int:
    """Save counted quantities by line id (``None`` clears a count); any subset, as often as
    needed. Returns how many lines changed."""
    stock_take = _lock(stock_take)
    lines = {line.pk: line for line in stock_take.lines.select_related("lot__product").filter(pk__in=counts)}
    unknown = set(counts) - set(lines)
    if unknown:
        raise ValidationError("Some of these counts are for lots that are not on this stock-take.")
    now = timezone.now()
    changed = []
    for pk, value in counts.items():
        line = lines[pk]
        if value is not None and (not isinstance(value, int) or not 0 <= value <= MAX_COUNT):
            raise ValidationError(
                f"The count of {_lot_tag(line)} must be a whole number of vials from 0 to {MAX_COUNT}."
            )
        if value == line.counted_quantity:
            continue
        line.counted_quantity = value
        line.counted_at = now if value is not None else None
        line.counted_by = actor if value is not None else None
        if value is not None:
            line.needs_recount = False
        changed.append(line)
    StockTakeLine.objects.bulk_update(
        changed, ["counted_quantity", "counted_at", "counted_by", "needs_recount"]
    )
    if changed:
        audit_record(
            actor=actor,
            action=AuditAction.STOCKTAKE_COUNT,
            obj=stock_take,
            location=stock_take.location,
            after={"counts": {str(line.lot_id): line.counted_quantity for line in changed}},
        )
    return len(changed)


def _changes(stock_take: StockTake, lines: Iterable[StockTakeLine]) -> list[LotChange]:
    """Lines whose lot (locked here, in pk order so concurrent posts cannot deadlock) no longer
    holds the snapshot's quantity or has left the line's storage unit."""
    lines = list(lines)
    lots = {
        lot.pk: lot
        for lot in Lot.objects.select_for_update(of=("self",))
        .select_related("storage_unit")
        .filter(pk__in=[line.lot_id for line in lines])
        .order_by("pk")
    }
    changes = []
    for line in lines:
        lot = lots[line.lot_id]
        moved = lot.storage_unit_id != line.storage_unit_id
        if moved or lot.quantity_on_hand != line.expected_quantity:
            changes.append(LotChange(line, lot.quantity_on_hand, lot.storage_unit if moved else None))
    return changes


@transaction.atomic
def stocktake_post(
    *, stock_take: StockTake, actor: User, reasons: Mapping[int, str] | None = None
) -> StockTake:
    """Post the count: every line counted, a reason for every difference (``reasons`` by line
    id, saved with it), each difference written as a count adjustment. All or nothing; refused
    with ``StockTakeChanged`` when stock moved during the count."""
    stock_take = _lock(stock_take)
    lines = list(stock_take.lines.for_count())
    for line in lines:
        if reasons and line.pk in reasons:
            line.reason = (reasons[line.pk] or "").strip()[:200]
    uncounted = [_lot_tag(line) for line in lines if line.counted_quantity is None]
    if uncounted:
        raise ValidationError(
            f"{len(uncounted)} lot(s) have not been counted yet: {_list(uncounted)}. "
            "Count every lot (0 when none is on the shelf) before posting."
        )
    differing = [line for line in lines if line.difference]
    unexplained = [_lot_tag(line) for line in differing if not line.reason]
    if unexplained:
        raise ValidationError(f"Say why the count differs for {_list(unexplained)} (a reason is required).")
    changes = _changes(stock_take, lines)
    if changes:
        raise StockTakeChanged(changes)
    for line in differing:
        assert line.counted_quantity is not None  # every line is counted (checked above)
        line.movement = stock_adjust(
            lot=line.lot,
            counted=line.counted_quantity,
            reason=f"Stock-take #{stock_take.pk}: {line.reason}",
            actor=actor,
        )
    for line in lines:
        if not line.difference:
            line.reason = ""  # a reason only explains a difference
    StockTakeLine.objects.bulk_update(lines, ["reason", "movement"])
    stock_take.status = StockTakeStatus.POSTED
    stock_take.posted_by = actor
    stock_take.posted_at = timezone.now()
    stock_take.full_clean()
    stock_take.save(update_fields=["status", "posted_by", "posted_at"])
    audit_record(
        actor=actor,
        action=AuditAction.STOCKTAKE_POST,
        obj=stock_take,
        location=stock_take.location,
        after={
            "lines": len(lines),
            "expected": sum(line.expected_quantity for line in lines),
            "counted": sum(line.counted_quantity or 0 for line in lines),
            "differences": [
                {
                    "lot": line.lot_id,
                    "lot_number": line.lot.lot_number,
                    "expected": line.expected_quantity,
                    "counted": line.counted_quantity,
                    "reason": line.reason,
                    "movement": line.movement_id,
                }
                for line in differing
            ],
        },
    )
    return stock_take


@transaction.atomic
def stocktake_recount(
    *, stock_take: StockTake, actor: User, reasons: Mapping[int, str] | None = None
) -> list[LotChange]:
    """Take a new snapshot of the lots whose stock changed during the count and clear their
    counts, so they are counted again. A lot that left the stock-take's shelves (moved to a
    unit outside it) is taken off the list. ``reasons`` (by line id, from the refused post)
    are kept on the other lines, so nobody types them twice. Returns the changes found (none:
    nothing done)."""
    stock_take = _lock(stock_take)
    lines = list(stock_take.lines.select_related("lot__product"))
    changes = _changes(stock_take, lines)
    if not changes:
        return []
    touched = {change.line.pk for change in changes}
    kept = [line for line in lines if line.pk not in touched and reasons and line.pk in reasons]
    for line in kept:
        line.reason = (reasons[line.pk] or "").strip()[:200] if reasons else ""
    StockTakeLine.objects.bulk_update(kept, ["reason"])
    reset, dropped = [], []
    for change in changes:
        line = change.line
        if change.unit is not None and (
            change.unit.location_id != stock_take.location_id
            or (stock_take.storage_unit_id and change.unit.pk != stock_take.storage_unit_id)
        ):
            dropped.append(line)
            continue
        if change.unit is not None:
            line.storage_unit = change.unit
        line.expected_quantity = change.on_hand
        line.counted_quantity = None
        line.counted_at = None
        line.counted_by = None
        line.reason = ""
        line.needs_recount = True
        reset.append(line)
    StockTakeLine.objects.bulk_update(
        reset,
        [
            "storage_unit",
            "expected_quantity",
            "counted_quantity",
            "counted_at",
            "counted_by",
            "reason",
            "needs_recount",
        ],
    )
    StockTakeLine.objects.filter(pk__in=[line.pk for line in dropped]).delete()
    audit_record(
        actor=actor,
        action=AuditAction.STOCKTAKE_RECOUNT,
        obj=stock_take,
        location=stock_take.location,
        after={
            "recount": {str(line.lot_id): line.expected_quantity for line in reset},
            "removed": [line.lot_id for line in dropped],
        },
    )
    return changes


@transaction.atomic
def stocktake_cancel(*, stock_take: StockTake, actor: User, reason: str = "") -> StockTake:
    """Abandon a count: nothing is posted; the stock-take stays listed as cancelled."""
    stock_take = _lock(stock_take)
    stock_take.status = StockTakeStatus.CANCELLED
    stock_take.cancelled_by = actor
    stock_take.cancelled_at = timezone.now()
    if reason.strip():
        stock_take.note = (f"{stock_take.note} — cancelled: " if stock_take.note else "Cancelled: ") + reason
        stock_take.note = stock_take.note.strip()[:300]
    stock_take.full_clean()
    stock_take.save(update_fields=["status", "cancelled_by", "cancelled_at", "note"])
    audit_record(
        actor=actor,
        action=AuditAction.STOCKTAKE_CANCEL,
        obj=stock_take,
        location=stock_take.location,
        after={"reason": reason.strip()},
    )
    return stock_take
