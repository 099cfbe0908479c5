"""Reorder levels: a minimum and a reorder quantity per product and location.

The rules, each written once here:

- **Stock** at a location is its *usable* sealed vials (``Lot.objects.usable()`` summed per
  product and location by ``stock_by_product("storage_unit__location")``): expired,
  quarantined, recalled and uncleared vials cannot be given, so they do not count.
- **Low** means usable on hand is *below* the minimum (``usable < minimum``); at the minimum
  is not low. A minimum of 0 never alerts.
- **Use** is the vials that left sealed stock for a patient in the last ``USE_WINDOW_DAYS``
  (90) days: ledger rows of kind ``used`` or ``opened`` written at the location (wasted
  vials and count adjustments are not use).
- **Suggested order**: the largest of the reorder quantity, what brings usable stock back
  up to the minimum, and the last 90 days' use less usable on hand (enough for another 90
  days like the last), in whole vials (``suggested_order_quantity``).
"""

from __future__ import annotations

import datetime as dt
import math

from django.conf import settings
from django.db import models
from django.db.models import F, IntegerField, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from clinic.scoping import LocationScopedQuerySet
from products.models.stock import Lot, MovementKind, StockMovement

USE_WINDOW_DAYS = 90
# Ledger kinds that count as use: a vial given whole, or opened to draw doses from.
USE_KINDS = (MovementKind.USED, MovementKind.OPENED)


def suggested_order_quantity(*, minimum: int, reorder_quantity: int, usable: int, used: int) -> int:
    """THE rule for the suggested order: the largest of the reorder quantity, what brings usable
    stock back to the minimum, and the last 90 days' use less usable on hand; rounded up to
    whole vials."""
    return math.ceil(max(reorder_quantity, minimum - usable, used - usable))


class ReorderLevelQuerySet(LocationScopedQuerySet):
    location_lookup = "location"

    def with_stock(self, *, now: dt.datetime | None = None) -> ReorderLevelQuerySet:
        """Annotate ``usable_on_hand`` (usable sealed vials of the product at the location)
        and ``used_recently`` (vials used or opened there in the last 90 days). Two
        correlated subqueries: still one query for any number of levels."""
        since = (now or timezone.now()) - dt.timedelta(days=USE_WINDOW_DAYS)
        stock = (
            Lot.objects.stock_by_product("storage_unit__location")
            .filter(product=OuterRef("product"), storage_unit__location=OuterRef("location"))
            .values("usable")[:1]
        )
        use = (
            StockMovement.objects.filter(
                lot__product=OuterRef("product"),
                # Where the vial was used (the ledger row's unit), not where its lot is now.
                storage_unit__location=OuterRef("location"),
                kind__in=USE_KINDS,
                created_at__gte=since,
            )
            .order_by()
            .values("lot__product")
            .annotate(n=Sum("quantity"))
            .values("n")[:1]
        )
        return self.annotate(
            usable_on_hand=Coalesce(Subquery(stock, output_field=IntegerField()), 0),
            # Use rows are negative (vials taken): turn them into a count of vials used.
            used_recently=-Coalesce(Subquery(use, output_field=IntegerField()), 0),
        )

    def low(self, *, now: dt.datetime | None = None) -> ReorderLevelQuerySet:
        """THE rule for low stock: usable on hand below the minimum (at it is not low)."""
        return self.with_stock(now=now).filter(usable_on_hand__lt=F("minimum"))


class ReorderLevel(models.Model):
    """When to reorder a product at a location: below ``minimum`` usable vials, order at least
    ``reorder_quantity``.

    ``low_since`` remembers the current crossing (set by the low-stock sweep when stock is
    first seen below the minimum, cleared when it is seen back at or above it), so managers
    hear of each crossing once, not every day while stock stays low.
    """

    product = models.ForeignKey("products.Product", on_delete=models.CASCADE, related_name="reorder_levels")
    location = models.ForeignKey("clinic.Location", on_delete=models.CASCADE, related_name="reorder_levels")
    minimum = models.PositiveIntegerField(help_text="Usable sealed vials below which stock is low.")
    reorder_quantity = models.PositiveIntegerField(help_text="The smallest order to suggest, in vials.")
    low_since = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = ReorderLevelQuerySet.as_manager()

    class Meta:
        ordering = ["product__name", "location__name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "location"], name="reorder_level_unique_per_location"),
            models.CheckConstraint(condition=Q(minimum__gte=0), name="reorder_minimum_not_negative"),
            models.CheckConstraint(condition=Q(reorder_quantity__gt=0), name="reorder_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.product} at {self.location}: min {self.minimum}, order {self.reorder_quantity}"

    @property
    def is_low(self) -> bool:
        """Needs ``with_stock()``: the Python twin of ``low()``."""
        return self.usable_on_hand < self.minimum  # type: ignore[attr-defined]

    @property
    def suggested_order(self) -> int:
        """Needs ``with_stock()``."""
        return suggested_order_quantity(
            minimum=self.minimum,
            reorder_quantity=self.reorder_quantity,
            usable=self.usable_on_hand,  # type: ignore[attr-defined]
            used=self.used_recently,  # type: ignore[attr-defined]
        )
