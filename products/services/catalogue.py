"""Catalogue services: products and storage units, created and edited by managers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from clinic.audit import AuditAction, audit_record, snapshot
from products.models import Product, StorageUnit

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# The fields a manager edits; the forms use these lists too, so every edited field is in
# the audit row's before/after.
PRODUCT_FIELDS = (
    "name",
    "manufacturer",
    "supplier",
    "gtin",
    "source",
    "format",
    "storage_min_c",
    "storage_max_c",
    "vial_volume_ml",
    "concentration_per_ml",
    "diluent",
    "diluent_volume_ml",
    "use_within_hours",
    "route_topical",
    "route_intradermal",
    "route_scalp",
    "areas",
    "periorbital_suitable",
    "unit_cost",
    "is_active",
)
UNIT_FIELDS = (
    "location",
    "name",
    "kind",
    "min_c",
    "max_c",
    "logger_id",
    "logger_clock",
    "logger_utc_offset_minutes",
    "logger_interval_minutes",
    "calibration_expires_on",
    "is_active",
    "warm_after_minutes",
    "warm_cumulative_minutes",
    "cold_after_minutes",
    "cold_cumulative_minutes",
)


@transaction.atomic
def product_save(*, product: Product, actor: User | None) -> Product:
    """Create or update a catalogue entry (the form has set its fields)."""
    creating = product.pk is None
    before = None if creating else snapshot(Product.objects.get(pk=product.pk), PRODUCT_FIELDS)
    product.full_clean()
    product.save()
    audit_record(
        actor=actor,
        action=AuditAction.PRODUCT_CREATE if creating else AuditAction.PRODUCT_UPDATE,
        obj=product,
        before=before,
        after=snapshot(product, PRODUCT_FIELDS),
    )
    return product


@transaction.atomic
def storage_unit_save(*, unit: StorageUnit, actor: User | None) -> StorageUnit:
    """Create or update a storage unit (its range defaults from its kind)."""
    creating = unit.pk is None
    before = None if creating else snapshot(StorageUnit.objects.get(pk=unit.pk), UNIT_FIELDS)
    unit.full_clean()
    unit.save()
    audit_record(
        actor=actor,
        action=AuditAction.STORAGE_UNIT_CREATE if creating else AuditAction.STORAGE_UNIT_UPDATE,
        obj=unit,
        before=before,
        after=snapshot(unit, UNIT_FIELDS),
    )
    return unit
