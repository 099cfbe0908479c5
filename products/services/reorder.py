"""Reorder-level services: managers set and remove the minimum and reorder quantity of a
product at a location (the low-stock sweep in ``products.sweeps`` reads them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction

from clinic.audit import AuditAction, audit_record, snapshot
from clinic.models import Location
from clinic.scoping import location_ids_for
from products.models import Product, ReorderLevel

if TYPE_CHECKING:
    from django.contrib.auth.models import User

LEVEL_FIELDS = ("product", "location", "minimum", "reorder_quantity")
# A sanity bound: a typo of 10 000 vials is refused with a message rather than stored.
MAX_VIALS = 10_000


def _check_works_at(location: Location, actor: User | None) -> None:
    # Views offer only the actor's locations; the service refuses the rest all the same.
    if actor is not None and not location_ids_for(actor).filter(id=location.pk).exists():
        raise ValidationError(f"You do not work at {location}, so you cannot change its reorder levels.")


@transaction.atomic
def reorder_level_set(
    *,
    product: Product,
    location: Location,
    minimum: int,
    reorder_quantity: int,
    actor: User | None,
) -> ReorderLevel:
    """Create or change the reorder level of ``product`` at ``location`` (one per pair).

    The crossing state (``low_since``) is kept: the next low-stock sweep decides, against
    the new minimum, whether stock is low, and alerts only on a new crossing.
    """
    if not product.is_active:
        raise ValidationError(
            f"{product} is no longer in the catalogue: reactivate it to set a reorder level."
        )
    if not location.is_active:
        raise ValidationError(f"{location} is closed: reorder levels are set for open locations only.")
    _check_works_at(location, actor)
    if minimum is None or minimum < 0:
        raise ValidationError("The minimum must be 0 or more vials (0 means never alert).")
    if reorder_quantity is None or reorder_quantity < 1:
        raise ValidationError("The reorder quantity must be at least 1 vial.")
    if minimum > MAX_VIALS or reorder_quantity > MAX_VIALS:
        raise ValidationError(f"Levels are at most {MAX_VIALS} vials: check the number.")
    level = ReorderLevel.objects.select_for_update().filter(product=product, location=location).first()
    before = snapshot(level, LEVEL_FIELDS) if level else None
    if level is None:
        level = ReorderLevel(product=product, location=location)
    level.minimum = minimum
    level.reorder_quantity = reorder_quantity
    level.updated_by = actor if getattr(actor, "is_authenticated", False) else None
    level.full_clean()
    level.save()
    audit_record(
        actor=actor,
        action=AuditAction.REORDER_LEVEL_SET,
        obj=level,
        before=before,
        after=snapshot(level, LEVEL_FIELDS),
    )
    return level


@transaction.atomic
def reorder_level_delete(*, level: ReorderLevel, actor: User | None) -> None:
    """Remove a reorder level: the product is no longer watched at that location."""
    _check_works_at(level.location, actor)
    before = snapshot(level, LEVEL_FIELDS)
    audit_record(
        actor=actor,
        action=AuditAction.REORDER_LEVEL_DELETE,
        obj=level,
        location=level.location,
        before=before,
    )
    level.delete()
