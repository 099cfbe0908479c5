"""Stock services: every change of a lot's quantity, place or status, with its ledger row.

Each one locks the lot row (``select_for_update``) inside its transaction, changes
``quantity_on_hand`` and writes the movement that explains it, so the stored quantity and
the sum of the ledger never disagree, and two people drawing the last vial queue up.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.audit import AuditAction, audit_record, snapshot
from products.compliance import lot_clearance_problems
from products.models import (
    Excursion,
    ExcursionLot,
    Lot,
    MovementKind,
    OpenedVial,
    Product,
    StockMovement,
    StorageUnit,
    VialDraw,
)
from products.models.stock import LotStatus, WasteReason

if TYPE_CHECKING:
    from django.contrib.auth.models import User

LOT_FIELDS = ("quantity_on_hand", "storage_unit", "is_quarantined", "is_recalled", "hold_reason")


def lock_lot(lot: Lot | int) -> Lot:
    """Re-read the lot under a row lock (only the lot's row, not the joined ones)."""
    pk = lot.pk if isinstance(lot, Lot) else lot
    return (
        Lot.objects.select_for_update(of=("self",))
        .select_related("product", "storage_unit__location")
        .get(pk=pk)
    )


def _move(
    lot: Lot,
    *,
    kind: str,
    quantity: int,
    actor: User | None,
    reason: str = "",
    note: str = "",
    reference: str = "",
    from_unit: StorageUnit | None = None,
    to_unit: StorageUnit | None = None,
) -> StockMovement:
    """Apply one movement to a locked lot; the only place ``quantity_on_hand`` changes. The row
    says where it happened: the lot's unit (after the move, for a whole-row transfer)."""
    new_balance = lot.quantity_on_hand + quantity
    if new_balance < 0:
        raise ValidationError(
            f"Lot {lot.lot_number} has only {lot.quantity_on_hand} vial(s) left; {-quantity} were asked for."
        )
    if quantity:
        lot.quantity_on_hand = new_balance
        lot.save(update_fields=["quantity_on_hand"])
    return StockMovement.objects.create(
        lot=lot,
        kind=kind,
        quantity=quantity,
        balance_after=new_balance,
        reason=reason,
        note=note[:300],
        reference=reference[:80],
        from_unit=from_unit,
        to_unit=to_unit,
        storage_unit_id=lot.storage_unit_id,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
    )


def _audit(lot: Lot, action: AuditAction, actor: User | None, before: dict, **extra) -> None:
    after = {**snapshot(lot, LOT_FIELDS), **extra}
    audit_record(
        actor=actor, action=action, obj=lot, location=lot.storage_unit.location, before=before, after=after
    )


def _positive(quantity: int, what: str = "quantity") -> None:
    if not isinstance(quantity, int) or quantity <= 0:
        raise ValidationError(f"The {what} must be a whole number of vials above zero.")


def _check_usable(lot: Lot, quantity: int) -> None:
    """The reasons a lot may not be drawn from, worded for the person at the fridge."""
    status = lot.status
    if status == LotStatus.RECALLED:
        raise ValidationError(f"Lot {lot.lot_number} has been recalled; it cannot be used.")
    if status == LotStatus.DEPLETED:
        raise ValidationError(f"Lot {lot.lot_number} has no vials left.")
    if status == LotStatus.QUARANTINED:
        raise ValidationError(
            f"Lot {lot.lot_number} is quarantined ({lot.hold_reason or 'do not use'}); "
            "it cannot be used until a manager releases it."
        )
    if status == LotStatus.EXPIRED:
        raise ValidationError(
            f"Lot {lot.lot_number} expired on {lot.expiry_date:%d %b %Y}; it cannot be used."
        )
    if quantity > lot.quantity_on_hand:
        raise ValidationError(
            f"Lot {lot.lot_number} has only {lot.quantity_on_hand} vial(s) left; {quantity} were asked for."
        )
    # Regulatory clearance (classification, documents, approval, the lot's certificate of
    # analysis): the one gate every use passes, whatever form or service asked.
    problems = lot_clearance_problems(lot)
    if problems:
        raise ValidationError(problems)


def _check_open_vial_lot(lot: Lot) -> None:
    """An opened vial serves patients only while its lot may still be used.

    The lot may be "depleted" (every vial opened) and still feed its open vials, so this
    reads the hold flags rather than the single display status.
    """
    if lot.is_recalled:
        raise ValidationError(f"Lot {lot.lot_number} has been recalled; its open vials cannot be used.")
    if lot.is_quarantined:
        raise ValidationError(
            f"Lot {lot.lot_number} is quarantined ({lot.hold_reason or 'do not use'}); "
            "its open vials cannot be used until a manager releases it."
        )
    if lot.expiry_date < timezone.localdate():
        raise ValidationError(f"Lot {lot.lot_number} expired on {lot.expiry_date:%d %b %Y}.")
    problems = lot_clearance_problems(lot)
    if problems:
        raise ValidationError(problems)


def _check_storage_fits(product: Product, unit: StorageUnit) -> None:
    if unit.min_c < product.min_c or unit.max_c > product.max_c:
        raise ValidationError(
            f"{product} must be kept at {product.min_c}–{product.max_c} °C; "
            f"{unit.name} holds {unit.min_c}–{unit.max_c} °C."
        )


@transaction.atomic
def excursion_hold_lot(
    *,
    excursion: Excursion,
    lot: Lot,
    actor: User | None,
    quantity_at_start: int | None = None,
    exposed_minutes: int = 0,
) -> ExcursionLot:
    """Put one lot under the excursion's hold ("do not use"), through the ledger.

    ``quantity_at_start``: vials when its exposure began (default: on hand now);
    ``exposed_minutes``: how long it was in the unit while out of range.
    """
    lot = lock_lot(lot)
    held, _created = ExcursionLot.objects.get_or_create(
        excursion=excursion,
        lot=lot,
        defaults={
            "quantity_at_start": lot.quantity_on_hand if quantity_at_start is None else quantity_at_start,
            "exposed_minutes": exposed_minutes,
        },
    )
    if not lot.is_quarantined:
        before = snapshot(lot, ("is_quarantined", "hold_reason"))
        lot.is_quarantined = True
        lot.hold_reason = f"Temperature excursion #{excursion.pk} in {excursion.storage_unit.name}"
        lot.save(update_fields=["is_quarantined", "hold_reason"])
        _move(lot, kind=MovementKind.QUARANTINE, quantity=0, actor=actor, note=lot.hold_reason)
        _audit(lot, AuditAction.LOT_QUARANTINE, actor, before, excursion=excursion.pk)
    return held


def _hold_for_open_excursion(lot: Lot, actor: User | None, *, hold_confirmed: bool) -> None:
    """Stock placed in a unit that is out of range right now is held with the rest of it, and
    only when the person moving it said so: otherwise the move is refused (and undone, being
    in the caller's transaction), so nobody quarantines a lot by surprise."""
    # Wait for any reading that is opening an excursion in this unit right now, then look.
    unit = StorageUnit.objects.select_for_update(of=("self",)).get(pk=lot.storage_unit_id)
    excursion = unit.excursions.ongoing().first()
    if excursion is None:
        return
    if not hold_confirmed:
        raise ValidationError(
            f"{unit.name} is out of range right now (excursion #{excursion.pk}, since "
            f"{timezone.localtime(excursion.started_at):%d %b %H:%M}): stock put in it is quarantined. "
            "Choose another unit, or confirm that the lot will be held."
        )
    excursion_hold_lot(excursion=excursion, lot=lot, actor=actor)


def _origin_for_receipt(
    product: Product, lot_number: str, unit: StorageUnit, expiry_date: dt.date
) -> Lot | None:
    """The row standing for this manufacturer lot when another delivery of it is on file (the
    new stock becomes one of its places); refuses a second row in the same unit and an expiry
    that contradicts the one on file (same lot, same expiry: a typo or the wrong box)."""
    rows = list(Lot.objects.filter(product=product, lot_number__iexact=lot_number).order_by("pk"))
    if not rows:
        return None
    here = next((row for row in rows if row.storage_unit_id == unit.pk), None)
    if here is not None:
        raise ValidationError(
            f"Lot {here.lot_number} of {product} is already in {unit.name}: more boxes of it are "
            "a count adjustment on that lot, not a second receipt."
        )
    root = next((row for row in rows if row.origin_id is None), rows[0])
    if root.expiry_date != expiry_date:
        raise ValidationError(
            f"Lot {root.lot_number} of {product} is on file with expiry {root.expiry_date:%d %b %Y}, "
            f"not {expiry_date:%d %b %Y}: check the box."
        )
    return root


@transaction.atomic
def lot_receive(
    *,
    actor: User | None,
    product: Product,
    lot_number: str,
    expiry_date: dt.date,
    quantity: int,
    storage_unit: StorageUnit,
    manufactured_on: dt.date | None = None,
    received_on: dt.date | None = None,
    gtin: str = "",
    serial: str = "",
    supplier_reference: str = "",
    arrival_temperature_c: Decimal | None = None,
    logger_ok: bool | None = None,
    packaging_intact: bool = True,
    certificate_concentration_per_ml: Decimal | None = None,
    record_gtin: bool = False,
    hold_confirmed: bool = False,
) -> Lot:
    """Book a delivered lot into a storage unit; doubtful condition on receipt quarantines it.

    ``record_gtin``: the scanned GTIN also goes on a product that has none yet (through
    ``product_save``, audited, in the same transaction), so the next scan finds the product.
    ``hold_confirmed``: the unit is out of range now and the lot is to be received (and held)
    anyway; without it such a receipt is refused.
    """
    _positive(quantity)
    lot_number = lot_number.strip()
    if not lot_number:
        raise ValidationError("The lot number is required.")
    if not product.is_active:
        raise ValidationError(f"{product} is no longer in the catalogue.")
    if not storage_unit.is_active:
        raise ValidationError(f"{storage_unit.name} is out of service.")
    if expiry_date < timezone.localdate():
        raise ValidationError(
            f"This lot expired on {expiry_date:%d %b %Y}; it cannot be received into stock."
        )
    if gtin and product.gtin and gtin.zfill(14) != product.gtin:
        raise ValidationError(
            f"The scanned GTIN {gtin} is not {product}'s ({product.gtin}): check the box and the product."
        )
    if record_gtin and gtin and not product.gtin:
        from products.services.catalogue import product_save

        product = Product.objects.select_for_update().get(pk=product.pk)
        if not product.gtin:
            product.gtin = gtin
            product_save(product=product, actor=actor)
    _check_storage_fits(product, storage_unit)
    origin = _origin_for_receipt(product, lot_number, storage_unit, expiry_date)
    lot = Lot(
        origin=origin,
        product=product,
        lot_number=lot_number,
        gtin=gtin.zfill(14) if gtin else product.gtin,
        serial=serial,
        expiry_date=expiry_date,
        manufactured_on=manufactured_on,
        received_on=received_on or timezone.localdate(),
        received_by=actor if getattr(actor, "is_authenticated", False) else None,
        quantity_received=quantity,
        quantity_on_hand=0,
        storage_unit=storage_unit,
        supplier_reference=supplier_reference,
        arrival_temperature_c=arrival_temperature_c,
        logger_ok=logger_ok,
        packaging_intact=packaging_intact,
        certificate_concentration_per_ml=certificate_concentration_per_ml,
    )
    lot.full_clean()
    lot.save()
    _move(lot, kind=MovementKind.RECEIVED, quantity=quantity, actor=actor, note=supplier_reference)
    audit_record(
        actor=actor,
        action=AuditAction.LOT_RECEIVE,
        obj=lot,
        location=storage_unit.location,
        after=snapshot(
            lot,
            ("product", "lot_number", "expiry_date", "quantity_received", "storage_unit", "packaging_intact"),
        ),
    )
    doubts = []
    if not packaging_intact:
        doubts.append("packaging damaged")
    if logger_ok is False:
        doubts.append("shipping logger not OK")
    if arrival_temperature_c is not None and not (product.min_c <= arrival_temperature_c <= product.max_c):
        doubts.append(f"arrived at {arrival_temperature_c} °C")
    if doubts:
        lot_quarantine(lot=lot, actor=actor, reason="On receipt: " + ", ".join(doubts))
        lot.refresh_from_db()
    _hold_for_open_excursion(lot, actor, hold_confirmed=hold_confirmed)
    return lot


@transaction.atomic
def stock_use(*, lot: Lot, quantity: int, actor: User | None, reference: str = "") -> StockMovement:
    """Take sealed vials for a treatment. Refuses unusable lots and over-draws."""
    _positive(quantity)
    lot = lock_lot(lot)
    _check_usable(lot, quantity)
    before = snapshot(lot, LOT_FIELDS)
    movement = _move(lot, kind=MovementKind.USED, quantity=-quantity, actor=actor, reference=reference)
    _audit(lot, AuditAction.STOCK_USE, actor, before, quantity=quantity, reference=reference)
    return movement


@transaction.atomic
def stock_waste(*, lot: Lot, quantity: int, reason: str, actor: User | None, note: str = "") -> StockMovement:
    """Write off sealed vials (broken, expired, spoiled…), whatever the lot's status."""
    _positive(quantity)
    if reason not in WasteReason.values:
        raise ValidationError("Choose why the stock is wasted.")
    lot = lock_lot(lot)
    before = snapshot(lot, LOT_FIELDS)
    movement = _move(lot, kind=MovementKind.WASTED, quantity=-quantity, actor=actor, reason=reason, note=note)
    _audit(lot, AuditAction.STOCK_WASTE, actor, before, quantity=quantity, reason=reason, note=note)
    return movement


@transaction.atomic
def stock_adjust(*, lot: Lot, counted: int, reason: str, actor: User | None) -> StockMovement:
    """Correct the quantity to what was counted on the shelf; the reason is required."""
    if not reason.strip():
        raise ValidationError("Say why the count differs (the reason is required).")
    if not isinstance(counted, int) or counted < 0:
        raise ValidationError("The counted quantity must be zero or more.")
    lot = lock_lot(lot)
    delta = counted - lot.quantity_on_hand
    if delta == 0:
        raise ValidationError(f"The count matches the {lot.quantity_on_hand} on hand; nothing to adjust.")
    before = snapshot(lot, LOT_FIELDS)
    movement = _move(lot, kind=MovementKind.ADJUSTED, quantity=delta, actor=actor, note=reason.strip())
    _audit(lot, AuditAction.STOCK_ADJUST, actor, before, counted=counted, reason=reason.strip())
    return movement


@transaction.atomic
def stock_transfer(
    *,
    lot: Lot,
    to_unit: StorageUnit,
    actor: User | None,
    quantity: int | None = None,
    note: str = "",
    hold_confirmed: bool = False,
) -> StockMovement:
    """Move vials of a lot to another storage unit, at this location or another.

    ``quantity`` None (or all of it) moves the lot's whole stock; fewer vials split it, so the
    lot then has stock in both places: the vials leave this row (``transfer_out``) and join the
    lot's row in the other unit (``transfer_in``), made on the first transfer there. Each end is
    audited at its own location. Into a unit out of range right now only with ``hold_confirmed``
    (the vials moved are then held there).
    """
    there_id = lot.family().filter(storage_unit=to_unit).values_list("pk", flat=True).first()
    # Both rows locked in pk order, so two opposite transfers cannot deadlock.
    there = lock_lot(there_id) if there_id is not None and there_id < lot.pk else None
    lot = lock_lot(lot)
    if there_id is not None and there is None:
        there = lock_lot(there_id)
    if to_unit.pk == lot.storage_unit_id:
        raise ValidationError(f"Lot {lot.lot_number} is already in {to_unit.name}.")
    if not to_unit.is_active:
        raise ValidationError(f"{to_unit.name} is out of service.")
    if lot.quantity_on_hand <= 0:
        raise ValidationError(f"Lot {lot.lot_number} has no vials left to move.")
    if quantity is not None:
        _positive(quantity)
        if quantity > lot.quantity_on_hand:
            raise ValidationError(
                f"Lot {lot.lot_number} has {lot.quantity_on_hand} vial(s) in {lot.storage_unit.name}; "
                f"{quantity} cannot be moved."
            )
    _check_storage_fits(lot.product, to_unit)
    moving = lot.quantity_on_hand if quantity is None else quantity
    if there is None and moving == lot.quantity_on_hand:
        return _transfer_whole(lot, to_unit, actor, note=note, hold_confirmed=hold_confirmed)
    if lot.is_recalled:
        raise ValidationError(f"Lot {lot.lot_number} has been recalled; it cannot be sent anywhere.")
    if lot.is_quarantined:
        raise ValidationError(
            f"Lot {lot.lot_number} is quarantined ({lot.hold_reason}): move all of it together, "
            "or release it first, so held vials never mix with usable ones."
        )
    return _transfer_part(lot, there, to_unit, moving, actor, note=note, hold_confirmed=hold_confirmed)


def _transfer_whole(
    lot: Lot, to_unit: StorageUnit, actor: User | None, *, note: str, hold_confirmed: bool
) -> StockMovement:
    """The lot's row changes place with all its vials (and any hold it is under)."""
    before = snapshot(lot, LOT_FIELDS)
    from_unit = lot.storage_unit
    lot.storage_unit = to_unit
    lot.save(update_fields=["storage_unit"])
    movement = _move(
        lot,
        kind=MovementKind.TRANSFER,
        quantity=0,
        actor=actor,
        note=note,
        from_unit=from_unit,
        to_unit=to_unit,
    )
    _audit(lot, AuditAction.STOCK_TRANSFER, actor, before, from_unit=from_unit.pk, note=note)
    if from_unit.location_id != to_unit.location_id:
        audit_record(
            actor=actor,
            action=AuditAction.STOCK_TRANSFER_IN,
            obj=lot,
            location=from_unit.location,
            before=before,
        )
    _hold_for_open_excursion(lot, actor, hold_confirmed=hold_confirmed)
    return movement


def _transfer_part(
    lot: Lot,
    there: Lot | None,
    to_unit: StorageUnit,
    quantity: int,
    actor: User | None,
    *,
    note: str,
    hold_confirmed: bool,
) -> StockMovement:
    """``quantity`` vials leave ``lot`` for its row in ``to_unit`` (``there``, locked, or a new
    one)."""
    if there is None:
        there = _new_place(lot, to_unit, quantity)
    elif there.is_recalled:
        raise ValidationError(f"Lot {there.lot_number} in {to_unit.name} has been recalled.")
    from_unit = lot.storage_unit
    sent_before = snapshot(lot, LOT_FIELDS)
    there_before = snapshot(there, LOT_FIELDS)
    movement = _move(
        lot,
        kind=MovementKind.TRANSFER_OUT,
        quantity=-quantity,
        actor=actor,
        note=note,
        from_unit=from_unit,
        to_unit=to_unit,
    )
    _move(
        there,
        kind=MovementKind.TRANSFER_IN,
        quantity=quantity,
        actor=actor,
        note=note,
        from_unit=from_unit,
        to_unit=to_unit,
    )
    # Audited at both ends, each at its own location, naming the other end.
    _audit(lot, AuditAction.STOCK_TRANSFER, actor, sent_before, to_unit=to_unit.pk, vials=quantity, note=note)
    audit_record(
        actor=actor,
        action=AuditAction.STOCK_TRANSFER_IN,
        obj=there,
        location=to_unit.location,
        before=there_before,
        after={**snapshot(there, LOT_FIELDS), "from_unit": from_unit.pk, "vials": quantity, "note": note},
    )
    _hold_for_open_excursion(there, actor, hold_confirmed=hold_confirmed)
    return movement


def _new_place(lot: Lot, unit: StorageUnit, quantity: int) -> Lot:
    """The lot's row in a unit it has not been in: the same manufacturer lot (its number,
    expiry and receipt), pointing at the row that stands for it; its vials arrive through the
    ``transfer_in`` that follows."""
    place = Lot(
        origin_id=lot.record_lot_id,
        product=lot.product,
        lot_number=lot.lot_number,
        gtin=lot.gtin,
        serial=lot.serial,
        expiry_date=lot.expiry_date,
        manufactured_on=lot.manufactured_on,
        received_on=lot.received_on,
        received_by=lot.received_by,
        quantity_received=quantity,
        quantity_on_hand=0,
        storage_unit=unit,
        supplier_reference=lot.supplier_reference,
        arrival_temperature_c=lot.arrival_temperature_c,
        logger_ok=lot.logger_ok,
        packaging_intact=lot.packaging_intact,
        certificate_concentration_per_ml=lot.certificate_concentration_per_ml,
    )
    place.full_clean()
    try:
        with transaction.atomic():
            place.save()
    except IntegrityError:
        # Another transfer of this lot into the same unit made the row a moment ago.
        raise ValidationError(
            f"Lot {lot.lot_number} was moved into {unit.name} by someone else just now; try again."
        ) from None
    return lock_lot(place)


@transaction.atomic
def lot_quarantine(*, lot: Lot, actor: User | None, reason: str) -> StockMovement:
    """Set a lot apart ("do not use") with a reason."""
    if not reason.strip():
        raise ValidationError("Say why the lot is quarantined.")
    lot = lock_lot(lot)
    if lot.is_quarantined:
        raise ValidationError(f"Lot {lot.lot_number} is already quarantined.")
    before = snapshot(lot, LOT_FIELDS)
    lot.is_quarantined = True
    lot.hold_reason = reason.strip()[:200]
    lot.save(update_fields=["is_quarantined", "hold_reason"])
    movement = _move(lot, kind=MovementKind.QUARANTINE, quantity=0, actor=actor, note=reason.strip())
    _audit(lot, AuditAction.LOT_QUARANTINE, actor, before)
    return movement


@transaction.atomic
def lot_release(*, lot: Lot, actor: User | None, reason: str, excursion=None) -> StockMovement:
    """Lift a quarantine. A lot held by an open excursion is released only by its review."""
    if not reason.strip():
        raise ValidationError("Say why the lot may be used again.")
    lot = lock_lot(lot)
    if not lot.is_quarantined:
        raise ValidationError(f"Lot {lot.lot_number} is not quarantined.")
    if lot.is_recalled:
        raise ValidationError(f"Lot {lot.lot_number} has been recalled; it cannot be released.")
    held = lot.excursions.filter(excursion__closed_at__isnull=True)
    if excursion is not None:
        held = held.exclude(excursion=excursion)
    blocking = held.select_related("excursion").first()
    if blocking is not None:
        raise ValidationError(
            f"Lot {lot.lot_number} is held by excursion #{blocking.excursion_id}; "
            "it is released by that excursion's review."
        )
    before = snapshot(lot, LOT_FIELDS)
    lot.is_quarantined = False
    lot.hold_reason = ""
    lot.save(update_fields=["is_quarantined", "hold_reason"])
    movement = _move(lot, kind=MovementKind.RELEASE, quantity=0, actor=actor, note=reason.strip())
    _audit(lot, AuditAction.LOT_RELEASE, actor, before)
    return movement


@transaction.atomic
def lot_recall(*, lot: Lot, actor: User | None, reason: str) -> StockMovement:
    """Mark a lot recalled by its manufacturer or a regulator, in every place that holds it:
    never usable again."""
    if not reason.strip():
        raise ValidationError("Give the recall notice or reason.")
    lot = lock_lot(lot)
    if lot.is_recalled:
        raise ValidationError(f"Lot {lot.lot_number} is already recalled.")
    # A recall is of the manufacturer's lot: every place holding it, wherever it is.
    movement = _recall_one(lot, actor, reason)
    for pk in (
        lot.family().exclude(pk=lot.pk).filter(is_recalled=False).order_by("pk").values_list("pk", flat=True)
    ):
        _recall_one(lock_lot(pk), actor, reason)
    return movement


def _recall_one(lot: Lot, actor: User | None, reason: str) -> StockMovement:
    before = snapshot(lot, LOT_FIELDS)
    lot.is_recalled = True
    lot.hold_reason = reason.strip()[:200]
    lot.save(update_fields=["is_recalled", "hold_reason"])
    movement = _move(lot, kind=MovementKind.RECALL, quantity=0, actor=actor, note=reason.strip())
    _audit(lot, AuditAction.LOT_RECALL, actor, before)
    return movement


@transaction.atomic
def vial_open(*, lot: Lot, actor: User, opened_at: dt.datetime | None = None) -> OpenedVial:
    """Reconstitute, thaw or open one vial: it leaves sealed stock with a beyond-use time."""
    lot = lock_lot(lot)
    _check_usable(lot, 1)
    opened_at = opened_at or timezone.now()
    if opened_at > timezone.now() + dt.timedelta(minutes=5):
        raise ValidationError("A vial cannot be opened in the future.")
    product = lot.product
    before = snapshot(lot, LOT_FIELDS)
    movement = _move(lot, kind=MovementKind.OPENED, quantity=-1, actor=actor, note=product.open_method)
    vial = OpenedVial.objects.create(
        lot=lot,
        method=product.open_method,
        opened_at=opened_at,
        opened_by=actor,
        beyond_use_at=_beyond_use(lot, opened_at),
        volume_ml=product.opened_volume_ml,
        movement=movement,
    )
    _audit(
        lot, AuditAction.VIAL_OPEN, actor, before, vial=vial.pk, beyond_use_at=vial.beyond_use_at.isoformat()
    )
    return vial


def _beyond_use(lot: Lot, opened_at: dt.datetime) -> dt.datetime:
    """The product's window after opening, but never past the end of the lot's expiry day."""
    window_end = opened_at + dt.timedelta(hours=lot.product.beyond_use_hours)
    end_of_expiry = dt.datetime.combine(
        lot.expiry_date + dt.timedelta(days=1), dt.time.min, timezone.get_current_timezone()
    )
    return min(window_end, end_of_expiry)


def _lock_vial(vial: OpenedVial) -> OpenedVial:
    return (
        OpenedVial.objects.select_for_update(of=("self",))
        .select_related("lot__product", "lot__storage_unit__location")
        .get(pk=vial.pk)
    )


@transaction.atomic
def vial_draw(*, vial: OpenedVial, volume_ml: Decimal, actor: User, reference: str = "") -> VialDraw:
    """Draw a volume for one patient from an opened vial, inside its window."""
    volume_ml = Decimal(volume_ml)
    if volume_ml <= 0:
        raise ValidationError("The volume drawn must be above zero.")
    vial = _lock_vial(vial)
    if vial.discarded_at:
        raise ValidationError("This vial has been discarded.")
    if vial.is_beyond_use:
        raise ValidationError(
            f"This vial passed its beyond-use time ({timezone.localtime(vial.beyond_use_at):%d %b %H:%M}); "
            "it can only be discarded."
        )
    if volume_ml > vial.volume_left_ml:
        raise ValidationError(f"Only {vial.volume_left_ml} mL is left in this vial.")
    _check_open_vial_lot(vial.lot)
    before = {"volume_drawn_ml": str(vial.volume_drawn_ml)}
    vial.volume_drawn_ml += volume_ml
    vial.save(update_fields=["volume_drawn_ml"])
    draw = VialDraw.objects.create(vial=vial, volume_ml=volume_ml, reference=reference[:80], drawn_by=actor)
    audit_record(
        actor=actor,
        action=AuditAction.VIAL_DRAW,
        obj=vial,
        location=vial.lot.storage_unit.location,
        before=before,
        after={"volume_drawn_ml": str(vial.volume_drawn_ml), "reference": reference},
    )
    return draw


@transaction.atomic
def vial_discard(*, vial: OpenedVial, actor: User | None, reason: str) -> OpenedVial:
    """Throw an opened vial away (beyond use, drawn but unused, broken…)."""
    if reason not in WasteReason.values:
        raise ValidationError("Choose why the vial is discarded.")
    vial = _lock_vial(vial)
    if vial.discarded_at:
        raise ValidationError("This vial has already been discarded.")
    vial.discarded_at = timezone.now()
    vial.discarded_by = actor
    vial.discard_reason = reason
    vial.save(update_fields=["discarded_at", "discarded_by", "discard_reason"])
    audit_record(
        actor=actor,
        action=AuditAction.VIAL_DISCARD,
        obj=vial,
        location=vial.lot.storage_unit.location,
        after={"reason": reason, "volume_left_ml": str(vial.volume_left_ml)},
    )
    return vial
