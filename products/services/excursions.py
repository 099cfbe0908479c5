"""Excursions: opened or extended by readings outside a unit's range, reviewed and closed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from clinic.audit import AuditAction, audit_record, snapshot
from clinic.notifications import NotificationKind, notification_queue
from products.models import Excursion, ExcursionAddendum, Lot, StorageUnit, TemperatureReading
from products.models.coldchain import Decision
from products.models.stock import WasteReason
from products.services.stock import excursion_hold_lot

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# --- Excursions ---------------------------------------------------------------------------


def _out_of_range(unit: StorageUnit) -> Q:
    lo, hi = unit.min_c, unit.max_c
    return Q(temperature_c__lt=lo) | Q(temperature_c__gt=hi) | Q(min_c__lt=lo) | Q(max_c__gt=hi)


def apply_readings(*, unit: StorageUnit, readings, actor: User | None) -> Excursion | None:
    """Open or extend the unit's excursion from new readings outside its range."""
    # The unit's row lock serialises everything that may open an excursion or add stock to
    # the unit (see stock._hold_for_open_excursion), so nothing slips past a quarantine.
    unit = StorageUnit.objects.select_for_update(of=("self",)).select_related("location").get(pk=unit.pk)
    out = list(
        readings.filter(_out_of_range(unit))
        .order_by("taken_at")
        .values_list("taken_at", "temperature_c", "min_c", "max_c")
    )
    excursion = unit.excursions.open().first()
    if not out:
        if excursion is not None:
            _refresh_back_in_range(excursion)
        return excursion
    opened = excursion is None
    lows = [min(v for v in (t, lo) if v is not None) for _, t, lo, _ in out]
    highs = [max(v for v in (t, hi) if v is not None) for _, t, _, hi in out]
    before = None
    if excursion is None:
        excursion = Excursion.objects.create(
            storage_unit=unit,
            started_at=out[0][0],
            last_out_at=out[-1][0],
            lowest_c=min(lows),
            highest_c=max(highs),
        )
    else:
        before = snapshot(excursion, ("started_at", "last_out_at", "lowest_c", "highest_c"))
        excursion.started_at = min(excursion.started_at, out[0][0])
        excursion.last_out_at = max(excursion.last_out_at, out[-1][0])
        excursion.lowest_c = min(excursion.lowest_c, *lows)
        excursion.highest_c = max(excursion.highest_c, *highs)
        excursion.save(update_fields=["started_at", "last_out_at", "lowest_c", "highest_c"])
    _refresh_back_in_range(excursion)
    after = snapshot(excursion, ("started_at", "last_out_at", "lowest_c", "highest_c", "back_in_range_at"))
    if opened:
        audit_record(
            actor=actor, action=AuditAction.EXCURSION_OPEN, obj=excursion, location=unit.location, after=after
        )
        _alert_managers(excursion)
    else:
        audit_record(
            actor=actor,
            action=AuditAction.EXCURSION_EXTEND,
            obj=excursion,
            location=unit.location,
            before=before,
            after=after,
        )
    for lot in Lot.objects.filter(storage_unit=unit).in_stock().exclude(excursions__excursion=excursion):
        excursion_hold_lot(excursion=excursion, lot=lot, actor=actor)
    return excursion


def _refresh_back_in_range(excursion: Excursion) -> None:
    """The first in-range reading after the last one outside the range ends the spell."""
    unit = excursion.storage_unit
    first_back = (
        TemperatureReading.objects.filter(storage_unit=unit, taken_at__gt=excursion.last_out_at)
        .exclude(_out_of_range(unit))
        .order_by("taken_at")
        .values_list("taken_at", flat=True)
        .first()
    )
    if first_back != excursion.back_in_range_at:
        excursion.back_in_range_at = first_back
        excursion.save(update_fields=["back_in_range_at"])


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
    if excursion.back_in_range_at is None:
        problems.append("The unit has not read inside its range since; record a reading first.")
    for name, label in (
        ("what_happened", "what happened"),
        ("found_by", "who found it"),
        ("prevention", "the action taken to prevent it again"),
    ):
        if not getattr(excursion, name):
            problems.append(f"Record {label}.")
    held = list(excursion.lots.select_related("lot"))
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
